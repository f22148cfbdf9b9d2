// Erasure by metadata filter through the Worker: matching documents leave keyword, vector and
// hybrid results (cached ones too) when the POST answers, then the job deletes them from R2, D1,
// the keyword index and the vector index, leaving the rest; bad filters and other namespaces' keys
// are refused; a redelivered step changes and counts nothing twice; backups taken before an
// erasure are flagged.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { ErasureJobStore } from "../../src/erasure/jobs";
import { ERASURE_PAGE, markForErasure } from "../../src/erasure/task";
import { chunkIdPrefix, chunkIds } from "../../src/ingest/ids";
import { keywordTable } from "../../src/store/keyword";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import { HeldQueue } from "../fakes/held-queue";
import { type ApiResponse, api, countRows, freshNamespace, waitFor, writeIndexed } from "../support";
import { deliverMessage } from "../support/queue";
import { type SearchBody, searchApi, waitVectorsApplied } from "../support/search";

interface ErasureBody {
  id: string;
  state: string;
  matched: number;
  deleted: number;
  startedAt: string;
  type?: string;
  code?: string;
  field?: string;
}

const ids = (res: ApiResponse<SearchBody>) => res.body.results.map((r) => r.id).sort();

/** How many of the document's first chunk ids still have a vector in the local index. */
async function vectorsOf(ns: string, id: string): Promise<number> {
  const index = new LocalVectorIndexClient(env.LOCAL_INDEX, loadConfig(env).vectorizeIndexName);
  await index.flush();
  return (await index.getByIds(chunkIds(await chunkIdPrefix(ns, id), 0, 5))).length;
}

async function erase(ns: string, body: unknown, headers: Record<string, string> = {}) {
  return api<ErasureBody>("POST", `/v1/namespaces/${ns}/documents/delete`, body, headers);
}

async function waitComplete(location: string): Promise<ErasureBody> {
  return waitFor(`erasure ${location} complete`, async () => {
    const res = await api<ErasureBody>("GET", location);
    return res.body.state === "complete" ? res.body : undefined;
  });
}

/**
 * An erasure of `total` documents, its steps not queued: rows straight in D1 (indexing hundreds of
 * documents is not what this is about), as many again that do not match.
 */
async function seedErasure(ns: string, total: number) {
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO documents (namespace, id, status, content_type, metadata, chunk_count, created_at, updated_at)
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
     SELECT ?1, printf('d%03d', i), 'indexed', 'text/plain',
       json_object('tenant', CASE WHEN i % 2 = 0 THEN 'odd' ELSE 'gone' END), 0, ?2, ?2 FROM n`,
  )
    .bind(ns, now, total * 2)
    .run();
  const matched = await markForErasure(env.DB, ns, { tenant: "gone" }, now);
  expect(matched).toBe(total);
  const jobs = new ErasureJobStore(env.DB);
  const job = await jobs.create({
    id: crypto.randomUUID(),
    namespace: ns,
    filter: { tenant: "gone" },
    matched,
    startedAt: now,
    createdBy: "test",
  });
  return { job, jobs };
}

const TEXT = "Otters crack shellfish open with stones while floating on their backs.";

describe("erasure by filter", () => {
  it("takes matching documents out of every search mode at once, then out of every store; the rest stay", async () => {
    const ns = freshNamespace("era");
    const docs = [
      { id: "c1-a", text: `${TEXT} Zanzibar.`, metadata: { customer: "c1", year: 2020 } },
      { id: "c1-b", text: `${TEXT} Zanzibar again.`, metadata: { customer: "c1", year: 2024 } },
      { id: "c2-a", text: TEXT, metadata: { customer: "c2", year: 2020 } },
      { id: "none", text: `${TEXT} Kelp.` },
    ];
    await writeIndexed(ns, docs);
    await waitVectorsApplied(ns, TEXT, 4);
    const query = { query: "otters shellfish stones zanzibar", topK: 10 };
    // A cached answer holding the documents: the erasure must retire it.
    await new Promise((r) => setTimeout(r, 1100));
    await searchApi(ns, { ...query, mode: "hybrid" });
    expect((await searchApi(ns, { ...query, mode: "hybrid" })).headers.get("x-cache")).not.toBe("miss");

    const res = await erase(ns, { filter: { customer: "c1" } });
    expect(res.status).toBe(202);
    expect(res.body.matched).toBe(2);
    const location = res.headers.get("location");
    expect(location).toBe(`/v1/namespaces/${ns}/erasures/${res.body.id}`);

    // At once, whatever the job has done yet.
    for (const mode of ["keyword", "vector", "hybrid"]) {
      for (const cache of ["bypass", "default"]) {
        const found = await searchApi(ns, { ...query, mode, cache });
        expect(found.status).toBe(200);
        expect(ids(found), `${mode} ${cache}`).toEqual(["c2-a", "none"]);
      }
    }

    const done = await waitComplete(location ?? "");
    expect(done).toMatchObject({ matched: 2, deleted: 2 });
    const stats = await api<{ documents: number; pending: number }>("GET", `/v1/namespaces/${ns}`);
    expect(stats.body).toMatchObject({ documents: 2, pending: 0 });
    for (const id of ["c1-a", "c1-b"]) {
      expect(await env.DOCUMENTS.head(`${ns}/${id}`)).toBeNull();
      expect((await api("GET", `/v1/namespaces/${ns}/documents/${id}`)).body.status).toBe("deleted");
    }
    expect(
      await countRows("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1 AND doc_id LIKE 'c1-%'", ns),
    ).toBe(0);
    // The keyword index itself, not only the chunk rows it points at.
    const table = await keywordTable(ns, "v1");
    expect(await countRows(`SELECT COUNT(*) AS n FROM ${table} WHERE ${table} MATCH 'zanzibar'`)).toBe(0);
    expect(await countRows(`SELECT COUNT(*) AS n FROM ${table} WHERE ${table} MATCH 'kelp'`)).toBe(1);
    await waitFor("the erased documents' vectors removed", async () => {
      return (await vectorsOf(ns, "c1-a")) === 0 && (await vectorsOf(ns, "c1-b")) === 0;
    });
    for (const id of ["c2-a", "none"]) {
      expect(await vectorsOf(ns, id)).toBeGreaterThan(0);
      expect(await env.DOCUMENTS.head(`${ns}/${id}`)).not.toBeNull();
    }
    for (const mode of ["keyword", "vector", "hybrid"]) {
      expect(ids(await searchApi(ns, { ...query, mode, cache: "bypass" })), mode).toEqual(["c2-a", "none"]);
    }
  });

  it("removes the erased documents' chunks and vectors from every live version", async () => {
    const ns = freshNamespace("era");
    const docs = [
      { id: "erased", text: `${TEXT} Erased.`, metadata: { customer: "c1" } },
      { id: "kept", text: TEXT, metadata: { customer: "c2" } },
    ];
    await writeIndexed(ns, docs);
    const created = await api<{ index: string }>("POST", `/v1/namespaces/${ns}/versions`, {
      model: "@cf/baai/bge-small-en-v1.5",
    });
    expect(created.status).toBe(202);
    await waitFor("v2 built", async () => {
      const v = await api<{ state: string }>("GET", `/v1/namespaces/${ns}/versions/v2`);
      return v.body.state === "ready";
    });
    const chunksOf = async (version: string, id: string) => {
      const { results } = await env.DB.prepare(
        "SELECT chunk_id FROM chunks WHERE namespace = ?1 AND version = ?2 AND doc_id = ?3",
      )
        .bind(ns, version, id)
        .all<{ chunk_id: string }>();
      return results.map((r) => r.chunk_id);
    };
    const indexes = { v1: loadConfig(env).vectorizeIndexName, v2: created.body.index };
    const vectors = async (version: "v1" | "v2", chunkIds: string[]) => {
      const index = new LocalVectorIndexClient(env.LOCAL_INDEX, indexes[version]);
      await index.flush();
      return (await index.getByIds(chunkIds)).length;
    };
    const erased = { v1: await chunksOf("v1", "erased"), v2: await chunksOf("v2", "erased") };
    const kept = { v1: await chunksOf("v1", "kept"), v2: await chunksOf("v2", "kept") };
    await waitFor("v2's vectors applied", async () => (await vectors("v2", erased.v2)) > 0);
    expect(erased.v2.length).toBeGreaterThan(0);

    const res = await erase(ns, { filter: { customer: "c1" } });
    expect(res.status).toBe(202);
    await waitComplete(res.headers.get("location") ?? "");
    for (const version of ["v1", "v2"] as const) {
      expect(await chunksOf(version, "erased"), version).toEqual([]);
      await waitFor(`the erased document's ${version} vectors removed`, async () => {
        return (await vectors(version, erased[version])) === 0;
      });
      expect(await vectors(version, kept[version]), version).toBe(kept[version].length);
    }
  });

  it("erases by a range and spares documents written after it started", async () => {
    const ns = freshNamespace("era");
    const docs = [
      { id: "old", text: TEXT, metadata: { year: 2019 } },
      { id: "new", text: `${TEXT} New.`, metadata: { year: 2024 } },
    ];
    await writeIndexed(ns, docs);
    const res = await erase(ns, { filter: { year: { $lt: 2020 } } });
    expect(res.status).toBe(202);
    expect(res.body.matched).toBe(1);
    // Written after the snapshot: it matches the filter, and stays.
    const later = await api("PUT", `/v1/namespaces/${ns}/documents/later`, {
      text: TEXT,
      metadata: { year: 2000 },
    });
    expect(later.status).toBe(202);
    await waitComplete(res.headers.get("location") ?? "");
    expect((await api("GET", `/v1/namespaces/${ns}/documents/old`)).body.status).toBe("deleted");
    expect((await api("GET", `/v1/namespaces/${ns}/documents/new`)).body.status).not.toBe("deleted");
    expect((await api("GET", `/v1/namespaces/${ns}/documents/later`)).body.status).not.toBe("deleted");
  });

  it("erases every document with all: true", async () => {
    const ns = freshNamespace("era");
    const docs = [
      { id: "a", text: TEXT },
      { id: "b", text: `${TEXT} B.`, metadata: { k: 1 } },
    ];
    await writeIndexed(ns, docs);
    const res = await erase(ns, { all: true });
    expect(res.status).toBe(202);
    expect(res.body.matched).toBe(2);
    expect(await waitComplete(res.headers.get("location") ?? "")).toMatchObject({ matched: 2, deleted: 2 });
    expect(
      await countRows("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND status != 'deleted'", ns),
    ).toBe(0);
  });

  it.each([
    ["an unknown operator", { filter: { year: { $foo: 1 } } }, "filter.year"],
    ["a nested object", { filter: { year: { nested: 1 } } }, "filter"],
    ["an empty filter", { filter: {} }, "body.filter"],
    ["no filter at all", {}, "body.filter"],
    ["both a filter and all", { filter: { a: 1 }, all: true }, "body"],
    ["all: false", { all: false }, "body.all"],
    [
      "more fields than one D1 statement binds",
      { filter: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, { $gte: 1, $lte: 2 }])) },
      "body.filter",
    ],
  ])("refuses %s with a problem+json 400 and erases nothing", async (_name, body, field) => {
    const ns = freshNamespace("era");
    expect(
      (await api("PUT", `/v1/namespaces/${ns}/documents/a`, { text: TEXT, metadata: { year: 1 } })).status,
    ).toBe(202);
    const res = await erase(ns, body);
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body.field ?? "").toContain(field);
    expect(
      await countRows(
        "SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND expires_at IS NOT NULL",
        ns,
      ),
    ).toBe(0);
  });

  it("refuses a key of another namespace (403) and one without the write role", async () => {
    const ns = freshNamespace("era");
    expect((await api("PUT", `/v1/namespaces/${ns}/documents/a`, { text: TEXT })).status).toBe(202);
    const other = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "erasure-other",
      namespaces: [`${ns}-other`],
      roles: ["write", "search"],
    });
    const reader = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "erasure-reader",
      namespaces: [ns],
      roles: ["search"],
    });
    for (const key of [other.body.key, reader.body.key]) {
      const res = await erase(ns, { all: true }, { authorization: `Bearer ${key}` });
      expect(res.status).toBe(403);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    expect(
      await countRows(
        "SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND expires_at IS NOT NULL",
        ns,
      ),
    ).toBe(0);
    expect(await countRows("SELECT COUNT(*) AS n FROM erasure_jobs WHERE namespace = ?1", ns)).toBe(0);
  });

  it("deletes and counts each document once when a step is delivered again", async () => {
    const ns = freshNamespace("era");
    const total = ERASURE_PAGE + 5;
    const { job, jobs } = await seedErasure(ns, total);
    // The next steps are held, not run by the queue: each delivery here is one the test chose.
    const queue = new HeldQueue();
    const held = { ...env, INGEST_QUEUE: queue as unknown as Queue };
    const step = (n: number, attempts = 1) =>
      deliverMessage({ kind: "erasure.step", job: job.id, step: n }, { env: held, attempts });

    expect((await step(0)).explicitAcks.length).toBe(1);
    expect(await jobs.byId(job.id)).toMatchObject({ step: 1, deleted: ERASURE_PAGE, state: "running" });
    // Step 0 again, as if its ack had been lost: nothing more is deleted, the next step is sent again.
    const before = queue.held.length;
    await step(0, 2);
    expect(await jobs.byId(job.id)).toMatchObject({ step: 1, deleted: ERASURE_PAGE });
    expect(queue.held.slice(before)).toContainEqual({ kind: "erasure.step", job: job.id, step: 1 });
    await step(1);
    await step(1, 2);
    expect(await jobs.byId(job.id)).toMatchObject({ state: "complete", matched: total, deleted: total });
    expect(
      await countRows("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND status = 'deleted'", ns),
    ).toBe(total);
    expect(
      await countRows(
        "SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND status != 'deleted' AND json_extract(metadata, '$.tenant') = 'odd'",
        ns,
      ),
    ).toBe(total);
  });

  it("sends the next step again when its send failed, and the job completes", async () => {
    const ns = freshNamespace("era");
    const { job, jobs } = await seedErasure(ns, ERASURE_PAGE + 1);
    const broken = {
      ...env,
      INGEST_QUEUE: {
        send: async () => {
          throw new Error("Queue send failed: internal error");
        },
        sendBatch: async () => undefined,
      } as unknown as Queue,
    };
    const first = await deliverMessage({ kind: "erasure.step", job: job.id, step: 0 }, { env: broken });
    // The step applied; its message is retried for the send.
    expect(first.retryMessages).toHaveLength(1);
    expect(await jobs.byId(job.id)).toMatchObject({ step: 1, deleted: ERASURE_PAGE, state: "running" });
    const queue = new HeldQueue();
    const held = { ...env, INGEST_QUEUE: queue as unknown as Queue };
    await deliverMessage({ kind: "erasure.step", job: job.id, step: 0 }, { env: held, attempts: 2 });
    expect(queue.held).toEqual([{ kind: "erasure.step", job: job.id, step: 1 }]);
    await deliverMessage({ kind: "erasure.step", job: job.id, step: 1 }, { env: held });
    expect(await jobs.byId(job.id)).toMatchObject({ state: "complete", deleted: ERASURE_PAGE + 1 });
  });

  it("answers 404 for an erasure of another namespace", async () => {
    const ns = freshNamespace("era");
    expect((await api("PUT", `/v1/namespaces/${ns}/documents/a`, { text: TEXT })).status).toBe(202);
    const res = await erase(ns, { all: true });
    expect(res.status).toBe(202);
    const other = await api("GET", `/v1/namespaces/${ns}-x/erasures/${res.body.id}`);
    expect(other.status).toBe(404);
  });
});
