// The typed client (client/) against the real Worker: problem+json answers become ApiErrors with
// their fields, batch uploads go through the queue and waitUntilIndexed sees them indexed, and the
// search pages iterator gives topK 100's ranking once each, in order. Retries and timeouts:
// test/unit/client-transport.test.ts.
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ApiError,
  type BatchDocument,
  createClient,
  MAX_BATCH_DOCUMENTS,
  type SearchResult,
  uploadDocuments,
  waitUntilIndexed,
} from "../../client/src/index.ts";
import { MAX_BATCH_DOCUMENTS as SERVICE_MAX_BATCH_DOCUMENTS } from "../../workers/api/schemas";
import { adminKey, freshNamespace, TEST_ORIGIN } from "../support";
import { rejection } from "../support/rejection.ts";

/** A client whose fetch is the Worker's own fetch handler. */
function workerClient(options: Parameters<typeof createClient>[0] = {}) {
  return createClient({
    baseUrl: TEST_ORIGIN,
    apiKey: adminKey(),
    fetch: (input, init) => exports.default.fetch(new Request(input, init)),
    ...options,
  });
}

describe("client errors", () => {
  it("turns a 400 problem into an ApiError with its type, title, detail and extra fields", async () => {
    const client = workerClient();
    const err = await rejection(client.search(freshNamespace("ce"), { query: "x", topK: 1000 }));
    expect(err).toBeInstanceOf(ApiError);
    const problem = err as ApiError;
    expect(problem.status).toBe(400);
    expect(problem.retryable).toBe(false);
    expect(problem.code).toBe("validation_failed");
    expect(problem.title).toEqual(expect.any(String));
    expect(problem.detail).toMatch(/topK/);
    expect(problem.requestId).toEqual(expect.any(String));
    expect(problem.extra).toMatchObject({ field: expect.stringContaining("topK") });
    expect(problem.attempts).toBe(1);
  });

  it("turns a 404 problem into an ApiError, without retrying it", async () => {
    const client = workerClient();
    const err = await rejection(client.getDocument(freshNamespace("ce"), "missing"));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);
    expect((err as ApiError).code).toBe("not_found");
    expect((err as ApiError).attempts).toBe(1);
  });

  it("reaches every operation by name, with typed parameters", async () => {
    const client = workerClient();
    const ns = freshNamespace("ce");
    const quotas = await client.call("GET /v1/namespaces/{ns}/quotas", { path: { ns } });
    expect(quotas.namespace).toBe(ns);
    const keys = await client.call("GET /v1/admin/keys");
    expect(Array.isArray(keys.keys)).toBe(true);
  });
});

/** 130 documents that all say "comet", with different counts of it and other words. */
function comets(): BatchDocument[] {
  const words = ["orbit", "tail", "ice", "dust", "nucleus", "coma"];
  return Array.from({ length: 130 }, (_, i) => ({
    id: `c${String(i).padStart(3, "0")}`,
    title: `Comet ${i}`,
    text: `${"comet ".repeat(1 + (i % 5))}${words.filter((_, w) => (i >> w) % 2 === 1).join(" ")} record ${i}.`,
  }));
}

describe("client helpers against the Worker", () => {
  const ns = freshNamespace("ch");
  const client = workerClient();
  const progress: number[] = [];
  let ids: string[] = [];

  beforeAll(async () => {
    const uploaded = await uploadDocuments(client, ns, comets(), {
      batchSize: 50,
      concurrency: 1,
      onProgress: (p) => progress.push(p.accepted),
    });
    ids = uploaded.ids;
    await waitUntilIndexed(client, ns, ids, { timeoutMs: 110_000, intervalMs: 200 });
    // The namespace's write generation reaches KV within about a second; cursors are checked
    // against it, so let it settle before paging.
    await new Promise((r) => setTimeout(r, 1500));
  }, 120_000);

  it("keeps batches within the service's limit", () => {
    expect(MAX_BATCH_DOCUMENTS).toBe(SERVICE_MAX_BATCH_DOCUMENTS);
  });

  it("uploads in batches with progress, and waitUntilIndexed sees every document indexed", async () => {
    expect(ids).toHaveLength(130);
    expect(ids[0]).toBe("c000");
    expect(progress).toEqual([50, 100, 130]);
    const statuses = await waitUntilIndexed(client, ns, ["c007", "c100"]);
    expect(statuses.map((s) => [s.id, s.status])).toEqual([
      ["c007", "indexed"],
      ["c100", "indexed"],
    ]);
    expect((await client.namespaceStats(ns)).documents).toBe(130);
  });

  it("lists the documents a page at a time, each once", async () => {
    const listed: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.listDocuments(ns, { status: "indexed", limit: 50, cursor });
      pages += 1;
      listed.push(...page.documents.map((d) => d.id));
      cursor = page.nextCursor;
    } while (cursor !== undefined && pages < 10);
    expect(pages).toBe(3);
    expect(listed).toEqual([...ids].sort());
  });

  it("pages give topK 100's results once each, in order", async () => {
    const body = { query: "comet orbit dust", mode: "keyword", groupBy: "chunk", cache: "bypass" } as const;
    const whole = await client.search(ns, { ...body, topK: 100 });
    expect(whole.nextCursor).toBeUndefined();
    expect(whole.results.length).toBe(100);
    const paged: SearchResult[] = [];
    let pages = 0;
    for await (const page of client.searchPages(ns, { ...body, topK: 10 })) {
      pages += 1;
      expect(page.results.length).toBeLessThanOrEqual(10);
      paged.push(...page.results);
    }
    const key = (r: SearchResult) => `${r.id}/${r.chunkId}/${r.score}`;
    expect(paged.map(key)).toEqual(whole.results.map(key));
    expect(new Set(paged.map(key)).size).toBe(paged.length);
    expect(pages).toBe(10);
  });
});
