// Index health: whether what D1 says is indexed is really searchable. Per namespace: documents
// stuck in `queued`, dead letters not replayed, indexed documents missing chunk rows, and a sample
// of chunk ids looked up in the vector index. Vectorize's describe() counts vectors for the whole
// index only, so the per-namespace vector check is a sample, and the count check is global.
import { z } from "zod";
import { D1_LIMITS } from "../store/d1-limits";
import { getVectors } from "../vectors/paging";
import type { HealthEvent } from "./metrics";

export type HealthState = "ok" | "warn" | "fail";

/**
 * D1's maximum database size: 10 GB on Workers Paid, 500 MB on Free; past it writes fail
 * (https://developers.cloudflare.com/d1/platform/limits/, "Maximum database size").
 */
export const D1_MAX_DATABASE_BYTES = { paid: D1_LIMITS.maxDatabaseBytes, free: 500_000_000 } as const;
/** The share of that size at which the check warns ("database_size_high"): time to act. */
export const D1_SIZE_WARN_RATIO = 0.8;

export const NamespaceHealthSchema = z.object({
  checkedAt: z.string(),
  state: z.enum(["ok", "warn", "fail"]),
  problems: z.array(z.string()),
  indexedDocuments: z.number(),
  queued: z.number(),
  stuckQueued: z.number(),
  failed: z.number(),
  d1Chunks: z.number(),
  expectedChunks: z.number(),
  deadLetters: z.number(),
  sampledVectors: z.number(),
  missingVectors: z.number(),
  /** Stuck documents the check re-enqueued, and those it marked failed (src/observe/repair.ts). */
  requeued: z.number().default(0),
  abandoned: z.number().default(0),
  /** Transient dead letters the check replayed (src/observe/dead-letter-replay.ts). */
  replayed: z.number().default(0),
  /** Missing vectors embedded again and upserted (src/observe/vector-repair.ts). */
  repairedVectors: z.number().default(0),
  /** Vectors of deleted documents removed (src/observe/orphan-repair.ts). */
  orphanVectors: z.number().default(0),
  /** Keyword rows added back or removed (a table rebuilt counts its rows without a chunk). */
  keywordRepairs: z.number().default(0),
  /** Indexed documents whose chunk rows were gone, sent to be indexed again. */
  reindexed: z.number().default(0),
  /** Vector, orphan and keyword repairs given up on (each alerted once, at error). */
  repairsAbandoned: z.number().default(0),
  /** Scheduled backups started, failed, and backups pruned by retention (src/backup/schedule.ts). */
  backupsStarted: z.number().default(0),
  backupsFailed: z.number().default(0),
  backupsPruned: z.number().default(0),
  /** 1 while the active version's nDCG@10 is below its activation value (src/versions/quality-watch.ts). */
  qualityDrop: z.number().default(0),
});
export type NamespaceHealth = z.infer<typeof NamespaceHealthSchema> & { namespace: string };

export interface IndexTotals {
  checkedAt: string;
  state: HealthState;
  problems: string[];
  vectorCount: number | null;
  expectedVectors: number;
  namespaces: number;
  namespacesChecked: number;
  /** The D1 database's size as D1 reports it (`meta.size_after`), null when it does not. */
  databaseBytes: number | null;
  databaseLimitBytes: number;
}

export interface IndexHealthReport {
  totals: IndexTotals;
  namespaces: NamespaceHealth[];
}

export interface HealthCheckDeps {
  /** The control database (dead letters). */
  db: D1Database;
  /** Every database namespaces' documents are in (the pool); DB alone when not given. */
  databases?: readonly D1Database[];
  index: {
    getByIds(ids: string[]): Promise<{ id: string }[]>;
    describe(): Promise<{ vectorCount: number }>;
  };
}

export interface HealthCheckOptions {
  now?: number;
  /** A document queued longer than this is stuck. */
  stuckAfterMs: number;
  /** Chunk ids looked up in the vector index per namespace. */
  sampleSize?: number;
  /** Vector writes become visible asynchronously: chunks indexed more recently are not sampled. */
  settleMs?: number;
  /** Namespaces checked per run (the most recently updated first). */
  maxNamespaces?: number;
  /** The plan's D1 database size limit (default Paid's); warns at D1_SIZE_WARN_RATIO of it. */
  databaseLimitBytes?: number;
}

interface DocumentCounts {
  /** The database of the pool the namespace's rows are in. */
  db: D1Database;
  bounds: { lo: number | null; hi: number | null };
  namespace: string;
  indexed: number;
  queued: number;
  stuck: number;
  failed: number;
  expected: number;
  vectors: number;
  updated: number;
}

/** The state a set of problem codes amounts to: anything that hides documents from search fails. */
export function healthState(problems: readonly string[]): HealthState {
  if (problems.some((p) => p === "stuck_queued" || p === "missing_vectors" || p === "missing_chunks")) {
    return "fail";
  }
  return problems.length > 0 ? "warn" : "ok";
}

export async function checkIndexHealth(
  deps: HealthCheckDeps,
  options: HealthCheckOptions,
): Promise<IndexHealthReport> {
  const now = options.now ?? Date.now();
  const checkedAt = new Date(now).toISOString();
  const d1 = await readD1Counts(deps.db, deps.databases ?? [deps.db], now - options.stuckAfterMs);
  const checked = d1.counts.slice(0, options.maxNamespaces ?? 200);
  const sampling = { size: options.sampleSize ?? 20, indexedBefore: now - (options.settleMs ?? 60_000) };
  const namespaces: NamespaceHealth[] = [];
  for (const c of checked) namespaces.push(await checkNamespace(deps, d1, c, sampling, checkedAt));
  const totals = await checkTotals(deps, d1, namespaces, {
    checkedAt,
    namespacesChecked: checked.length,
    databaseLimitBytes: options.databaseLimitBytes ?? D1_MAX_DATABASE_BYTES.paid,
  });
  return { totals, namespaces };
}

/** What D1 holds, per namespace: one batch per database of the pool, and the dead letters. */
interface D1Counts {
  /** The most recently updated namespace first. */
  counts: DocumentCounts[];
  chunkRows: Map<string, number>;
  /** Dead letters not replayed; "" holds those without a namespace. */
  deadRows: Map<string, number>;
  /** The largest database's size, which every D1 result carries (after the statement). */
  databaseBytes: number | null;
}

async function readD1Counts(
  control: D1Database,
  databases: readonly D1Database[],
  stuckBefore: number,
): Promise<D1Counts> {
  const [dead, ...members] = await Promise.all([
    control
      .prepare(
        "SELECT COALESCE(namespace, '') AS namespace, COUNT(*) AS n FROM dead_letters WHERE replayed_at IS NULL GROUP BY 1",
      )
      .all<{ namespace: string; n: number }>(),
    ...databases.map((db) => readMemberCounts(db, stuckBefore)),
  ]);
  const sizes = members.flatMap((m) => (m.bytes === null ? [] : [m.bytes]));
  return {
    counts: members.flatMap((m) => m.counts).sort((a, b) => b.updated - a.updated),
    chunkRows: new Map(members.flatMap((m) => [...m.chunkRows])),
    deadRows: new Map(dead.results.map((r) => [r.namespace, r.n])),
    databaseBytes: sizes.length > 0 ? Math.max(...sizes) : null,
  };
}

async function readMemberCounts(db: D1Database, stuckBefore: number) {
  const [docs, chunks, range] = await db.batch([
    db
      .prepare(
        `SELECT namespace,
           SUM(status = 'indexed') AS indexed, SUM(status = 'queued') AS queued,
           SUM(status = 'queued' AND updated_at < ?1) AS stuck, SUM(status = 'failed') AS failed,
           SUM(CASE WHEN status = 'indexed' THEN chunk_count ELSE 0 END) AS expected,
           SUM(chunk_count) AS vectors, MAX(updated_at) AS updated
         FROM documents GROUP BY namespace`,
      )
      .bind(stuckBefore),
    db.prepare("SELECT namespace, COUNT(*) AS n FROM chunks GROUP BY namespace"),
    db.prepare("SELECT MIN(rowid) AS lo, MAX(rowid) AS hi FROM chunks"),
  ]);
  const bounds = (range?.results?.[0] ?? { lo: 0, hi: 0 }) as { lo: number | null; hi: number | null };
  const rows = (docs?.results ?? []) as Omit<DocumentCounts, "db" | "bounds">[];
  return {
    counts: rows.map((r): DocumentCounts => ({ ...r, db, bounds })),
    chunkRows: ((chunks?.results ?? []) as { namespace: string; n: number }[]).map(
      (r) => [r.namespace, r.n] as const,
    ),
    bytes: docs?.meta?.size_after ?? null,
  };
}

/** One namespace's health: its D1 counts, and a sample of its chunk ids looked up in the index. */
async function checkNamespace(
  deps: HealthCheckDeps,
  d1: D1Counts,
  c: DocumentCounts,
  sampling: { size: number; indexedBefore: number },
  checkedAt: string,
): Promise<NamespaceHealth> {
  const sample = await sampleChunks(c.db, c.namespace, c.bounds, sampling.size, sampling.indexedBefore);
  let missing = 0;
  if (sample.length > 0) {
    const found = new Set((await getVectors(deps.index, sample)).map((v) => v.id));
    missing = sample.filter((id) => !found.has(id)).length;
  }
  const d1Chunks = d1.chunkRows.get(c.namespace) ?? 0;
  const deadLetters = d1.deadRows.get(c.namespace) ?? 0;
  const problems: string[] = [];
  if (c.stuck > 0) problems.push("stuck_queued");
  if (missing > 0) problems.push("missing_vectors");
  // Every indexed version has chunk_count rows; more rows (a version being built) is fine.
  if (d1Chunks < c.expected) problems.push("missing_chunks");
  if (deadLetters > 0) problems.push("dead_letters");
  return {
    namespace: c.namespace,
    checkedAt,
    state: healthState(problems),
    problems,
    indexedDocuments: c.indexed,
    queued: c.queued,
    stuckQueued: c.stuck,
    failed: c.failed,
    d1Chunks,
    expectedChunks: c.expected,
    deadLetters,
    sampledVectors: sample.length,
    missingVectors: missing,
    requeued: 0,
    abandoned: 0,
    replayed: 0,
    repairedVectors: 0,
    orphanVectors: 0,
    keywordRepairs: 0,
    reindexed: 0,
    repairsAbandoned: 0,
    backupsStarted: 0,
    backupsFailed: 0,
    backupsPruned: 0,
    qualityDrop: 0,
  };
}

/**
 * A namespace's entry with nothing checked, for a finding about a namespace outside the checked
 * set (one with a backup policy but no documents, or past maxNamespaces): added to the report so
 * that the finding is stored and emitted like any other.
 */
export function uncheckedHealth(report: IndexHealthReport, namespace: string): NamespaceHealth {
  const found = report.namespaces.find((n) => n.namespace === namespace);
  if (found) return found;
  const health: NamespaceHealth = {
    ...NamespaceHealthSchema.parse({
      checkedAt: report.totals.checkedAt,
      state: "ok",
      problems: [],
      indexedDocuments: 0,
      queued: 0,
      stuckQueued: 0,
      failed: 0,
      d1Chunks: 0,
      expectedChunks: 0,
      deadLetters: 0,
      sampledVectors: 0,
      missingVectors: 0,
    }),
    namespace,
  };
  report.namespaces.push(health);
  return health;
}

/** The whole index's health: vector count against D1's, database size, namespaces' states. */
async function checkTotals(
  deps: HealthCheckDeps,
  d1: D1Counts,
  namespaces: readonly NamespaceHealth[],
  run: { checkedAt: string; namespacesChecked: number; databaseLimitBytes: number },
): Promise<IndexTotals> {
  const expectedVectors = d1.counts.reduce((n, c) => n + c.vectors, 0);
  const problems: string[] = [];
  let vectorCount: number | null = null;
  try {
    vectorCount = (await deps.index.describe()).vectorCount;
    // Vectorize counts asynchronously; only a shortfall beyond 1% (and 10 vectors) is a finding.
    if (vectorCount < expectedVectors * 0.99 - 10) problems.push("vector_count_low");
  } catch {
    problems.push("index_unavailable");
  }
  const { databaseBytes } = d1;
  if (databaseBytes !== null && databaseBytes >= run.databaseLimitBytes * D1_SIZE_WARN_RATIO) {
    problems.push("database_size_high");
  }
  const orphanDeadLetters = d1.deadRows.get("") ?? 0;
  if (orphanDeadLetters > 0) problems.push("dead_letters");
  if (namespaces.some((n) => n.state === "fail")) problems.push("namespaces_failing");
  return {
    checkedAt: run.checkedAt,
    state: problems.includes("namespaces_failing") ? "fail" : healthState(problems),
    problems,
    vectorCount,
    expectedVectors,
    namespaces: d1.counts.length,
    namespacesChecked: run.namespacesChecked,
    databaseBytes,
    databaseLimitBytes: run.databaseLimitBytes,
  };
}

/**
 * Up to `size` chunk ids of the namespace from a random point of the rowid space (wrapping
 * around), of documents indexed before `indexedBefore`: one index range read, not a full scan.
 */
async function sampleChunks(
  db: D1Database,
  namespace: string,
  bounds: { lo: number | null; hi: number | null },
  size: number,
  indexedBefore: number,
): Promise<string[]> {
  if (bounds.lo === null || bounds.hi === null || size <= 0) return [];
  const start = bounds.lo + Math.floor(Math.random() * (bounds.hi - bounds.lo + 1));
  const query = (op: string) =>
    db
      .prepare(
        `SELECT c.chunk_id FROM chunks c JOIN documents d ON d.namespace = c.namespace AND d.id = c.doc_id
         WHERE c.namespace = ?1 AND c.rowid ${op} ?2 AND d.status = 'indexed' AND d.indexed_at < ?3
         ORDER BY c.rowid LIMIT ?4`,
      )
      .bind(namespace, start, indexedBefore, size);
  const first = await query(">=").all<{ chunk_id: string }>();
  const ids = first.results.map((r) => r.chunk_id);
  if (ids.length < size) {
    const rest = await query("<").all<{ chunk_id: string }>();
    for (const r of rest.results) if (ids.length < size) ids.push(r.chunk_id);
  }
  return ids;
}

export function healthEvent(h: NamespaceHealth): HealthEvent {
  return {
    namespace: h.namespace,
    state: h.state,
    problems: h.problems,
    indexedDocuments: h.indexedDocuments,
    d1Chunks: h.d1Chunks,
    expectedChunks: h.expectedChunks,
    stuckQueued: h.stuckQueued,
    deadLetters: h.deadLetters,
    sampledVectors: h.sampledVectors,
    missingVectors: h.missingVectors,
    requeued: h.requeued,
    abandoned: h.abandoned,
    replayed: h.replayed,
    repairedVectors: h.repairedVectors,
    orphanVectors: h.orphanVectors,
    keywordRepairs: h.keywordRepairs,
    reindexed: h.reindexed,
    repairsAbandoned: h.repairsAbandoned,
    backupsStarted: h.backupsStarted,
    backupsFailed: h.backupsFailed,
    backupsPruned: h.backupsPruned,
    qualityDrop: h.qualityDrop,
  };
}

/** Stores the findings (one row per namespace, '' for the totals), replacing the previous run's. */
export async function storeIndexHealth(
  db: D1Database,
  report: IndexHealthReport,
  now = Date.now(),
): Promise<void> {
  const upsert = db.prepare(
    `INSERT INTO index_health (namespace, checked_at, state, findings) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (namespace) DO UPDATE SET checked_at = excluded.checked_at, state = excluded.state,
       findings = excluded.findings`,
  );
  const statements = [
    upsert.bind("", now, report.totals.state, JSON.stringify(report.totals)),
    ...report.namespaces.map(({ namespace, ...h }) =>
      upsert.bind(namespace, now, h.state, JSON.stringify(h)),
    ),
    // Namespaces that no longer have documents drop out.
    db.prepare("DELETE FROM index_health WHERE checked_at < ?1").bind(now),
  ];
  await db.batch(statements);
}

/** The last stored findings for a namespace, or null before the first check. */
export async function readNamespaceHealth(db: D1Database, namespace: string) {
  const row = await db
    .prepare("SELECT findings FROM index_health WHERE namespace = ?1")
    .bind(namespace)
    .first<{ findings: string }>();
  if (!row) return null;
  const parsed = NamespaceHealthSchema.safeParse(JSON.parse(row.findings));
  return parsed.success ? parsed.data : null;
}

/** The last stored totals, or null before the first check. */
export async function readIndexTotals(db: D1Database): Promise<IndexTotals | null> {
  const row = await db
    .prepare("SELECT findings FROM index_health WHERE namespace = ''")
    .first<{ findings: string }>();
  return row ? (JSON.parse(row.findings) as IndexTotals) : null;
}
