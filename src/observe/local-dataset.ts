// Local mode keeps the data points it writes to Analytics Engine, which offers no way to read them
// back outside Cloudflare. The mirror is a dataset binding with the same interface: points go to
// the real binding and to an isolate buffer, flushed into D1 (local_metrics) at most every second
// from requests, after each queue batch, and before every read. Retention is bounded by age and
// row count.
import type { StoredPoint } from "./report";

export const LOCAL_METRICS_RETENTION_MS = 7 * 24 * 3600 * 1000;
export const LOCAL_METRICS_MAX_ROWS = 200_000;
/** Points waiting in the isolate beyond this are dropped (oldest first): a flush is failing. */
const MAX_BUFFERED = 10_000;
const BLOBS = 9;
const DOUBLES = 20;

// Isolate-lifetime: points written by any request in this isolate, until the next flush.
const buffer: StoredPoint[] = [];

export class MirroredDataset implements AnalyticsEngineDataset {
  constructor(
    private readonly inner: AnalyticsEngineDataset | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  writeDataPoint(point?: AnalyticsEngineDataPoint): void {
    this.inner?.writeDataPoint(point);
    if (!point) return;
    const blobs = (point.blobs ?? []).slice(0, BLOBS).map((b) => {
      if (b === null) return "";
      return typeof b === "string" ? b : new TextDecoder().decode(b);
    });
    buffer.push({
      timestamp: this.now(),
      index1: String(point.indexes?.[0] ?? ""),
      blobs,
      doubles: (point.doubles ?? []).slice(0, DOUBLES),
    });
    if (buffer.length > MAX_BUFFERED) buffer.splice(0, buffer.length - MAX_BUFFERED);
  }
}

const COLUMNS = [
  "timestamp",
  "index1",
  ...Array.from({ length: BLOBS }, (_, i) => `blob${i + 1}`),
  ...Array.from({ length: DOUBLES }, (_, i) => `double${i + 1}`),
];
const INSERT = `INSERT INTO local_metrics (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((_, i) => `?${i + 1}`).join(", ")})`;

let flushes = 0;
let lastFlushAt = 0;
/** A request flushes the buffer only this often, or once this many points wait (see flushLocalMetricsIfDue). */
const FLUSH_INTERVAL_MS = 1000;
const FLUSH_POINTS = 100;

/**
 * Flushes when the buffer is due: a D1 write per request would cost more than the request itself.
 * Readers of local points flush first (flushLocalMetrics), so what they show is never behind.
 */
export function flushLocalMetricsIfDue(db: D1Database, now = Date.now()): Promise<number> | null {
  if (buffer.length === 0) return null;
  if (buffer.length < FLUSH_POINTS && now - lastFlushAt < FLUSH_INTERVAL_MS) return null;
  return flushLocalMetrics(db, now);
}

/** Writes the buffered points to D1; prunes old rows every so often. Never throws. */
export async function flushLocalMetrics(db: D1Database, now = Date.now()): Promise<number> {
  if (buffer.length === 0) return 0;
  lastFlushAt = now;
  const points = buffer.splice(0, buffer.length);
  try {
    const statements = points.map((p) =>
      db
        .prepare(INSERT)
        .bind(
          p.timestamp,
          p.index1,
          ...Array.from({ length: BLOBS }, (_, i) => p.blobs[i] ?? null),
          ...Array.from({ length: DOUBLES }, (_, i) => p.doubles[i] ?? null),
        ),
    );
    flushes += 1;
    if (flushes % 50 === 1) statements.push(...pruneStatements(db, now));
    await db.batch(statements);
    return points.length;
  } catch {
    // Metrics must never fail a request; the points are lost (local mode only).
    return 0;
  }
}

function pruneStatements(db: D1Database, now: number): D1PreparedStatement[] {
  return [
    db.prepare("DELETE FROM local_metrics WHERE timestamp < ?1").bind(now - LOCAL_METRICS_RETENTION_MS),
    db
      .prepare(
        "DELETE FROM local_metrics WHERE id <= (SELECT id FROM local_metrics ORDER BY id DESC LIMIT 1 OFFSET ?1)",
      )
      .bind(LOCAL_METRICS_MAX_ROWS),
  ];
}

/** Prunes by age and row count (the scheduled handler calls this). */
export async function pruneLocalMetrics(db: D1Database, now = Date.now()): Promise<void> {
  await db.batch(pruneStatements(db, now));
}

/** Points of one kind (blob1) since a time, oldest first, at most `limit`. */
export async function readLocalPoints(
  db: D1Database,
  kind: string,
  since: number,
  limit: number,
): Promise<StoredPoint[]> {
  const { results } = await db
    .prepare(
      `SELECT ${COLUMNS.join(", ")} FROM local_metrics WHERE blob1 = ?1 AND timestamp >= ?2 ORDER BY timestamp DESC LIMIT ?3`,
    )
    .bind(kind, since, limit)
    .all<Record<string, string | number | null>>();
  return results.reverse().map((r) => ({
    timestamp: Number(r.timestamp),
    index1: String(r.index1 ?? ""),
    blobs: Array.from({ length: BLOBS }, (_, i) => String(r[`blob${i + 1}`] ?? "")),
    doubles: Array.from({ length: DOUBLES }, (_, i) => Number(r[`double${i + 1}`] ?? 0)),
  }));
}

// Isolate-lifetime: one mirrored env per env object, so loadConfig's per-env cache still hits.
const mirrored = new WeakMap<object, object>();

/**
 * The env with METRICS mirrored into D1 when BACKEND=local; the env itself otherwise.
 */
export function withLocalMetrics<E extends { BACKEND?: string; METRICS?: AnalyticsEngineDataset }>(
  env: E,
): E {
  if (env.BACKEND !== "local") return env;
  const hit = mirrored.get(env);
  if (hit) return hit as E;
  const wrapped = { ...env, METRICS: new MirroredDataset(env.METRICS) };
  mirrored.set(env, wrapped);
  return wrapped;
}
