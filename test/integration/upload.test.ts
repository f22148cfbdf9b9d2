// `npm run upload`: the tool's core run inside workerd against the real Worker (its fetch
// handler, the real queue, consumer, D1 and R2), with the files in memory. Files become
// searchable, a re-run skips what is unchanged, a changed file is sent again, and a bad file or
// line fails alone.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  emptyManifest,
  type FileAccess,
  formatReport,
  invalidDocumentId,
  type Manifest,
  type Outcome,
  runUpload,
  summarize,
} from "../../scripts/lib/upload-core.ts";
import { createFetchApiSender, createR2Sender } from "../../scripts/lib/upload-senders.ts";
import { putMessage } from "../../src/ingest/messages";
import { DocumentIdSchema } from "../../src/validation";
import worker from "../../workers/index";
import { adminKey, api, freshNamespace, waitFor, waitForStatus } from "../support";

const BASE_URL = "http://edgesearch.test";

/** A directory tree in memory: paths to contents. */
function memoryFiles(initial: Record<string, string | Uint8Array>) {
  const files = new Map(Object.entries(initial));
  const access: FileAccess = {
    async stat(path) {
      if (files.has(path)) return "file";
      return [...files.keys()].some((p) => p.startsWith(`${path}/`)) ? "directory" : null;
    },
    async readdir(path) {
      const names = new Set<string>();
      for (const p of files.keys())
        if (p.startsWith(`${path}/`)) names.add(p.slice(path.length + 1).split("/")[0] ?? "");
      return [...names];
    },
    async readFile(path) {
      const content = files.get(path);
      if (content === undefined) throw new Error(`ENOENT: ${path}`);
      return typeof content === "string" ? new TextEncoder().encode(content) : content;
    },
  };
  return { access, files };
}

/** The Worker's fetch handler as the tool's fetch, with a log of the requests it made. */
function workerFetch() {
  const requests: string[] = [];
  const fetch = async (input: string, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push(`${request.method} ${new URL(request.url).pathname}`);
    return exports.default.fetch(request);
  };
  return { fetch, requests };
}

async function upload(
  ns: string,
  files: FileAccess,
  manifest: Manifest,
  fetch: (input: string, init?: RequestInit) => Promise<Response>,
  options: { maxDocumentBytes?: number } = {},
) {
  return runUpload({
    fs: files,
    inputs: ["corpus"],
    target: `api ${BASE_URL}`,
    manifest,
    sender: createFetchApiSender({ fetch, baseUrl: BASE_URL, apiKey: adminKey(), namespace: ns }),
    concurrency: 2,
    ...options,
  });
}

const byStatus = (outcomes: Outcome[], status: Outcome["status"]) =>
  outcomes
    .filter((o) => o.status === status)
    .map((o) => o.id ?? o.file)
    .sort();

async function searchIds(ns: string, body: Record<string, unknown>): Promise<string[]> {
  const res = await api<{ results: { id: string }[] }>("POST", `/v1/namespaces/${ns}/search`, {
    cache: "bypass",
    ...body,
  });
  expect(res.status).toBe(200);
  return res.body.results.map((r) => r.id);
}

const CORPUS = {
  "corpus/guides/kettle.md":
    "# Kettle care\n\nDescale the kettle with citric acid every month to remove limescale.",
  "corpus/notes.txt": "The lighthouse keeper logged every passing ship in a leather journal.",
  "corpus/articles.jsonl": [
    JSON.stringify({
      id: "volcano",
      title: "Volcanoes",
      text: "A volcano erupts when magma rises through the crust and escapes as lava, ash and gas.",
      metadata: { category: "geology", year: 2018 },
    }),
    JSON.stringify({
      id: "sourdough",
      title: "Sourdough bread",
      text: "Sourdough bread rises thanks to a starter of wild yeast and lactic acid bacteria.",
      metadata: { category: "cooking", year: 2022 },
    }),
    JSON.stringify({ id: "no-text", title: "Nothing to index" }),
    "{ not json",
  ].join("\n"),
  "corpus/logo.gif": new Uint8Array([0x47, 0x49, 0x46, 0x38]),
  "corpus/.drafts/secret.md": "# Draft\n\nnot for upload",
};

describe("upload tool", () => {
  it("makes a directory's files searchable and fails bad files and lines alone", async () => {
    const ns = freshNamespace("up");
    const { access } = memoryFiles(CORPUS);
    const { fetch } = workerFetch();
    const { outcomes, manifest } = await upload(ns, access, emptyManifest(ns), fetch);

    expect(byStatus(outcomes, "uploaded")).toEqual(["guides/kettle.md", "notes.txt", "sourdough", "volcano"]);
    const failed = outcomes.filter((o) => o.status === "failed");
    expect(failed.map((o) => [o.file, o.line ?? null, o.reason?.split(" (")[0]])).toEqual([
      ["corpus/articles.jsonl", 3, '"text" must be a non-empty string'],
      ["corpus/articles.jsonl", 4, "not JSON"],
      ["corpus/logo.gif", null, 'unsupported extension ".gif"'],
    ]);
    // Hidden directories are not walked at all.
    expect(outcomes.some((o) => o.file.includes(".drafts"))).toBe(false);
    expect(summarize(outcomes)).toEqual({
      files: { uploaded: 2, skipped: 0, failed: 2 },
      documents: { uploaded: 4, skipped: 0, failed: 3 },
    });
    expect(formatReport(outcomes)).toContain(
      "failed    corpus/articles.jsonl: 2 sent, 0 unchanged, 2 failed",
    );
    expect(Object.keys(manifest.targets[`api ${BASE_URL}`] ?? {}).sort()).toEqual([
      "guides/kettle.md",
      "notes.txt",
      "sourdough",
      "volcano",
    ]);

    const kettle = await waitForStatus(ns, "guides/kettle.md", "indexed");
    expect(kettle.title).toBe("Kettle care");
    for (const id of ["notes.txt", "volcano", "sourdough"]) await waitForStatus(ns, id, "indexed");
    expect((await searchIds(ns, { query: "descale limescale kettle", mode: "keyword" }))[0]).toBe(
      "guides/kettle.md",
    );
    expect((await searchIds(ns, { query: "lighthouse keeper journal", mode: "keyword" }))[0]).toBe(
      "notes.txt",
    );
    // A .jsonl record's metadata arrives with it: filters see it.
    const cooking = await waitFor("vectors visible", async () => {
      const ids = await searchIds(ns, {
        query: "bread yeast magma",
        mode: "vector",
        filter: { category: "cooking" },
      });
      return ids.length > 0 ? ids : undefined;
    });
    expect(cooking).toEqual(["sourdough"]);
  });

  it("skips unchanged files on a second run and sends a changed file again", async () => {
    const ns = freshNamespace("up");
    const { access, files } = memoryFiles(CORPUS);
    const first = workerFetch();
    const run1 = await upload(ns, access, emptyManifest(ns), first.fetch);
    expect(byStatus(run1.outcomes, "uploaded")).toHaveLength(4);
    await waitForStatus(ns, "notes.txt", "indexed");

    const second = workerFetch();
    const run2 = await upload(ns, access, run1.manifest, second.fetch);
    expect(byStatus(run2.outcomes, "skipped")).toEqual([
      "guides/kettle.md",
      "notes.txt",
      "sourdough",
      "volcano",
    ]);
    expect(byStatus(run2.outcomes, "uploaded")).toEqual([]);
    expect(second.requests.filter((r) => r.includes("/documents"))).toEqual([]);
    expect(formatReport(run2.outcomes)).toContain("unchanged corpus/notes.txt");

    files.set("corpus/notes.txt", "The lighthouse keeper now records passing ships in a waterproof logbook.");
    const third = workerFetch();
    const run3 = await upload(ns, access, run2.manifest, third.fetch);
    expect(byStatus(run3.outcomes, "uploaded")).toEqual(["notes.txt"]);
    expect(byStatus(run3.outcomes, "skipped")).toEqual(["guides/kettle.md", "sourdough", "volcano"]);
    expect(third.requests.filter((r) => r.includes("/documents"))).toEqual([
      `PUT /v1/namespaces/${ns}/documents/notes.txt`,
    ]);
    const found = await waitFor("the new text indexed", async () => {
      const ids = await searchIds(ns, { query: "waterproof logbook", mode: "keyword" });
      return ids[0] === "notes.txt" ? ids : undefined;
    });
    expect(found[0]).toBe("notes.txt");
    expect(await searchIds(ns, { query: "leather", mode: "keyword" })).not.toContain("notes.txt");

    // The manifest is per target: the same files sent elsewhere are all new there.
    const elsewhere = await runUpload({
      fs: access,
      inputs: ["corpus"],
      target: "r2 some-bucket",
      manifest: run3.manifest,
      sender: { maxBatch: 10, send: async (docs) => docs.map((d) => ({ id: d.id, ok: true })) },
    });
    expect(byStatus(elsewhere.outcomes, "uploaded")).toHaveLength(4);
  });

  it("isolates a document the API refuses inside a batch, and sends the rest", async () => {
    const ns = freshNamespace("up");
    const big = "word ".repeat(230_000); // about 1.1 MiB: over the Worker's MAX_DOCUMENT_BYTES
    const { access } = memoryFiles({
      "corpus/a.txt": "Alpacas hum to each other when they are curious.",
      "corpus/big.txt": big,
      "corpus/b.txt": "Beavers build dams from branches, mud and stones.",
    });
    const { fetch, requests } = workerFetch();
    // Only the Worker knows its limit here: the tool's own check is relaxed.
    const { outcomes } = await upload(ns, access, emptyManifest(ns), fetch, { maxDocumentBytes: 8_000_000 });
    expect(byStatus(outcomes, "uploaded")).toEqual(["a.txt", "b.txt"]);
    const failed = outcomes.find((o) => o.status === "failed");
    expect(failed?.id).toBe("big.txt");
    expect(failed?.reason).toMatch(/^413/);
    expect(requests[0]).toBe(`POST /v1/namespaces/${ns}/documents`);
    await waitForStatus(ns, "b.txt", "indexed");
    expect((await searchIds(ns, { query: "beavers dams", mode: "keyword" }))[0]).toBe("b.txt");
  });

  it("writes R2 objects with the custom metadata the ingest consumer reads", async () => {
    const ns = freshNamespace("up");
    const { access } = memoryFiles({
      "corpus/records.jsonl": JSON.stringify({
        id: "guides/tea",
        title: "Brewing tea",
        text: "Steep green tea leaves in water just below boiling for two minutes.",
        metadata: { category: "guide" },
      }),
    });
    const keys: string[] = [];
    const sender = createR2Sender({
      namespace: ns,
      putObject: async (upload) => {
        const object = await env.DOCUMENTS.put(upload.key, upload.body, {
          httpMetadata: { contentType: upload.contentType },
          customMetadata: upload.customMetadata,
        });
        keys.push(upload.key);
        // What R2's event notification would deliver to the ingest queue.
        const batch = createMessageBatch("edgesearch-ingest", [
          {
            id: `r2-${upload.key}`,
            timestamp: new Date(),
            attempts: 1,
            body: putMessage(env.DOCUMENTS_BUCKET_NAME, upload.key, object.size, object.etag),
          },
        ]);
        const ctx = createExecutionContext();
        await worker.queue(batch, env, ctx);
        await getQueueResult(batch, ctx);
      },
    });
    const { outcomes } = await runUpload({
      fs: access,
      inputs: ["corpus"],
      target: "r2 local",
      manifest: emptyManifest(ns),
      sender,
    });
    expect(byStatus(outcomes, "uploaded")).toEqual(["guides/tea"]);
    expect(keys).toEqual([`${ns}/guides/tea`]);
    const status = await waitForStatus(ns, "guides/tea", "indexed");
    expect(status.title).toBe("Brewing tea");
    const found = await waitFor("vector visible", async () => {
      const ids = await searchIds(ns, {
        query: "steep green tea",
        mode: "vector",
        filter: { category: "guide" },
      });
      return ids.length > 0 ? ids : undefined;
    });
    expect(found).toEqual(["guides/tea"]);
  });

  it("derives ids the API accepts, and refuses the ones it would reject", () => {
    const cases = [
      "notes/day-1.md",
      "é/ü.txt",
      "a".repeat(512),
      "a".repeat(513),
      "",
      ".",
      "..",
      "tab\there",
      "\ud800",
      "c1\u0085",
      "\u009f",
      "line\u2028",
      "para\u2029",
      "report\u202efdp.exe",
      "\u202a",
      "iso\u2066late\u2069",
      "\u2068",
      "\u00a0nbsp-is-fine",
      "\u200fmark-is-fine",
    ];
    for (const id of cases) {
      expect(invalidDocumentId(id) === null, JSON.stringify(id)).toBe(DocumentIdSchema.safeParse(id).success);
    }
  });
});
