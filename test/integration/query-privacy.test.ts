// Query text and document text stay out of logs and metrics: a realistic sequence (documents
// ingested, searches in every mode with highlights and facets, a prefix search, similar documents,
// searches that degrade and one that fails, a rejected one, a search over MCP) runs with every log
// level on, and no console line, no Analytics Engine data point and no KV key holds the planted
// query words or the planted document sentence.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { flushLocalMetrics } from "../../src/observe/local-dataset";
import worker from "../../workers/index";
import { HeldQueue } from "../fakes/held-queue";
import { adminKey, freshNamespace, TEST_ORIGIN, waitFor } from "../support";
import { deliverMessage } from "../support/queue";

/** Words no document or other test holds: any log line or point with them came from the query. */
const QUERY = "quokkaplanted lanternfish";
const QUERY_WORDS = ["quokkaplanted", "lanternfish"];
/** A sentence of one document: document text is no more loggable than queries are. */
const SENTENCE = "The lanternfish glow beneath the vermilionplanted tide";
const DOCS = [
  {
    id: "deep-sea",
    title: "Deep sea",
    text: `${SENTENCE}. Deep sea fish make their own light to hunt and hide.`,
    metadata: { category: "biology", year: 2021 },
  },
  {
    id: "reef",
    title: "Reefs",
    text: "Coral reefs shelter a quarter of all marine species in shallow tropical water.",
    metadata: { category: "biology", year: 2019 },
  },
];

// Every log level on, for the Worker's fetch and queue handlers; what a write queues is held and
// delivered here, so the ingest of the documents logs at every level too.
const held = new HeldQueue();
const loud = { ...env, LOG_LEVEL: "debug", INGEST_QUEUE: held } as unknown as Env;

/** The Worker's answer to a POST of `body` (JSON), with the admin key and every log level on. */
async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${TEST_ORIGIN}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { authorization: `Bearer ${adminKey()}`, "content-type": "application/json", ...headers },
    }),
    loud,
    ctx,
  );
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  return {
    status: res.status,
    body: text.startsWith("{") ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/** Every console line written while `work` runs. */
async function captureConsole(work: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const capture = (...args: unknown[]) => {
    lines.push(args.map((a) => (typeof a === "string" ? a : (JSON.stringify(a) ?? String(a)))).join(" "));
  };
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation(capture);
  }
  await work();
  return lines;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("query and document text stay out of logs and metrics", () => {
  it("in no console line, Analytics Engine point or KV key of a realistic sequence", async () => {
    const ns = freshNamespace("privacy");
    await flushLocalMetrics(env.DB);
    const before =
      (await env.DB.prepare("SELECT MAX(id) AS id FROM local_metrics").first<{ id: number | null }>())?.id ??
      0;

    const lines = await captureConsole(async () => {
      expect((await post(`/v1/namespaces/${ns}/documents`, { documents: DOCS })).status).toBe(202);
      for (let message = held.held.shift(); message; message = held.held.shift()) {
        const result = await deliverMessage(message, { env: loud });
        expect(result.explicitAcks).toHaveLength(1);
      }
      await waitFor(
        "both documents indexed and searchable",
        async () => {
          const res = await post(`/v1/namespaces/${ns}/search`, {
            query: "deep sea coral reefs",
            mode: "vector",
            cache: "bypass",
          });
          // Vector writes apply after a document reads as indexed: both must be found.
          return (res.body.results as unknown[] | undefined)?.length === 2;
        },
        60_000,
        100,
      );

      const search = `/v1/namespaces/${ns}/search`;
      for (const mode of ["hybrid", "vector", "keyword"]) {
        // Twice each: the second is answered from the result cache.
        for (let i = 0; i < 2; i++) {
          const res = await post(search, { query: QUERY, mode, highlight: true, facets: ["category"] });
          expect(res.status).toBe(200);
        }
      }
      expect((await post(search, { query: "quokkaplan", mode: "keyword", prefix: true })).status).toBe(200);
      expect((await post(`/v1/namespaces/${ns}/documents/deep-sea/similar`, { topK: 3 })).status).toBe(200);
      // Degraded: Workers AI fails, then Vectorize; failed: Vectorize and the keyword index.
      const faults = (f: Record<string, unknown>) => ({
        "x-edgesearch-faults": JSON.stringify({ scope: `privacy-${ns}`, ...f }),
      });
      const degraded = await post(
        search,
        { query: QUERY, cache: "bypass" },
        faults({ "workers-ai": { error: 1 } }),
      );
      expect(degraded.status).toBe(200);
      const vectorDown = await post(
        search,
        { query: QUERY, cache: "bypass" },
        faults({ vectorize: { error: 1 } }),
      );
      expect(vectorDown.status).toBe(200);
      const failed = await post(
        search,
        { query: QUERY, cache: "bypass" },
        faults({ vectorize: { error: 1 }, d1: { error: 1, methods: ["keywordSearch"] } }),
      );
      expect(failed.status).toBeGreaterThanOrEqual(500);
      // Rejected: a filter on a field that is not filterable.
      const rejected = await post(search, { query: QUERY, filter: { [QUERY_WORDS[0] ?? ""]: "x" } });
      expect(rejected.status).toBe(400);

      const transport = new StreamableHTTPClientTransport(new URL(`${TEST_ORIGIN}/mcp`), {
        fetch: async (url, init) => {
          const ctx = createExecutionContext();
          const res = await worker.fetch(
            new Request(url, init) as Request<unknown, IncomingRequestCfProperties>,
            loud,
            ctx,
          );
          await waitOnExecutionContext(ctx);
          return res;
        },
        requestInit: { headers: { authorization: `Bearer ${adminKey()}` } },
      });
      const client = new Client(
        { name: "privacy-test", version: "1.0.0" },
        {
          jsonSchemaValidator: {
            getValidator: () => (input) => ({ valid: true, data: input as never, errorMessage: undefined }),
          },
        },
      );
      await client.connect(transport);
      const answer = (await client.callTool({
        name: "search",
        arguments: { namespace: ns, query: QUERY },
      })) as {
        isError?: boolean;
      };
      expect(answer.isError).toBeFalsy();
      await client.close();
    });

    await flushLocalMetrics(env.DB);
    const { results: points } = await env.DB.prepare("SELECT * FROM local_metrics WHERE id > ?1")
      .bind(before)
      .all();
    const searches = points.filter((p) => p.blob1 === "search" && p.index1 === ns);
    // Every search above wrote its point (waits, modes twice, prefix, similar, faults, MCP).
    expect(searches.length).toBeGreaterThanOrEqual(12);
    // The ingest and the searches logged (at debug level: one line per search at least).
    expect(lines.some((l) => l.includes('"ingest.indexed"'))).toBe(true);
    expect(lines.length).toBeGreaterThan(searches.length);

    const { keys } = await env.KV.list();
    const stored = [...lines, ...points.map((p) => JSON.stringify(p)), ...keys.map((k) => k.name)];
    const planted = [...QUERY_WORDS, "vermilionplanted", SENTENCE];
    for (const text of stored) {
      for (const word of planted) expect(text.toLowerCase(), text).not.toContain(word.toLowerCase());
    }
  });
});
