// Metrics: one Analytics Engine data point per search, per ingested document and per namespace
// health check. The dataset is indexed by namespace so per-namespace queries stay cheap. The
// positions below are a schema: queries (src/observe/analytics-sql.ts, docs/observability.md)
// read them by number, so fields are only ever appended.
import { truncateUtf8 } from "../util/encoding";
import { AE_BLOB_BYTES, AE_MAX_INDEX_BYTES, AE_MAX_POINTS_PER_INVOCATION } from "./analytics-limits";
import type { CostCounters } from "./cost-counters";
import { countersBlob, INGEST_COUNTER_DOUBLES, SEARCH_COUNTER_DOUBLES } from "./cost-schema";
import type { Meter } from "./meter";

/** Search stages timed for Server-Timing and metrics, in pipeline order. */
export const SEARCH_STAGES = [
  "auth",
  "cache",
  "embed",
  "vector",
  "keyword",
  "fuse",
  "rerank",
  "hydrate",
  "facets",
] as const;
export type SearchStage = (typeof SEARCH_STAGES)[number];

export interface SearchEvent {
  namespace: string;
  mode: string;
  status: number;
  results: number;
  /** Cache layer that answered: isolate, cache-api, miss or bypass ("none" when it failed first). */
  cache: string;
  degraded: string[];
  totalMs: number;
  embedMs: number;
  vectorMs: number;
  hydrateMs: number;
  /** Every stage's time (ms); absent stages did not run. */
  stages?: Partial<Record<SearchStage, number>>;
  /** The Cloudflare location that answered (request.cf.colo), when known. */
  colo?: string;
  /** The error code of a failed search (problem+json `code`). */
  code?: string;
  /** The result cache's Cache API layer: "active" or "inactive:<reason>" (cache-api.ts). */
  cacheApi?: string;
  /** What the search cost up to its answer (meter.ts); work deferred past it is not in it. */
  counters?: CostCounters;
}

export interface IngestEvent {
  namespace: string;
  outcome: "indexed" | "failed" | "deleted" | "skipped" | "retry" | "ignored" | "deferred";
  chunks: number;
  bytes: number;
  totalMs: number;
  /** Milliseconds from the write (event time) to the document being indexed. */
  lagMs: number;
  /** Delivery attempts of the queue message (1 on first delivery). */
  attempts?: number;
  /** What the document cost until this point was written (meter.ts). */
  counters?: CostCounters;
  /** Personal data replaced in the indexed text, by kind (src/redaction/). */
  redactions?: Partial<Record<string, number>>;
}

export interface HealthEvent {
  namespace: string;
  state: "ok" | "warn" | "fail";
  /** Problem codes, e.g. "stuck_queued", "dead_letters", "chunk_mismatch", "missing_vectors". */
  problems: string[];
  indexedDocuments: number;
  d1Chunks: number;
  expectedChunks: number;
  stuckQueued: number;
  deadLetters: number;
  sampledVectors: number;
  missingVectors: number;
  /** Stuck documents re-enqueued by this check, and those marked failed after too many. */
  requeued?: number;
  abandoned?: number;
  /** Transient dead letters replayed by this check. */
  replayed?: number;
  /** Vectors upserted again, orphan vectors deleted, keyword rows repaired, documents re-indexed. */
  repairedVectors?: number;
  orphanVectors?: number;
  keywordRepairs?: number;
  reindexed?: number;
  /** Vector, orphan and keyword repairs given up on. */
  repairsAbandoned?: number;
  /** Scheduled backups started and failed, and backups pruned, by this run (src/backup/schedule.ts). */
  backupsStarted?: number;
  backupsFailed?: number;
  backupsPruned?: number;
  /** 1 while the namespace's active version is below its activation nDCG@10 (the quality drop alert). */
  qualityDrop?: number;
}

export interface Metrics {
  search(e: SearchEvent): void;
  ingest(e: IngestEvent): void;
}

const r1 = (ms: number | undefined) => Math.round((ms ?? 0) * 10) / 10;
const counterDoubles = (names: readonly (keyof CostCounters)[], c: CostCounters | undefined) =>
  names.map((name) => c?.[name] ?? 0);

/** Redaction counts as "kind=n" joined by ",", in a fixed order (empty when none). */
export function redactionsBlob(counts: Partial<Record<string, number>> | undefined): string {
  if (!counts) return "";
  return Object.keys(counts)
    .sort()
    .filter((k) => (counts[k] ?? 0) > 0)
    .map((k) => `${k}=${counts[k]}`)
    .join(",");
}

/**
 * Analytics Engine schema (index1 = namespace in every point).
 * Searches: blob1 "search", blob2 namespace, blob3 mode, blob4 cache layer, blob5 degraded
 * reasons (comma-joined), blob6 colo, blob7 error code, blob8 Cache API layer; double1 status, double2 results,
 * double3 total ms, double4 embed ms, double5 vector ms, double6 hydrate ms, double7 auth ms,
 * double8 cache ms, double9 keyword ms, double10 fuse ms, double11 rerank ms, blob9 the cost
 * counters (countersBlob), double12..double20 the SEARCH_COUNTER_DOUBLES.
 * Ingest: blob1 "ingest", blob2 namespace, blob3 outcome, blob4 the cost counters (countersBlob),
 * blob5 personal data redacted by kind ("email=2,phone=1"; empty when none);
 * double1 chunks, double2 bytes, double3 total ms, double4 lag ms, double5 attempts,
 * double6..double20 the INGEST_COUNTER_DOUBLES.
 * Health: blob1 "health", blob2 namespace, blob3 state, blob4 problems (comma-joined);
 * double1 indexed documents, double2 D1 chunks, double3 expected chunks, double4 stuck queued,
 * double5 dead letters, double6 sampled vectors, double7 missing vectors, double8 stuck documents
 * re-enqueued, double9 stuck documents marked failed (src/observe/repair.ts), double10 transient
 * dead letters replayed (src/observe/dead-letter-replay.ts), double11 missing vectors upserted
 * again (src/observe/vector-repair.ts), double12 orphan vectors deleted, double13 keyword rows
 * repaired, double14 documents re-indexed for lost chunk rows (src/observe/orphan-repair.ts),
 * double15 vector, orphan and keyword repairs given up on, double16 scheduled backups started,
 * double17 scheduled backups reported failed, double18 backups pruned (src/backup/schedule.ts).
 *
 * Every point fits Analytics Engine's limits: the index is cut to 96 bytes and each blob to 800
 * (twenty fit the 16,000-byte total), on a character boundary, so a long error code or problem
 * list is shortened, never refused. One instance serves one invocation and writes at most 250
 * points (the platform throws past that); later ones are dropped and counted in `dropped`.
 */
export class AnalyticsEngineMetrics implements Metrics {
  private written = 0;
  /** Points not written because this invocation had written AE_MAX_POINTS_PER_INVOCATION. */
  dropped = 0;

  constructor(private readonly dataset: AnalyticsEngineDataset) {}

  private write(index: string, blobs: string[], doubles: number[]): void {
    if (this.written >= AE_MAX_POINTS_PER_INVOCATION) {
      this.dropped += 1;
      return;
    }
    this.written += 1;
    this.dataset.writeDataPoint({
      indexes: [truncateUtf8(index, AE_MAX_INDEX_BYTES)],
      blobs: blobs.map((b) => truncateUtf8(b, AE_BLOB_BYTES)),
      doubles,
    });
  }

  search(e: SearchEvent): void {
    const s = e.stages ?? {};
    this.write(
      e.namespace,
      [
        "search",
        e.namespace,
        e.mode,
        e.cache,
        e.degraded.join(","),
        e.colo ?? "",
        e.code ?? "",
        e.cacheApi ?? "",
        countersBlob(e.counters),
      ],
      [
        e.status,
        e.results,
        r1(e.totalMs),
        r1(s.embed ?? e.embedMs),
        r1(s.vector ?? e.vectorMs),
        r1(s.hydrate ?? e.hydrateMs),
        r1(s.auth),
        r1(s.cache),
        r1(s.keyword),
        r1(s.fuse),
        r1(s.rerank),
        ...counterDoubles(SEARCH_COUNTER_DOUBLES, e.counters),
      ],
    );
  }

  ingest(e: IngestEvent): void {
    this.write(
      e.namespace,
      ["ingest", e.namespace, e.outcome, countersBlob(e.counters), redactionsBlob(e.redactions)],
      [
        e.chunks,
        e.bytes,
        r1(e.totalMs),
        r1(e.lagMs),
        e.attempts ?? 0,
        ...counterDoubles(INGEST_COUNTER_DOUBLES, e.counters),
      ],
    );
  }

  health(e: HealthEvent): void {
    this.write(
      e.namespace,
      ["health", e.namespace, e.state, e.problems.join(",")],
      [
        e.indexedDocuments,
        e.d1Chunks,
        e.expectedChunks,
        e.stuckQueued,
        e.deadLetters,
        e.sampledVectors,
        e.missingVectors,
        e.requeued ?? 0,
        e.abandoned ?? 0,
        e.replayed ?? 0,
        e.repairedVectors ?? 0,
        e.orphanVectors ?? 0,
        e.keywordRepairs ?? 0,
        e.reindexed ?? 0,
        e.repairsAbandoned ?? 0,
        e.backupsStarted ?? 0,
        e.backupsFailed ?? 0,
        e.backupsPruned ?? 0,
        e.qualityDrop ?? 0,
      ],
    );
  }
}

/**
 * `metrics` with each point's counters taken from `meter` when the event has none: a search's
 * from the whole request, an ingest point's from its document's scope (Meter.scope; none outside
 * one, as for messages sent back by fairness).
 */
export function withCounters(metrics: Metrics, meter: Meter): Metrics {
  return {
    search: (e) => metrics.search({ ...e, counters: e.counters ?? meter.total() }),
    ingest: (e) => metrics.ingest({ ...e, counters: e.counters ?? meter.scoped() }),
  };
}
