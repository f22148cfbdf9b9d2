// The scheduled quality watch: each run scores a bounded number of golden queries (the version
// gate's test set) on the active version of the namespaces least recently checked, and on a
// running experiment's candidate. A pass over the golden set may span several runs (its cursor and
// partial sum are stored); a completed pass adds one nDCG@10 point to the series. When the active
// version's latest point is below its activation value by more than the gate's tolerance, the drop
// alert is raised once (error log "quality.dropped") and cleared when a later pass recovers.
import { namespaceEmbedder } from "../cache/embedding-cache";
import { errorMessage } from "../errors";
import { sumNdcg } from "../migrations/gate";
import type { Plan } from "../observe/invocation-budget";
import type { Logger } from "../observe/logger";
import type { SearchDeps } from "../search/search";
import type { CoordinatorClient } from "./coordinator";
import type { GoldenQuery, VersionSpec } from "./model";
import { type QualityVersionRow, qualityDropped } from "./quality";
import type { VersionServices } from "./services";

/**
 * What one scheduled run may spend. Each golden query is one search: an embedding (Workers AI or
 * its cache), a vector query, and the D1 reads of hydration. The Free plan allows 50 D1 queries
 * per invocation (https://developers.cloudflare.com/d1/platform/limits/, "Queries per Worker
 * invocation"), most of which the health check and its repairs already use; Paid allows 1,000, and
 * 10,000 subrequests (https://developers.cloudflare.com/workers/platform/limits/#subrequests).
 * Besides the searches, a run costs 1 D1 query to read its state and one batch of at most
 * 1 + 2 statements per version scored (namespace, version, point) to write it.
 */
export const QUALITY_LIMITS = {
  /** Golden queries scored per run, across namespaces and versions. */
  queries: { paid: 40, free: 1 } satisfies Record<Plan, number>,
  /** Namespaces visited per run, least recently checked first. */
  namespaces: { paid: 10, free: 1 } satisfies Record<Plan, number>,
  /** A version's next pass starts this long after its last one completed. */
  intervalMs: 3_600_000,
} as const;

export interface QualityWatchDeps {
  /** The control database (migrations/0021_quality_watch.sql). */
  db: D1Database;
  coordinator: (namespace: string) => Pick<CoordinatorClient, "pointer" | "goldenQueries">;
  versions: Pick<VersionServices, "embedder" | "index">;
  /** What scoring searches with besides the version's embedder and index. */
  search: Pick<SearchDeps, "store" | "db" | "logger" | "guard">;
  /** The quality gate's tolerance: the drop the alert allows below the activation value. */
  tolerance: number;
  logger: Logger;
}

export interface QualityWatchLimits {
  queries: number;
  namespaces: number;
  intervalMs: number;
}

export interface QualityWatchResult {
  /** Golden queries searched by this run. */
  scored: number;
  /** Passes completed by this run. */
  measured: { namespace: string; version: string; ndcg: number }[];
  /** Namespaces whose active version is below its activation value (the alert is raised): its id. */
  dropped: Map<string, string>;
}

const encoder = new TextEncoder();

/** A digest of the golden set: a pass restarts when the set it scores changes. */
async function goldenDigest(golden: readonly GoldenQuery[]): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(JSON.stringify(golden)));
  return [...new Uint8Array(digest, 0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function freshRow(namespace: string, version: string): QualityVersionRow {
  return {
    namespace,
    version,
    activation_ndcg: null,
    activation_source: null,
    activated_at: null,
    mode: "vector",
    golden_digest: null,
    next_query: 0,
    score_sum: 0,
    pass_started_at: null,
    measured_at: null,
    alerting: 0,
    alerted_at: null,
  };
}

/** What one run carries from namespace to namespace: its allowance, writes and findings. */
interface Run {
  now: number;
  limits: QualityWatchLimits;
  allowance: number;
  writes: D1PreparedStatement[];
  result: QualityWatchResult;
}

export async function watchQuality(
  deps: QualityWatchDeps,
  limits: QualityWatchLimits,
  now = Date.now(),
): Promise<QualityWatchResult> {
  const { db } = deps;
  // One query: the namespaces due (least recently checked first) with their versions' rows (a
  // namespace without any has one row of nulls), and every version whose alert is raised.
  const { results } = await db
    .prepare(
      `SELECT d.namespace AS due, v.* FROM
         (SELECT namespace FROM quality_namespaces ORDER BY checked_at, namespace LIMIT ?1) d
         LEFT JOIN quality_versions v ON v.namespace = d.namespace
       UNION ALL
       SELECT NULL AS due, v.* FROM quality_versions v WHERE v.alerting = 1`,
    )
    .bind(limits.namespaces)
    .all<{ due: string | null } & Partial<QualityVersionRow>>();
  const namespaces = [...new Set(results.flatMap((r) => (r.due === null ? [] : [r.due])))];
  const known = results.filter(
    (r): r is { due: string | null } & QualityVersionRow => typeof r.version === "string",
  );

  const run: Run = {
    now,
    limits,
    allowance: limits.queries,
    writes: [],
    result: { scored: 0, measured: [], dropped: new Map() },
  };
  // Alerts of namespaces this run does not visit stand as they are.
  for (const row of known) {
    if (row.alerting === 1 && !namespaces.includes(row.namespace))
      run.result.dropped.set(row.namespace, row.version);
  }
  for (const namespace of namespaces) {
    run.writes.push(
      db.prepare("UPDATE quality_namespaces SET checked_at = ?2 WHERE namespace = ?1").bind(namespace, now),
    );
    try {
      await visit(
        deps,
        run,
        namespace,
        known.filter((r) => r.namespace === namespace),
      );
    } catch (err) {
      deps.logger.warn("quality.watch_failed", { namespace, error: errorMessage(err) });
    }
  }
  if (run.writes.length > 0) await db.batch(run.writes);
  return run.result;
}

/** One namespace: its active version, and a running experiment's candidate. */
async function visit(deps: QualityWatchDeps, run: Run, namespace: string, rows: QualityVersionRow[]) {
  const coordinator = deps.coordinator(namespace);
  const [pointer, golden] = await Promise.all([coordinator.pointer(), coordinator.goldenQueries()]);
  // An alert on a version no longer active (rolled back, replaced) no longer stands.
  for (const row of rows) {
    if (row.alerting === 1 && row.version !== pointer.active.id) {
      run.writes.push(clearAlert(deps.db, row));
      deps.logger.info("quality.cleared", { namespace, version: row.version, reason: "no longer active" });
    }
  }
  if (golden.length === 0) return;
  const digest = await goldenDigest(golden);
  const targets: { spec: VersionSpec; active: boolean }[] = [{ spec: pointer.active, active: true }];
  if (pointer.experiment) targets.push({ spec: pointer.experiment.candidate, active: false });
  for (const { spec, active } of targets) {
    const row = { ...(rows.find((r) => r.version === spec.id) ?? freshRow(namespace, spec.id)) };
    if (await advance(deps, run, { spec, active, golden, digest }, row))
      run.writes.push(saveRow(deps.db, row));
    if (active && row.alerting === 1) run.result.dropped.set(namespace, spec.id);
  }
}

/**
 * Scores the next golden queries of a version's pass (starting one when due) within the run's
 * allowance; a completed pass adds a point and, for the active version, is judged. Answers whether
 * the row changed.
 */
async function advance(
  deps: QualityWatchDeps,
  run: Run,
  target: { spec: VersionSpec; active: boolean; golden: GoldenQuery[]; digest: string },
  row: QualityVersionRow,
): Promise<boolean> {
  const { spec, active, golden, digest } = target;
  const namespace = row.namespace;
  const inPass = row.pass_started_at !== null && row.golden_digest === digest;
  const passDue =
    row.measured_at === null ||
    run.now - row.measured_at >= run.limits.intervalMs ||
    row.golden_digest !== digest;
  if (!inPass && !passDue) return false;
  if (!inPass)
    Object.assign(row, { pass_started_at: run.now, next_query: 0, score_sum: 0, golden_digest: digest });
  const take = Math.min(run.allowance, golden.length - row.next_query);
  if (take > 0) {
    row.score_sum += await sumNdcg(
      {
        ...deps.search,
        embedder: namespaceEmbedder(deps.versions.embedder(spec), namespace),
        index: deps.versions.index(spec),
        version: spec.id,
      },
      namespace,
      golden.slice(row.next_query, row.next_query + take),
      row.mode,
    );
    row.next_query += take;
    run.allowance -= take;
    run.result.scored += take;
  }
  if (row.next_query < golden.length) return true;
  const ndcg = row.score_sum / golden.length;
  run.writes.push(recordPoint(deps.db, namespace, spec.id, { at: run.now, ndcg, queries: golden.length }));
  Object.assign(row, { measured_at: run.now, pass_started_at: null, next_query: 0, score_sum: 0 });
  run.result.measured.push({ namespace, version: spec.id, ndcg });
  if (active) judge(row, ndcg, deps.tolerance, deps.logger, run.now);
  deps.logger.info("quality.measured", {
    namespace,
    version: spec.id,
    role: active ? "active" : "candidate",
    ndcg,
    activationNdcg: active ? row.activation_ndcg : null,
    queries: golden.length,
  });
  return true;
}

/** Compares a completed pass of the active version with its activation value; raises or clears the alert. */
function judge(row: QualityVersionRow, ndcg: number, tolerance: number, logger: Logger, now: number): void {
  if (row.activation_ndcg === null) {
    // Activated before the watch knew it (or forced with nothing to compare): this is the value.
    Object.assign(row, { activation_ndcg: ndcg, activation_source: "first_measurement" });
    row.activated_at ??= now;
    return;
  }
  const fields = {
    namespace: row.namespace,
    version: row.version,
    ndcg,
    activationNdcg: row.activation_ndcg,
    activationSource: row.activation_source,
    tolerance,
  };
  const dropped = qualityDropped(ndcg, row.activation_ndcg, tolerance);
  if (dropped && row.alerting === 0) {
    Object.assign(row, { alerting: 1, alerted_at: now });
    logger.error("quality.dropped", fields);
  } else if (!dropped && row.alerting === 1) {
    Object.assign(row, { alerting: 0, alerted_at: null });
    logger.info("quality.recovered", fields);
  }
}

/** One point of the series; the insert's trigger keeps the retention bounds (QUALITY_RETENTION). */
function recordPoint(
  db: D1Database,
  namespace: string,
  version: string,
  point: { at: number; ndcg: number; queries: number },
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO quality_points (namespace, version, at, ndcg, queries) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT (namespace, version, at) DO UPDATE SET ndcg = excluded.ndcg, queries = excluded.queries`,
    )
    .bind(namespace, version, point.at, point.ndcg, point.queries);
}

function saveRow(db: D1Database, r: QualityVersionRow): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO quality_versions (namespace, version, activation_ndcg, activation_source, activated_at, mode,
         golden_digest, next_query, score_sum, pass_started_at, measured_at, alerting, alerted_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
       ON CONFLICT (namespace, version) DO UPDATE SET
         activation_ndcg = COALESCE(quality_versions.activation_ndcg, excluded.activation_ndcg),
         activation_source = COALESCE(quality_versions.activation_source, excluded.activation_source),
         activated_at = COALESCE(quality_versions.activated_at, excluded.activated_at),
         golden_digest = excluded.golden_digest, next_query = excluded.next_query,
         score_sum = excluded.score_sum, pass_started_at = excluded.pass_started_at,
         measured_at = excluded.measured_at, alerting = excluded.alerting, alerted_at = excluded.alerted_at`,
    )
    .bind(
      r.namespace,
      r.version,
      r.activation_ndcg,
      r.activation_source,
      r.activated_at,
      r.mode,
      r.golden_digest,
      r.next_query,
      r.score_sum,
      r.pass_started_at,
      r.measured_at,
      r.alerting,
      r.alerted_at,
    );
}

function clearAlert(db: D1Database, row: QualityVersionRow): D1PreparedStatement {
  return db
    .prepare(
      "UPDATE quality_versions SET alerting = 0, alerted_at = NULL WHERE namespace = ?1 AND version = ?2",
    )
    .bind(row.namespace, row.version);
}
