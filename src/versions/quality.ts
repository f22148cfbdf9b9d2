// Quality watch records (migrations/0021_quality_watch.sql): each watched namespace's versions
// with their activation value, the scoring pass in progress and the drop alert, and the nDCG@10
// series the scheduled run measures (src/versions/quality-watch.ts).
import type { SearchMode } from "../search/search";
import type { GateReport } from "./model";

/** Where a version's activation value came from. */
export type ActivationSource = "gate" | "replaced" | "first_measurement";

/** The series' bounds, kept by the insert trigger of migrations/0021_quality_watch.sql (same figures). */
export const QUALITY_RETENTION = {
  /** Points older than this are deleted (every version of the namespace). */
  maxAgeMs: 30 * 86_400_000,
  /** And at most this many per version: 30 days of hourly passes (QUALITY_LIMITS.intervalMs). */
  maxPoints: 720,
} as const;

export interface QualityVersionRow {
  namespace: string;
  version: string;
  activation_ndcg: number | null;
  activation_source: ActivationSource | null;
  activated_at: number | null;
  mode: SearchMode;
  golden_digest: string | null;
  next_query: number;
  score_sum: number;
  pass_started_at: number | null;
  measured_at: number | null;
  alerting: number;
  alerted_at: number | null;
}

export interface QualityPoint {
  at: number;
  ndcg: number;
  queries: number;
}

/**
 * The value a newly active version's later measurements are held to. A version that passed its
 * gate is held to its own gate score. One activated with `force` past a failing gate is held to
 * the score of the version it replaced (the quality users had), so the first scheduled
 * measurement of a worse version raises the alert; without golden queries at activation, to the
 * replaced version's last measured value. Null: none known, the first measurement becomes it.
 */
export function activationValue(
  gate: GateReport,
  replacedLast: number | null,
): { ndcg: number; source: ActivationSource } | null {
  if (gate.queries > 0 && gate.passed) return { ndcg: gate.ndcg, source: "gate" };
  if (gate.queries > 0 && gate.activeNdcg !== null) return { ndcg: gate.activeNdcg, source: "replaced" };
  return replacedLast === null ? null : { ndcg: replacedLast, source: "replaced" };
}

/** Whether `ndcg` is below the activation value by more than the gate's tolerance. */
export function qualityDropped(ndcg: number, activation: number, tolerance: number): boolean {
  // A hair of slack so a score equal to the bound (floating-point sums) is not a drop.
  return activation - ndcg > tolerance + 1e-9;
}

/** Adds the namespace to those the scheduled run visits (idempotent). */
export function watchNamespace(db: D1Database, namespace: string): D1PreparedStatement {
  return db
    .prepare("INSERT INTO quality_namespaces (namespace) VALUES (?1) ON CONFLICT (namespace) DO NOTHING")
    .bind(namespace);
}

/**
 * Records the activation of `version` (replacing `replaced`): its activation value, the search mode
 * its gate used, a cleared alert, and a pass due at the next scheduled run; the namespace is
 * watched from now on.
 */
export async function recordActivation(
  db: D1Database,
  activation: { namespace: string; version: string; replaced: string; gate: GateReport; mode: SearchMode },
  now = Date.now(),
): Promise<{ ndcg: number; source: ActivationSource } | null> {
  const { namespace, version, replaced, gate, mode } = activation;
  const last =
    gate.queries > 0
      ? null
      : await db
          .prepare(
            "SELECT ndcg FROM quality_points WHERE namespace = ?1 AND version = ?2 ORDER BY at DESC LIMIT 1",
          )
          .bind(namespace, replaced)
          .first<{ ndcg: number }>();
  const value = activationValue(gate, last?.ndcg ?? null);
  await db.batch([
    watchNamespace(db, namespace),
    db
      .prepare(
        `INSERT INTO quality_versions (namespace, version, activation_ndcg, activation_source, activated_at, mode, alerting)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)
         ON CONFLICT (namespace, version) DO UPDATE SET activation_ndcg = excluded.activation_ndcg,
           activation_source = excluded.activation_source, activated_at = excluded.activated_at,
           mode = excluded.mode, alerting = 0, alerted_at = NULL, measured_at = NULL,
           pass_started_at = NULL, next_query = 0, score_sum = 0`,
      )
      .bind(namespace, version, value?.ndcg ?? null, value?.source ?? null, now, mode),
  ]);
  return value;
}

/** The namespace's watched versions with their series (oldest point first). */
export async function readQuality(
  db: D1Database,
  namespace: string,
): Promise<{ row: QualityVersionRow; points: QualityPoint[] }[]> {
  const [rows, points] = await db.batch<QualityVersionRow | (QualityPoint & { version: string })>([
    db.prepare("SELECT * FROM quality_versions WHERE namespace = ?1 ORDER BY version").bind(namespace),
    db
      .prepare(
        "SELECT version, at, ndcg, queries FROM quality_points WHERE namespace = ?1 ORDER BY version, at",
      )
      .bind(namespace),
  ]);
  const byVersion = new Map<string, QualityPoint[]>();
  for (const p of (points?.results ?? []) as (QualityPoint & { version: string })[]) {
    const list = byVersion.get(p.version) ?? [];
    list.push({ at: p.at, ndcg: p.ndcg, queries: p.queries });
    byVersion.set(p.version, list);
  }
  return ((rows?.results ?? []) as QualityVersionRow[]).map((row) => ({
    row,
    points: byVersion.get(row.version) ?? [],
  }));
}

export interface QualityChart {
  namespace: string;
  version: string;
  activationNdcg: number | null;
  alerting: boolean;
  /** Seconds since the epoch, oldest first. */
  points: { t: number; ndcg: number }[];
}

/**
 * The series of at most `limit` versions of the namespaces `covers` accepts, for the dashboard:
 * raised alerts first, then the most recently measured.
 */
export async function readQualityCharts(
  db: D1Database,
  covers: (namespace: string) => boolean,
  limit: number,
): Promise<QualityChart[]> {
  const { results: rows } = await db
    .prepare(
      `SELECT namespace, version, activation_ndcg, alerting FROM quality_versions
       WHERE measured_at IS NOT NULL ORDER BY alerting DESC, measured_at DESC`,
    )
    .all<Pick<QualityVersionRow, "namespace" | "version" | "activation_ndcg" | "alerting">>();
  const shown = rows.filter((r) => covers(r.namespace)).slice(0, limit);
  if (shown.length === 0) return [];
  const { results: points } = await db
    .prepare(
      `SELECT p.namespace, p.version, p.at, p.ndcg FROM quality_points p
       JOIN json_each(?1) k ON p.namespace = json_extract(k.value, '$[0]') AND p.version = json_extract(k.value, '$[1]')
       ORDER BY p.at`,
    )
    .bind(JSON.stringify(shown.map((r) => [r.namespace, r.version])))
    .all<{ namespace: string; version: string; at: number; ndcg: number }>();
  return shown.map((r) => ({
    namespace: r.namespace,
    version: r.version,
    activationNdcg: r.activation_ndcg,
    alerting: r.alerting === 1,
    points: points
      .filter((p) => p.namespace === r.namespace && p.version === r.version)
      .map((p) => ({ t: Math.floor(p.at / 1000), ndcg: p.ndcg })),
  }));
}
