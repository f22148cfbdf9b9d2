// Document expiry through the Worker: an expired document is out of every search, similar-documents
// answer and cached answer from its expiry on; the scheduled purge deletes it as a DELETE does,
// a bounded number per run; an expiresAt that is not an RFC 3339 time is a 400.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { clearIsolateResultCache } from "../../src/cache/cached-search";
import { loadConfig } from "../../src/config";
import { PURGE_LIMITS } from "../../src/ingest/expiry";
import { chunkIdPrefix, chunkIds } from "../../src/ingest/ids";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import worker from "../../workers/index";
import {
  type ApiResponse,
  api,
  countRows,
  freshNamespace,
  waitFor,
  waitForStatus,
  writeIndexed,
} from "../support";
import { type SearchBody, searchApi, waitVectorsApplied } from "../support/search";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

async function runCron(vars: Record<string, string> = {}): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
}

/** Expired document rows straight in D1, `count` of them, expiring `ageMs` + i ms ago. */
async function seedExpired(ns: string, count: number, ageMs = 1000): Promise<void> {
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO documents (namespace, id, status, content_type, chunk_count, created_at, updated_at, expires_at)
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
     SELECT ?1, printf('d%03d', i), 'indexed', 'text/plain', 0, ?2, ?2, ?2 - ?4 - i FROM n`,
  )
    .bind(ns, now, count, ageMs)
    .run();
}

const LIVE_ROWS = "SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND status != 'deleted'";

const ids = (res: ApiResponse<SearchBody>) => res.body.results.map((r) => r.id);

/** How many of the document's first chunk ids still have a vector in the local index. */
async function vectorsOf(ns: string, id: string): Promise<number> {
  const index = new LocalVectorIndexClient(env.LOCAL_INDEX, loadConfig(env).vectorizeIndexName);
  await index.flush();
  return (await index.getByIds(chunkIds(await chunkIdPrefix(ns, id), 0, 5))).length;
}

const TEXT = "Kingfishers dive into rivers to catch small fish.";

describe("document expiry", () => {
  it("never returns an expired document from keyword, vector, hybrid or similar; a future one is found", async () => {
    const ns = freshNamespace("exp");
    const metadata = { category: "bird" };
    const docs = [
      { id: "live", text: TEXT, metadata },
      { id: "later", text: `${TEXT} Later.`, metadata, expiresAt: iso(Date.now() + HOUR) },
      { id: "gone", text: `${TEXT} Gone.`, metadata, expiresAt: iso(Date.now() - HOUR) },
    ];
    await writeIndexed(ns, docs);
    // The expired document was indexed (its vectors exist): only the expiry keeps it out.
    await waitVectorsApplied(ns, TEXT, 2);
    await waitFor("vectors of the expired document", async () => (await vectorsOf(ns, "gone")) > 0);
    for (const mode of ["keyword", "vector", "hybrid"]) {
      for (const cache of ["bypass", "default"]) {
        const res = await searchApi(ns, { query: "kingfishers rivers fish", mode, topK: 10, cache });
        expect(res.status).toBe(200);
        expect(ids(res).sort(), `${mode} ${cache}`).toEqual(["later", "live"]);
      }
    }
    // With a filter the keyword leg takes its other query.
    const filtered = await searchApi(ns, {
      query: "kingfishers",
      mode: "keyword",
      filter: { category: "bird" },
      cache: "bypass",
    });
    expect(filtered.status).toBe(200);
    expect(ids(filtered).sort()).toEqual(["later", "live"]);
    const similar = await api<SearchBody>("POST", `/v1/namespaces/${ns}/documents/live/similar`, {
      cache: "bypass",
      topK: 10,
    });
    expect(similar.status).toBe(200);
    expect(similar.body.results.map((r) => r.id)).toEqual(["later"]);
    // Nor is it a source for similar documents: it is gone for search.
    const fromGone = await api("POST", `/v1/namespaces/${ns}/documents/gone/similar`, { cache: "bypass" });
    expect(fromGone.status).toBe(404);
    const later = await api("GET", `/v1/namespaces/${ns}/documents/later`);
    expect(later.body.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect((await api("GET", `/v1/namespaces/${ns}/documents/live`)).body).not.toHaveProperty("expiresAt");
  });

  it("does not serve a cached answer holding a document past its expiry, from either cache layer", async () => {
    const ns = freshNamespace("exp");
    const docs = [
      { id: "stays", text: TEXT },
      { id: "expires", text: `${TEXT} Soon.` },
    ];
    await writeIndexed(ns, docs);
    const similarPath = `/v1/namespaces/${ns}/documents/expires/similar`;
    const ready = async () => (await api("POST", similarPath, { cache: "bypass" })).status === 200;
    await waitFor("the source's vectors", ready);
    // Answers are stored once the namespace's last write settled (1 s locally).
    await new Promise((r) => setTimeout(r, 1100));
    const expiry = Date.now() + 4000;
    await env.DB.prepare("UPDATE documents SET expires_at = ?3 WHERE namespace = ?1 AND id = ?2")
      .bind(ns, "expires", expiry)
      .run();
    const body = { query: "kingfishers rivers", mode: "keyword", topK: 10 };
    const first = await searchApi(ns, body);
    expect(first.headers.get("x-cache")).toBe("miss");
    expect(ids(first).sort()).toEqual(["expires", "stays"]);
    const cached = await searchApi(ns, body);
    expect(cached.headers.get("x-cache")).toBe("isolate");
    expect(ids(cached).sort()).toEqual(["expires", "stays"]);
    // A similar-documents answer is cached for its source, which expires too.
    expect((await api("POST", similarPath, {})).headers.get("x-cache")).toBe("miss");
    expect((await api("POST", similarPath, {})).headers.get("x-cache")).toBe("isolate");
    await waitFor("the expiry to pass", async () => Date.now() > expiry + 10, 10_000);
    const isolate = await searchApi(ns, body);
    expect(ids(isolate)).toEqual(["stays"]);
    expect((await api("POST", similarPath, {})).status).toBe(404);
    clearIsolateResultCache();
    const cacheApi = await searchApi(ns, body);
    expect(ids(cacheApi)).toEqual(["stays"]);
  });

  it("purges an expired document on the next cron run as a DELETE does: R2 object, chunks, vectors", async () => {
    const ns = freshNamespace("exp");
    const docs = [
      { id: "keep", text: TEXT, expiresAt: iso(Date.now() + HOUR) },
      { id: "old", text: `${TEXT} Old.`, expiresAt: iso(Date.now() - 1000) },
    ];
    await writeIndexed(ns, docs);
    await waitFor("vectors of the expired document", async () => (await vectorsOf(ns, "old")) > 0);
    expect(await env.DOCUMENTS.head(`${ns}/old`)).not.toBeNull();

    await runCron();
    expect(await env.DOCUMENTS.head(`${ns}/old`)).toBeNull();
    expect(
      await countRows("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1 AND doc_id = 'old'", ns),
    ).toBe(0);
    const status = await waitForStatus(ns, "old", "deleted");
    expect(status.chunks).toBe(0);
    await waitFor("the expired document's vectors removed", async () => (await vectorsOf(ns, "old")) === 0);
    // Its neighbour with a future expiry is untouched.
    expect(await env.DOCUMENTS.head(`${ns}/keep`)).not.toBeNull();
    expect((await api("GET", `/v1/namespaces/${ns}/documents/keep`)).body.status).toBe("indexed");
    expect(await vectorsOf(ns, "keep")).toBeGreaterThan(0);
  });

  it(`purges at most ${PURGE_LIMITS.documents} documents per run and the rest on the next`, async () => {
    const ns = freshNamespace("exp");
    const total = PURGE_LIMITS.documents + 5;
    // Expired rows straight in D1 (indexing 205 documents is not what this is about).
    await seedExpired(ns, total);
    await runCron();
    expect(await countRows(LIVE_ROWS, ns)).toBe(total - PURGE_LIMITS.documents);
    await runCron();
    expect(await countRows(LIVE_ROWS, ns)).toBe(0);
  });

  it.each([
    ["not a time", "tomorrow"],
    ["no time zone", "2027-01-31T00:00:00"],
    ["a month that does not exist", "2027-13-01T00:00:00Z"],
    ["a number", 1798675200000],
  ])("refuses an expiresAt that is %s with a problem+json 400, writing nothing", async (_name, expiresAt) => {
    const ns = freshNamespace("exp");
    const put = await api("PUT", `/v1/namespaces/${ns}/documents/a`, { text: TEXT, expiresAt });
    expect(put.status).toBe(400);
    expect(put.headers.get("content-type")).toBe("application/problem+json");
    expect(JSON.stringify(put.body)).toContain("expiresAt");
    const batch = await api("POST", `/v1/namespaces/${ns}/documents`, {
      documents: [{ id: "b", text: TEXT, expiresAt }],
    });
    expect(batch.status).toBe(400);
    expect(batch.headers.get("content-type")).toBe("application/problem+json");
    expect((await api("GET", `/v1/namespaces/${ns}/documents/a`)).status).toBe(404);
    expect(await env.DOCUMENTS.head(`${ns}/b`)).toBeNull();
  });

  it("accepts an offset time and reads it back in UTC", async () => {
    const ns = freshNamespace("exp");
    const put = await api("PUT", `/v1/namespaces/${ns}/documents/a`, {
      text: TEXT,
      expiresAt: "2030-06-01T12:00:00+02:00",
    });
    expect(put.status).toBe(202);
    const got = await api("GET", `/v1/namespaces/${ns}/documents/a`);
    expect(got.body.expiresAt).toBe("2030-06-01T10:00:00.000Z");
  });
});
