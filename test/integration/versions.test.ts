// Index versions end to end through the API and the real queue: a namespace moves from one
// embedding configuration to another (different model, dimensions and chunking) while searches
// run, with the quality gate, rollback, retirement, and restarts of the coordinator mid-build.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import { api, freshNamespace, waitFor, waitIndexed } from "../support";
import { type Doc, slice } from "../support/scifact";
import { type SearchBody, searchUncached as search } from "../support/search";

interface VersionBody {
  id: string;
  state: string;
  model: string;
  dimensions: number;
  index: string;
  chunking: { maxTokens: number; overlapTokens: number };
  purged: boolean;
  build: { phase: string; total: number; done: number; failed: number } | null;
  gate: { passed: boolean; ndcg: number; activeNdcg: number | null; forced: boolean } | null;
}

const V2 = { model: "@cf/baai/bge-small-en-v1.5", chunking: { maxTokens: 128, overlapTokens: 16 } };
// A model with more dimensions (the local stand-in hashes into more buckets: no worse answers).
const V2_LARGE = { model: "@cf/baai/bge-large-en-v1.5" };

async function ingest(ns: string, docs: Doc[]): Promise<void> {
  const res = await api("POST", `/v1/namespaces/${ns}/documents`, { documents: docs });
  expect(res.body).toMatchObject({ accepted: docs.length });
  await waitIndexed(ns, docs.length);
}

async function version(ns: string, id: string): Promise<VersionBody> {
  const res = await api<VersionBody>("GET", `/v1/namespaces/${ns}/versions/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

async function waitForState(ns: string, id: string, state: string, timeoutMs = 60_000): Promise<VersionBody> {
  return waitFor(
    `${ns} ${id} to be ${state}`,
    async () => {
      const v = await version(ns, id);
      return v.state === state ? v : undefined;
    },
    timeoutMs,
    100,
  );
}

/** Activates, retrying while the index applies the build's last writes. */
async function activate(ns: string, id: string, body: Record<string, unknown> = {}) {
  return waitFor(`${id} to activate`, async () => {
    const res = await api<{ version: VersionBody; gate: VersionBody["gate"]; detail?: string }>(
      "POST",
      `/v1/namespaces/${ns}/versions/${id}/activate`,
      body,
    );
    if (res.status === 409 && String(res.body.detail).includes("has not applied")) return undefined;
    return res;
  });
}

/** Chunk ids name their version: the default version's have no suffix, others end in ".<id>-<n>". */
function versionOfChunk(chunkId: string): string {
  const m = /\.(v[0-9]+)-[0-9]+$/.exec(chunkId);
  return m?.[1] ?? "v1";
}

async function chunkRows(ns: string, ver: string, docId?: string): Promise<number> {
  const row = await env.DB.prepare(
    `SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1 AND version = ?2 ${docId ? "AND doc_id = ?3" : ""}`,
  )
    .bind(...(docId ? [ns, ver, docId] : [ns, ver]))
    .first<{ n: number }>();
  return row?.n ?? 0;
}

async function chunkIdsOf(ns: string, ver: string): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT chunk_id FROM chunks WHERE namespace = ?1 AND version = ?2",
  )
    .bind(ns, ver)
    .all<{ chunk_id: string }>();
  return results.map((r) => r.chunk_id);
}

async function vectorsPresent(indexName: string, ids: string[]): Promise<number> {
  const index = new LocalVectorIndexClient(env.LOCAL_INDEX, indexName);
  await index.flush();
  let found = 0;
  for (let i = 0; i < ids.length; i += 20) found += (await index.getByIds(ids.slice(i, i + 20))).length;
  return found;
}

function coordinator(ns: string) {
  return env.COORDINATOR.get(env.COORDINATOR.idFromName(ns));
}

describe("index versions", () => {
  it("migrates a namespace to a model with other dimensions while searches run, then rolls back and retires", async () => {
    const ns = freshNamespace("mig");
    const { docs, golden } = slice(60);
    expect(golden.length).toBeGreaterThan(5);
    await ingest(ns, docs);
    expect((await api("PUT", `/v1/namespaces/${ns}/golden-queries`, { queries: golden })).body).toEqual({
      count: golden.length,
    });
    const probe = golden[0]?.query ?? "";
    expect((await search(ns, probe)).body.version).toBe("v1");

    // Searches run throughout; each response is checked against the version it names.
    const responses: { status: number; body: SearchBody }[] = [];
    let searching = true;
    const searcher = (async () => {
      let i = 0;
      while (searching) {
        const g = golden[i++ % golden.length];
        const res = await search(ns, g?.query ?? "", i % 2 === 0 ? "hybrid" : "vector");
        responses.push(res);
        // A client's pace; it also lets the queue consumer and timers in this isolate run.
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const created = await api<VersionBody>("POST", `/v1/namespaces/${ns}/versions`, V2_LARGE);
    expect(created.body).toMatchObject({
      id: "v2",
      state: "building",
      dimensions: 1024,
      index: "edgesearch-local-1024",
      // The active version's chunking: the build embeds the stored chunk text again.
      chunking: { maxTokens: 256, overlapTokens: 32 },
    });
    // Not before it is built.
    const early = await api("POST", `/v1/namespaces/${ns}/versions/v2/activate`, {});
    expect(early.status).toBe(409);
    expect((early.body as { detail: string }).detail).toMatch(/v2 is building/);
    // Nor a second build at the same time.
    expect((await api("POST", `/v1/namespaces/${ns}/versions`, V2)).status).toBe(409);

    // A write during the build reaches both versions.
    const late = {
      id: "late-arrival",
      title: "Quokka thermoregulation",
      text: "Quokkas shelter from heat in dense vegetation; their thermoregulation relies on panting.",
    };
    expect(
      (await api("PUT", `/v1/namespaces/${ns}/documents/${late.id}`, { title: late.title, text: late.text }))
        .status,
    ).toBe(202);
    const ready = await waitForState(ns, "v2", "ready");
    expect(ready.build).toMatchObject({ phase: "done", failed: 0 });
    expect(ready.build?.done).toBeGreaterThanOrEqual(docs.length);
    await waitFor("the late write in both versions", async () => {
      return (await chunkRows(ns, "v1", late.id)) > 0 && (await chunkRows(ns, "v2", late.id)) > 0;
    });
    expect(await chunkRows(ns, "v2")).toBe(await chunkRows(ns, "v1"));
    // v1's answer just before the swap, once its index has applied every write (the index applies
    // writes asynchronously, and the late write changed the keyword statistics): what a rollback
    // must bring back.
    const v1Index = new LocalVectorIndexClient(env.LOCAL_INDEX, (await version(ns, "v1")).index);
    await v1Index.flush();
    const before = await search(ns, probe);
    expect(before.body.version).toBe("v1");
    const activated = await activate(ns, "v2");
    expect(activated.body).toMatchObject({ version: { state: "active" } });
    expect(activated.body.gate).toMatchObject({ passed: true, forced: false });
    expect(activated.body.version.state).toBe("active");
    await waitFor("searches to answer from v2", async () => (await search(ns, probe)).body.version === "v2");
    await waitFor(
      "a few more searches on v2",
      async () => responses.filter((r) => r.body.version === "v2").length >= 5,
    );
    searching = false;
    await searcher;

    expect(responses.length).toBeGreaterThan(10);
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(res.body.degraded).toEqual([]);
      expect(res.body.results.length).toBeGreaterThan(0);
      for (const r of res.body.results) expect(versionOfChunk(r.chunkId)).toBe(res.body.version);
    }
    const seen = new Set(responses.map((r) => r.body.version));
    expect(seen).toEqual(new Set(["v1", "v2"]));
    const lateHit = await search(ns, "quokka thermoregulation panting");
    expect(lateHit.body.results[0]?.id).toBe(late.id);

    const list = await api<{ active: string; versions: VersionBody[] }>(
      "GET",
      `/v1/namespaces/${ns}/versions`,
    );
    expect(list.body.active).toBe("v2");
    expect(list.body.versions.map((v) => [v.id, v.state])).toEqual([
      ["v1", "previous"],
      ["v2", "active"],
    ]);
    const stats = await api<{ activeVersion: string }>("GET", `/v1/namespaces/${ns}`);
    expect(stats.body.activeVersion).toBe("v2");

    // Rollback is one call and brings back the old answers.
    const rolled = await api<VersionBody>("POST", `/v1/namespaces/${ns}/versions/rollback`, {});
    expect(rolled.status).toBe(200);
    expect(rolled.body).toMatchObject({ id: "v1", state: "active" });
    await v1Index.flush();
    const after = await waitFor("searches to answer from v1 again", async () => {
      const res = await search(ns, probe);
      return res.body.version === "v1" ? res : undefined;
    });
    expect(after.body.results.map((r) => [r.id, r.chunkId])).toEqual(
      before.body.results.map((r) => [r.id, r.chunkId]),
    );
    expect((await version(ns, "v2")).state).toBe("ready");

    // Retiring v2 deletes its vectors, chunk rows and keyword table.
    const v2Chunks = await chunkIdsOf(ns, "v2");
    expect(await vectorsPresent("edgesearch-local-1024", v2Chunks)).toBe(v2Chunks.length);
    const retired = await api<VersionBody>("POST", `/v1/namespaces/${ns}/versions/v2/retire`, {});
    expect(retired.status).toBe(200);
    expect(retired.body.state).toBe("retired");
    await waitFor("v2's chunks to be purged", async () => (await chunkRows(ns, "v2")) === 0, 30_000);
    expect(await vectorsPresent("edgesearch-local-1024", v2Chunks)).toBe(0);
    const tables = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM keyword_tables WHERE namespace = ?1 AND version = 'v2'",
    )
      .bind(ns)
      .first<{ n: number }>();
    expect(tables?.n).toBe(0);
    // The active version is untouched, and writes no longer go to v2.
    expect((await search(ns, probe)).body.results.map((r) => r.chunkId)).toEqual(
      before.body.results.map((r) => r.chunkId),
    );
    expect((await api("POST", `/v1/namespaces/${ns}/versions/v1/retire`, {})).status).toBe(409);
  }, 180_000);

  it("retires the previous version when its grace period ends, by the coordinator's alarm", async () => {
    const ns = freshNamespace("grace");
    const { docs, golden } = slice(20);
    await ingest(ns, docs);
    await api("PUT", `/v1/namespaces/${ns}/golden-queries`, { queries: golden });
    expect((await api("POST", `/v1/namespaces/${ns}/versions`, { model: V2.model })).status).toBe(202);
    await waitForState(ns, "v2", "ready");
    expect((await activate(ns, "v2")).status).toBe(200);
    const v1Chunks = await chunkIdsOf(ns, "v1");
    expect(await vectorsPresent("edgesearch-bge-base-768", v1Chunks)).toBe(v1Chunks.length);

    // The grace period ends (its end moved to now), and the alarm runs.
    const stub = coordinator(ns);
    await runInDurableObject(stub, (_instance, state) => {
      const row = state.storage.sql
        .exec<{ record: string }>("SELECT record FROM versions WHERE id = 'v1'")
        .one();
      const record = JSON.parse(row.record) as { retireAt: number };
      record.retireAt = Date.now() - 1;
      state.storage.sql.exec("UPDATE versions SET record = ? WHERE id = 'v1'", JSON.stringify(record));
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await version(ns, "v1")).state).toBe("retired");
    await waitFor("v1's chunks to be purged", async () => (await chunkRows(ns, "v1")) === 0, 30_000);
    expect(await vectorsPresent("edgesearch-bge-base-768", v1Chunks)).toBe(0);
    expect((await api("POST", `/v1/namespaces/${ns}/versions/rollback`, {})).status).toBe(409);
    const res = await search(ns, golden[0]?.query ?? "");
    expect(res.body.version).toBe("v2");
    expect(res.body.results.length).toBeGreaterThan(0);
  }, 120_000);

  it("blocks the swap when the new version scores worse on the golden queries", async () => {
    const ns = freshNamespace("gate");
    const { docs } = slice(20);
    await ingest(ns, docs);
    const target = docs[3] as Doc;
    await api("PUT", `/v1/namespaces/${ns}/golden-queries`, {
      queries: [{ query: target.title, relevant: [target.id] }],
    });
    // The stored object changes behind the index's back (no event reaches the queue), so a
    // build that re-chunks from R2 cannot use it: the new version lacks the document.
    await env.DOCUMENTS.put(`${ns}/${target.id}`, "replaced out of band");
    expect((await api("POST", `/v1/namespaces/${ns}/versions`, V2)).status).toBe(202);
    await waitForState(ns, "v2", "ready");

    const refused = await activate(ns, "v2");
    expect(refused.status).toBe(409);
    const problem = refused.body as unknown as { detail: string; code: string };
    expect(problem.code).toBe("conflict");
    expect(problem.detail).toMatch(/quality gate failed for version v2: nDCG@10 0\.0000/);
    const v2 = await version(ns, "v2");
    expect(v2.state).toBe("ready");
    expect(v2.gate).toMatchObject({ passed: false, ndcg: 0, activeNdcg: 1 });
    expect((await search(ns, target.title)).body.version).toBe("v1");

    // Without golden queries the gate cannot run: refused unless forced.
    await api("PUT", `/v1/namespaces/${ns}/golden-queries`, { queries: [] });
    const blind = await activate(ns, "v2");
    expect(blind.status).toBe(409);
    expect((blind.body as unknown as { detail: string }).detail).toMatch(/no golden queries/);
    const forced = await activate(ns, "v2", { force: true });
    expect(forced.status).toBe(200);
    expect(forced.body.gate).toMatchObject({ passed: false, forced: true });
  }, 120_000);

  it("resumes a build after its coordinator restarts and a batch is delivered twice, without duplicates", async () => {
    const ns = freshNamespace("resume");
    const { docs } = slice(70);
    await ingest(ns, docs);
    // Same chunking: the build re-embeds the stored chunk text.
    expect((await api("POST", `/v1/namespaces/${ns}/versions`, { model: V2.model })).status).toBe(202);
    const stub = coordinator(ns);
    // A redelivered first batch, and restarts of the object while the build runs.
    await env.INGEST_QUEUE.send({
      kind: "version.backfill",
      namespace: ns,
      version: "v2",
      phase: "scan",
      cursor: "",
    });
    const ready = await waitFor(
      "the build to finish across restarts",
      async () => {
        await evictDurableObject(stub);
        const v = await version(ns, "v2");
        return v.state === "ready" ? v : undefined;
      },
      90_000,
      300,
    );
    expect(ready.build).toMatchObject({ phase: "done", total: docs.length, done: docs.length, failed: 0 });
    expect(await chunkRows(ns, "v2")).toBe(await chunkRows(ns, "v1"));
    const ids = await chunkIdsOf(ns, "v2");
    expect(new Set(ids).size).toBe(ids.length);
    expect(await vectorsPresent("edgesearch-local-384", ids)).toBe(ids.length);
  }, 120_000);

  it("refuses version changes from keys without the admin role, and bad requests with a problem", async () => {
    const ns = freshNamespace("vauth");
    // The default index has its dimensions once a vector was written to it.
    await ingest(ns, slice(1).docs);
    const created = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "writer",
      namespaces: [ns],
      roles: ["search", "write"],
    });
    const writer = { authorization: `Bearer ${created.body.key}` };
    expect((await api("POST", `/v1/namespaces/${ns}/versions`, V2, writer)).status).toBe(403);
    expect((await api("GET", `/v1/namespaces/${ns}/versions`, undefined, writer)).status).toBe(403);
    expect((await api("PUT", `/v1/namespaces/${ns}/golden-queries`, { queries: [] }, writer)).status).toBe(
      403,
    );

    const unknownModel = await api("POST", `/v1/namespaces/${ns}/versions`, { model: "constructor" });
    expect(unknownModel.status).toBe(400);
    expect(unknownModel.headers.get("content-type")).toContain("application/problem+json");
    const badChunking = await api("POST", `/v1/namespaces/${ns}/versions`, {
      model: V2.model,
      chunking: { maxTokens: 64, overlapTokens: 64 },
    });
    expect(badChunking.status).toBe(400);
    const wrongIndex = await api("POST", `/v1/namespaces/${ns}/versions`, {
      model: V2.model,
      index: "edgesearch-bge-base-768",
    });
    expect(wrongIndex.status).toBe(400);
    expect((wrongIndex.body as { detail: string }).detail).toMatch(/768 dimensions; the model needs 384/);
    expect((await api("GET", `/v1/namespaces/${ns}/versions/v9`)).status).toBe(404);
    expect((await api("POST", `/v1/namespaces/${ns}/versions/rollback`, {})).status).toBe(409);
    const list = await api<{ active: string; versions: VersionBody[] }>(
      "GET",
      `/v1/namespaces/${ns}/versions`,
    );
    expect(list.body.active).toBe("v1");
    expect(list.body.versions).toHaveLength(1);
  });
});
