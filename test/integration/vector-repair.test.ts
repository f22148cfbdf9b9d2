// Self-repair of the vector and keyword indexes through the scheduled handler: each invariant is
// broken behind the service's back (vectors deleted in the index, a keyword row deleted, chunk
// rows deleted under their vectors and keyword rows, a delete the consumer never finished), and
// the cron repairs it within two runs with no document lost and none found twice; a repair that
// keeps failing stops after its limit and logs the alert.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config";
import { chunkIdPrefix, chunkIds } from "../../src/ingest/ids";
import { versionTarget, type WriteTarget } from "../../src/ingest/pipeline";
import { flushLocalMetrics } from "../../src/observe/local-dataset";
import { createLogger } from "../../src/observe/logger";
import { ORPHAN_REPAIR_LIMITS } from "../../src/observe/orphan-repair";
import {
  repairMissingVectors,
  VECTOR_REPAIR_LIMITS,
  VECTOR_SETTLE_MS,
} from "../../src/observe/vector-repair";
import { DocumentStore } from "../../src/store/documents";
import { keywordTable } from "../../src/store/keyword";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import type { WorkerEnv } from "../../workers/env";
import { buildServices } from "../../workers/services";
import { HeldQueue } from "../fakes/held-queue";
import { api, freshNamespace, waitFor, waitForStatus, writeIndexed } from "../support";
import { runCron } from "../support/cron";
import { deliverMessage } from "../support/queue";
import { searchUncached, waitVectorsApplied } from "../support/search";

const HOUR = 3600_000;
const MODES = ["keyword", "vector", "hybrid"] as const;

const index = () => new LocalVectorIndexClient(env.LOCAL_INDEX, loadConfig(env).vectorizeIndexName);

/** One cron run (the ingest queue replaced by `queue`), its vector writes applied; what it sent for `ns`. */
async function runCheck(ns: string, queue = new HeldQueue(), vars: Record<string, string> = {}) {
  const sent = await runCron(queue, ns, vars);
  await index().flush();
  return sent;
}

/** As if the namespace's writes and repairs had happened an hour ago (past every settle time). */
async function age(ns: string): Promise<void> {
  await env.DB.prepare(
    `UPDATE documents SET indexed_at = indexed_at - ?2, updated_at = updated_at - ?2,
       vector_repaired_at = vector_repaired_at - ?2 WHERE namespace = ?1`,
  )
    .bind(ns, HOUR)
    .run();
}

async function findings(ns: string) {
  const stats = await api<{ health: Record<string, unknown> | null }>("GET", `/v1/namespaces/${ns}`);
  return stats.body.health;
}

/** The document's vectors in the index: every id it could have, and a few past its end. */
async function vectorsOf(ns: string, id: string, upTo: number): Promise<string[]> {
  await index().flush();
  const ids = chunkIds(await chunkIdPrefix(ns, id), 0, upTo + 5);
  const found: string[] = [];
  for (let i = 0; i < ids.length; i += 20)
    found.push(...(await index().getByIds(ids.slice(i, i + 20))).map((v) => v.id));
  return found;
}

async function chunkCount(ns: string, id: string): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1 AND doc_id = ?2")
    .bind(ns, id)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** How many times each mode's search for `query` returns document `id`. */
async function timesFound(ns: string, query: string, id: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const mode of MODES) {
    const res = await searchUncached(ns, query, mode);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    out[mode] = res.body.results.filter((r) => r.id === id).length;
  }
  return out;
}

/** Writes documents through the API and waits until each one is indexed. */
function write(ns: string, docs: { id: string; text: string }[]): Promise<void> {
  return writeIndexed(ns, docs);
}

const ONCE = { keyword: 1, vector: 1, hybrid: 1 };

/** A document long enough for several chunks, about one subject. */
function longText(subject: string, paragraphs = 30): string {
  return Array.from(
    { length: paragraphs },
    (_, i) =>
      `Paragraph ${i} on ${subject}: field notes, measurements and the observers' remarks, written down at length for the record.`,
  ).join("\n\n");
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("self-repair of missing vectors", () => {
  it("upserts again the vectors deleted behind the service's back, once each, after the settle time", async () => {
    const ns = freshNamespace("vrepair");
    await write(ns, [
      { id: "petrels", text: longText("storm petrels") },
      { id: "lichens", text: "Lichens are a partnership of a fungus and an alga." },
    ]);
    await waitVectorsApplied(ns, "storm petrels", 2);
    const chunks = await chunkCount(ns, "petrels");
    expect(chunks).toBeGreaterThan(2);
    const ids = chunkIds(await chunkIdPrefix(ns, "petrels"), 0, chunks);
    await index().deleteByIds(ids.slice(0, 3));
    await index().flush();
    expect(await vectorsOf(ns, "petrels", chunks)).toHaveLength(chunks - 3);

    // Indexed moments ago: its vectors may still be applying, so the check leaves it alone.
    await runCheck(ns);
    expect(await findings(ns)).toMatchObject({ repairedVectors: 0 });

    await age(ns);
    await runCheck(ns);
    expect(await findings(ns)).toMatchObject({ repairedVectors: 3, repairsAbandoned: 0 });
    expect((await vectorsOf(ns, "petrels", chunks)).sort()).toEqual([...ids].sort());
    // The health point counts them (double11), and the dashboard shows them by the namespace.
    await flushLocalMetrics(env.DB);
    const point = await env.DB.prepare(
      "SELECT double11, double15 FROM local_metrics WHERE index1 = ?1 AND blob1 = 'health' ORDER BY id DESC",
    )
      .bind(ns)
      .first();
    expect(point).toEqual({ double11: 3, double15: 0 });
    const report = await api<{ health: { namespace: string; repairs: Record<string, number> }[] }>(
      "GET",
      "/v1/admin/metrics",
    );
    expect(report.body.health.find((h) => h.namespace === ns)?.repairs).toEqual({ repairedVectors: 3 });

    // The second run finds every vector in place: nothing more to repair.
    await age(ns);
    await runCheck(ns);
    expect(await findings(ns)).toMatchObject({ repairedVectors: 0, repairsAbandoned: 0 });
    expect(await vectorsOf(ns, "petrels", chunks)).toHaveLength(chunks);
    expect(await timesFound(ns, "storm petrels field notes", "petrels")).toEqual(ONCE);
    expect(await timesFound(ns, "lichens fungus alga", "lichens")).toEqual(ONCE);
  });

  it("stops after three attempts when embedding keeps failing, and logs the alert once", async () => {
    const ns = freshNamespace("vrepair-fail");
    await write(ns, [{ id: "doc", text: "Ospreys dive feet first to catch fish." }]);
    await waitVectorsApplied(ns, "ospreys", 1);
    await index().deleteByIds(chunkIds(await chunkIdPrefix(ns, "doc"), 0, 1));
    await index().flush();
    const faults = {
      FAULTS: JSON.stringify({ scope: "vrepair-fail", "workers-ai": { error: 1 } }),
    };
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => {
      errors.push(String(line));
    });
    for (let attempt = 1; attempt <= VECTOR_REPAIR_LIMITS.perDocument; attempt++) {
      await age(ns);
      await runCheck(ns, new HeldQueue(), faults);
      expect(await findings(ns)).toMatchObject({ repairedVectors: 0, repairsAbandoned: 0 });
    }
    await age(ns);
    await runCheck(ns, new HeldQueue(), faults);
    expect(await findings(ns)).toMatchObject({ repairedVectors: 0, repairsAbandoned: 1 });
    const alerts = errors.filter((l) => l.includes("repair.vectors_abandoned"));
    expect(alerts).toHaveLength(1);
    expect(JSON.parse(alerts[0] ?? "{}")).toMatchObject({ namespace: ns, docId: "doc" });
    expect(alerts[0]).not.toContain("Ospreys");

    // Given up on: later runs, even with Workers AI back, neither retry nor alert again.
    await age(ns);
    await runCheck(ns);
    expect(await findings(ns)).toMatchObject({ repairedVectors: 0, repairsAbandoned: 0 });
    expect(errors.filter((l) => l.includes("repair.vectors_abandoned"))).toHaveLength(1);
    expect(await vectorsOf(ns, "doc", 1)).toHaveLength(0);
  });
});

/** The chunk ids of a document in one version, from its rows. */
async function versionChunkIds(ns: string, id: string, version: string): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT chunk_id FROM chunks WHERE namespace = ?1 AND doc_id = ?2 AND version = ?3 ORDER BY idx",
  )
    .bind(ns, id, version)
    .all<{ chunk_id: string }>();
  return results.map((r) => r.chunk_id);
}

async function present(indexName: string, ids: readonly string[]): Promise<string[]> {
  const target = new LocalVectorIndexClient(env.LOCAL_INDEX, indexName);
  await target.flush();
  const found: string[] = [];
  for (let i = 0; i < ids.length; i += 20)
    found.push(...(await target.getByIds(ids.slice(i, i + 20))).map((v) => v.id));
  return found;
}

/** The repair itself, on DB, with the Worker's own services and `limits`. */
function repairDeps(wrap: (target: WriteTarget) => WriteTarget = (t) => t) {
  const config = loadConfig(env);
  const logger = createLogger("warn");
  const services = buildServices(env as unknown as WorkerEnv, config, logger, {
    defer: () => undefined,
    path: "ingest",
  });
  return {
    databases: [env.DB],
    logger,
    targets: async (namespace: string) =>
      (await services.versions.coordinator(namespace).writeTargets()).live.map((spec) =>
        wrap(versionTarget(services, spec)),
      ),
  };
}

describe("self-repair of missing vectors: versions, bounds, races", () => {
  it("repairs the vectors of a version being built or ready, in that version's own index", async () => {
    const ns = freshNamespace("vrepair-v2");
    await write(ns, [{ id: "auks", text: longText("auks and guillemots", 6) }]);
    const created = await api<{ index: string }>("POST", `/v1/namespaces/${ns}/versions`, {
      model: "@cf/baai/bge-large-en-v1.5",
    });
    expect(created.status).toBe(202);
    await waitFor("v2 to be ready", async () => {
      const v = await api<{ state: string }>("GET", `/v1/namespaces/${ns}/versions/v2`);
      return v.body.state === "ready";
    });
    const ids = await versionChunkIds(ns, "auks", "v2");
    expect(ids.length).toBeGreaterThan(0);
    await new LocalVectorIndexClient(env.LOCAL_INDEX, created.body.index).deleteByIds(ids);
    expect(await present(created.body.index, ids)).toEqual([]);
    await age(ns);

    await runCheck(ns);
    expect(await findings(ns)).toMatchObject({ repairedVectors: ids.length });
    expect((await present(created.body.index, ids)).sort()).toEqual([...ids].sort());
    await age(ns);
    await runCheck(ns);
    expect(await findings(ns)).toMatchObject({ repairedVectors: 0 });
  });

  it("embeds at most the run's chunks, the rest on the next run", async () => {
    const ns = freshNamespace("vrepair-bound");
    await write(ns, [{ id: "fulmars", text: longText("fulmars", 20) }]);
    await waitVectorsApplied(ns, "fulmars", 1);
    const ids = await versionChunkIds(ns, "fulmars", "v1");
    expect(ids.length).toBeGreaterThanOrEqual(3);
    await index().deleteByIds(ids.slice(0, 3));
    await index().flush();
    await age(ns);
    const deps = repairDeps();
    const later = () => Date.now() + VECTOR_SETTLE_MS + 1;
    const first = await repairMissingVectors(deps, { limits: { chunks: 2 } });
    expect(first.byNamespace.get(ns)).toEqual({ repairedVectors: 2, abandoned: 0 });
    await index().flush();
    const second = await repairMissingVectors(deps, { now: later(), limits: { chunks: 2 } });
    expect(second.byNamespace.get(ns)).toEqual({ repairedVectors: 1, abandoned: 0 });
    await index().flush();
    expect((await present(loadConfig(env).vectorizeIndexName, ids)).sort()).toEqual([...ids].sort());
    const third = await repairMissingVectors(deps, { now: later() + VECTOR_SETTLE_MS });
    expect(third.byNamespace.get(ns)).toBeUndefined();
  });

  it("marks a document rewritten during its repair, and embeds all of its chunks at its next check", async () => {
    const ns = freshNamespace("vrepair-race");
    await write(ns, [{ id: "eiders", text: longText("eider ducks", 6) }]);
    await waitVectorsApplied(ns, "eider", 1);
    const ids = await versionChunkIds(ns, "eiders", "v1");
    await index().deleteByIds(ids.slice(0, 1));
    await index().flush();
    await age(ns);
    // A newer write lands while the repair embeds: the API records its eTag first.
    const rewrite = () =>
      env.DB.prepare("UPDATE documents SET etag = 'newer', status = 'queued' WHERE namespace = ?1")
        .bind(ns)
        .run();
    const racing = repairDeps((target) => ({
      ...target,
      embedder: Object.assign(Object.create(target.embedder), {
        embed: async (texts: string[], kind: "document" | "query") => {
          await rewrite();
          return target.embedder.embed(texts, kind);
        },
      }),
    }));
    const raced = await repairMissingVectors(racing, {});
    expect(raced.byNamespace.get(ns)).toEqual({ repairedVectors: 1, abandoned: 0 });
    const row = await env.DB.prepare("SELECT vectors_suspect FROM documents WHERE namespace = ?1")
      .bind(ns)
      .first();
    expect(row).toEqual({ vectors_suspect: 1 });

    // The newer version is indexed (same chunk ids): its next check embeds every chunk again.
    await env.DB.prepare(
      "UPDATE documents SET etag = 'newer', indexed_etag = 'newer', status = 'indexed' WHERE namespace = ?1",
    )
      .bind(ns)
      .run();
    const next = await repairMissingVectors(repairDeps(), { now: Date.now() + 2 * VECTOR_SETTLE_MS });
    expect(next.byNamespace.get(ns)).toEqual({ repairedVectors: ids.length, abandoned: 0 });
    const after = await env.DB.prepare("SELECT vectors_suspect FROM documents WHERE namespace = ?1")
      .bind(ns)
      .first();
    expect(after).toEqual({ vectors_suspect: 0 });
  });
});

describe("self-repair of orphans", () => {
  it("indexes again a document whose chunk rows were deleted under its vectors and keyword rows", async () => {
    const ns = freshNamespace("orphan-chunks");
    await write(ns, [
      { id: "gannets", text: longText("gannets", 12) },
      { id: "puffins", text: "Puffins nest in burrows on grassy sea cliffs." },
    ]);
    await waitVectorsApplied(ns, "gannets", 2);
    const chunks = await chunkCount(ns, "gannets");
    await env.DB.prepare("DELETE FROM chunks WHERE namespace = ?1 AND doc_id = 'gannets'").bind(ns).run();
    await age(ns);

    const sent = await runCheck(ns);
    expect(sent.map((m) => m.object.key)).toEqual([`${ns}/gannets`]);
    expect(await findings(ns)).toMatchObject({ problems: ["missing_chunks"], reindexed: 1 });
    expect((await findings(ns))?.keywordRepairs).toBeGreaterThan(0);
    await deliverMessage(sent[0]);
    await waitForStatus(ns, "gannets", "indexed");
    expect(await chunkCount(ns, "gannets")).toBe(chunks);

    await age(ns);
    expect(await runCheck(ns)).toEqual([]);
    expect(await findings(ns)).toMatchObject({
      problems: [],
      reindexed: 0,
      keywordRepairs: 0,
      repairedVectors: 0,
    });
    expect(await vectorsOf(ns, "gannets", chunks)).toHaveLength(chunks);
    expect(await timesFound(ns, "gannets field notes", "gannets")).toEqual(ONCE);
    expect(await timesFound(ns, "puffins burrows cliffs", "puffins")).toEqual(ONCE);
  });

  it("indexes again a document that lost one chunk row from the middle", async () => {
    const ns = freshNamespace("orphan-gap");
    await write(ns, [{ id: "kittiwakes", text: longText("kittiwakes", 30) }]);
    await waitVectorsApplied(ns, "kittiwakes", 1);
    const chunks = await chunkCount(ns, "kittiwakes");
    expect(chunks).toBeGreaterThanOrEqual(3);
    await env.DB.prepare("DELETE FROM chunks WHERE namespace = ?1 AND doc_id = 'kittiwakes' AND idx = 1")
      .bind(ns)
      .run();
    await age(ns);

    const sent = await runCheck(ns);
    expect(sent.map((m) => m.object.key)).toEqual([`${ns}/kittiwakes`]);
    expect(await findings(ns)).toMatchObject({ reindexed: 1, keywordRepairs: 1 });
    await deliverMessage(sent[0]);
    await waitForStatus(ns, "kittiwakes", "indexed");
    await age(ns);
    expect(await runCheck(ns)).toEqual([]);
    expect(await findings(ns)).toMatchObject({ problems: [], reindexed: 0, keywordRepairs: 0 });
    expect(await chunkCount(ns, "kittiwakes")).toBe(chunks);
    expect(await vectorsOf(ns, "kittiwakes", chunks)).toHaveLength(chunks);
    expect(await timesFound(ns, "kittiwakes field notes", "kittiwakes")).toEqual(ONCE);
  });

  it("adds back a keyword row deleted behind the service's back", async () => {
    const ns = freshNamespace("orphan-keyword");
    await write(ns, [
      { id: "terns", text: "Arctic terns migrate from pole to pole every year." },
      { id: "skuas", text: "Skuas chase other seabirds to steal their catch." },
    ]);
    await waitVectorsApplied(ns, "terns", 2);
    const table = await keywordTable(ns);
    await env.DB.prepare(
      `INSERT INTO ${table} (${table}, rowid, title, text)
       SELECT 'delete', rowid, title, text FROM chunks WHERE namespace = ?1 AND doc_id = 'terns'`,
    )
      .bind(ns)
      .run();
    expect((await timesFound(ns, "arctic terns migrate", "terns")).keyword).toBe(0);

    await runCheck(ns);
    expect(await findings(ns)).toMatchObject({ keywordRepairs: 1, repairsAbandoned: 0 });
    await runCheck(ns);
    expect(await findings(ns)).toMatchObject({ keywordRepairs: 0 });
    expect(await timesFound(ns, "arctic terns migrate", "terns")).toEqual(ONCE);
    expect(await timesFound(ns, "skuas steal seabirds", "skuas")).toEqual(ONCE);
  });

  it("reports a keyword table too large to rebuild once, at error, and leaves it to an operator", async () => {
    const ns = freshNamespace("orphan-large");
    await write(ns, [{ id: "petrels", text: "Petrels patter on the water as they feed." }]);
    // Over the rows the check rebuilds, none of them indexed, and one keyword row left orphaned.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i <= ?2)
       INSERT INTO chunks (chunk_id, namespace, doc_id, version, idx, title, headings, text, tokens)
       SELECT ?1 || '-bulk-' || i, ?1, 'bulk', 'v1', i, NULL, '[]', 'filler', 1 FROM n`,
    )
      .bind(ns, ORPHAN_REPAIR_LIMITS.rebuildRows)
      .run();
    await env.DB.prepare("DELETE FROM chunks WHERE namespace = ?1 AND doc_id = 'petrels'").bind(ns).run();
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => {
      errors.push(String(line));
    });
    try {
      await runCheck(ns);
      expect(await findings(ns)).toMatchObject({ keywordRepairs: 0, repairsAbandoned: 1 });
      const alerts = errors.filter((l) => l.includes("repair.keyword_abandoned"));
      expect(alerts).toHaveLength(1);
      expect(JSON.parse(alerts[0] ?? "{}")).toMatchObject({ namespace: ns, orphans: 1 });
      await env.DB.prepare("UPDATE keyword_tables SET checked_at = 0 WHERE namespace = ?1").bind(ns).run();
      await runCheck(ns);
      expect(await findings(ns)).toMatchObject({ keywordRepairs: 0, repairsAbandoned: 0 });
      expect(errors.filter((l) => l.includes("repair.keyword_abandoned"))).toHaveLength(1);
    } finally {
      await env.DB.prepare("DELETE FROM chunks WHERE namespace = ?1").bind(ns).run();
    }
  });

  it("deletes the vectors of a deleted document whose delete the consumer never finished", async () => {
    const ns = freshNamespace("orphan-deleted");
    await write(ns, [
      { id: "gone", text: longText("cormorants", 8) },
      { id: "kept", text: "Shags are smaller cousins of the cormorants." },
    ]);
    await waitVectorsApplied(ns, "cormorants", 2);
    const chunks = await chunkCount(ns, "gone");
    // The API's half of a delete (rows gone at once), without the consumer's (vectors, then count).
    await new DocumentStore(env.DB).markDeleted(ns, ["gone"]);
    expect(await vectorsOf(ns, "gone", chunks)).toHaveLength(chunks);
    await age(ns);

    await runCheck(ns);
    expect(await findings(ns)).toMatchObject({ orphanVectors: chunks, repairsAbandoned: 0 });
    expect(await vectorsOf(ns, "gone", chunks)).toHaveLength(0);
    await age(ns);
    await runCheck(ns);
    expect(await findings(ns)).toMatchObject({ orphanVectors: 0 });
    const row = await env.DB.prepare("SELECT chunk_count FROM documents WHERE namespace = ?1 AND id = 'gone'")
      .bind(ns)
      .first();
    expect(row).toEqual({ chunk_count: 0 });
    expect(await timesFound(ns, "cormorants shags", "gone")).toEqual({ keyword: 0, vector: 0, hybrid: 0 });
    expect(await timesFound(ns, "shags cousins cormorants", "kept")).toEqual(ONCE);
  });
});
