// The dashboard's figures for one window: overall, per namespace and as a time series. Built from
// Analytics Engine SQL rows (Cloudflare) or from the locally kept data points (BACKEND=local),
// into the same shape, with the same definitions (docs/observability.md).
import { COST_COUNTER_NAMES, type CostCounters, emptyCounters } from "./cost-counters.ts";
import { costColumn, parseCountersBlob } from "./cost-schema.ts";

/** One Analytics Engine data point as local mode keeps it (local-dataset.ts). */
export interface StoredPoint {
  timestamp: number;
  index1: string;
  blobs: string[];
  doubles: number[];
}

export interface Summary {
  searches: number;
  qps: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Share of searches answered 5xx. */
  errorRate: number | null;
  clientErrorRate: number | null;
  degradedRate: number | null;
  cacheHitRate: number | null;
  indexed: number;
  ingestFailed: number;
  lagP50Ms: number | null;
  lagP95Ms: number | null;
  /** The searches' cost counters, summed (from Analytics Engine: the ones a search point has a double for). */
  searchCost: CostCounters;
  /** The indexed documents' cost counters, summed. */
  indexedCost: CostCounters;
}

export interface SeriesPoint {
  /** Bucket start, Unix seconds. */
  t: number;
  searches: number;
  qps: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  errorRate: number | null;
  degradedRate: number | null;
  cacheHitRate: number | null;
  indexed: number;
  lagP95Ms: number | null;
}

export interface MetricsReport {
  window: string;
  windowSeconds: number;
  bucketSeconds: number;
  from: string;
  to: string;
  source: "local" | "analytics-engine";
  overall: Summary;
  namespaces: (Summary & { namespace: string })[];
  series: SeriesPoint[];
}

/** Row shapes of the SQL queries (analytics-sql.ts); numbers may come as strings. */
export type Row = Record<string, unknown>;

const num = (v: unknown): number => {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
};
const maybe = (v: unknown): number | null => {
  if (v === null || v === undefined || v === "") return null;
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? Math.round(n * 10) / 10 : null;
};
const ratio = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);

function costFromRow(row: Row | undefined): CostCounters {
  const cost = emptyCounters();
  for (const name of COST_COUNTER_NAMES) cost[name] = num(row?.[costColumn(name)]);
  return cost;
}

/** The cost columns of the local points: each point's counters blob (blob `at`), summed. */
function costColumns(points: readonly StoredPoint[], at: number): Row {
  const sum = emptyCounters();
  for (const p of points) {
    const counters = parseCountersBlob(p.blobs[at] ?? "");
    for (const name of COST_COUNTER_NAMES) sum[name] += counters[name] ?? 0;
  }
  return Object.fromEntries(COST_COUNTER_NAMES.map((name) => [costColumn(name), sum[name]]));
}

/** Nearest-rank quantile (each value weighted 1, as local points are unsampled). */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? null;
}

export function summaryFromRows(
  search: Row | undefined,
  ingest: Row | undefined,
  failed: number,
  seconds: number,
): Summary {
  const searches = num(search?.searches);
  const indexed = num(ingest?.indexed);
  return {
    searches,
    qps: searches / seconds,
    p50Ms: searches > 0 ? maybe(search?.p50_ms) : null,
    p95Ms: searches > 0 ? maybe(search?.p95_ms) : null,
    p99Ms: searches > 0 ? maybe(search?.p99_ms) : null,
    errorRate: ratio(num(search?.server_errors), searches),
    clientErrorRate: ratio(num(search?.client_errors), searches),
    degradedRate: ratio(num(search?.degraded), searches),
    cacheHitRate: ratio(num(search?.cache_hits), searches),
    indexed,
    ingestFailed: failed,
    lagP50Ms: indexed > 0 ? maybe(ingest?.lag_p50_ms) : null,
    lagP95Ms: indexed > 0 ? maybe(ingest?.lag_p95_ms) : null,
    searchCost: costFromRow(search),
    indexedCost: costFromRow(ingest),
  };
}

export function seriesFromRows(
  search: Row[],
  ingest: Row[],
  bucket: number,
  from: number,
  to: number,
): SeriesPoint[] {
  const byT = new Map(search.map((r) => [num(r.t), r]));
  const ingestByT = new Map(ingest.map((r) => [num(r.t), r]));
  const out: SeriesPoint[] = [];
  for (let t = Math.floor(from / bucket) * bucket; t <= to; t += bucket) {
    const s = summaryFromRows(byT.get(t), ingestByT.get(t), 0, bucket);
    out.push({
      t,
      searches: s.searches,
      qps: s.qps,
      p50Ms: s.p50Ms,
      p95Ms: s.p95Ms,
      p99Ms: s.p99Ms,
      errorRate: s.errorRate,
      degradedRate: s.degradedRate,
      cacheHitRate: s.cacheHitRate,
      indexed: s.indexed,
      lagP95Ms: s.lagP95Ms,
    });
  }
  return out;
}

/** The SQL rows the local points amount to, so both sources share summaryFromRows. */
function searchRow(points: readonly StoredPoint[]): Row {
  const d = (p: StoredPoint, i: number) => p.doubles[i] ?? 0;
  const latencies = points.map((p) => d(p, 2));
  return {
    searches: points.length,
    server_errors: points.filter((p) => d(p, 0) >= 500).length,
    client_errors: points.filter((p) => d(p, 0) >= 400 && d(p, 0) < 500).length,
    degraded: points.filter((p) => (p.blobs[4] ?? "") !== "").length,
    cache_hits: points.filter((p) => p.blobs[3] === "isolate" || p.blobs[3] === "cache-api").length,
    p50_ms: quantile(latencies, 0.5),
    p95_ms: quantile(latencies, 0.95),
    p99_ms: quantile(latencies, 0.99),
    ...costColumns(points, 8),
  };
}

function ingestRow(points: readonly StoredPoint[]): Row {
  const lags = points.map((p) => p.doubles[3] ?? 0);
  return {
    indexed: points.length,
    lag_p50_ms: quantile(lags, 0.5),
    lag_p95_ms: quantile(lags, 0.95),
    ...costColumns(points, 3),
  };
}

function groupBy<T>(items: readonly T[], key: (x: T) => string | number): Map<string | number, T[]> {
  const out = new Map<string | number, T[]>();
  for (const x of items) {
    const k = key(x);
    const list = out.get(k);
    if (list) list.push(x);
    else out.set(k, [x]);
  }
  return out;
}

export interface ReportWindow {
  name: string;
  seconds: number;
  bucket: number;
}

/** The report from locally kept points (already limited to the window and the caller's scope). */
export function reportFromPoints(
  search: readonly StoredPoint[],
  ingest: readonly StoredPoint[],
  window: ReportWindow,
  now: number,
): MetricsReport {
  const indexed = ingest.filter((p) => p.blobs[2] === "indexed");
  const failed = ingest.filter((p) => p.blobs[2] === "failed");
  const failedByNs = groupBy(failed, (p) => p.index1);
  const searchByNs = groupBy(search, (p) => p.index1);
  const indexedByNs = groupBy(indexed, (p) => p.index1);
  const names = [...new Set([...searchByNs.keys(), ...indexedByNs.keys(), ...failedByNs.keys()])]
    .map(String)
    .sort();
  const bucketOf = (p: StoredPoint) => Math.floor(p.timestamp / 1000 / window.bucket) * window.bucket;
  const searchSeries = [...groupBy(search, bucketOf)].map(([t, ps]) => ({ t, ...searchRow(ps) }));
  const ingestSeries = [...groupBy(indexed, bucketOf)].map(([t, ps]) => ({ t, ...ingestRow(ps) }));
  const to = Math.floor(now / 1000);
  const from = to - window.seconds;
  return {
    window: window.name,
    windowSeconds: window.seconds,
    bucketSeconds: window.bucket,
    from: new Date(from * 1000).toISOString(),
    to: new Date(to * 1000).toISOString(),
    source: "local",
    overall: summaryFromRows(searchRow(search), ingestRow(indexed), failed.length, window.seconds),
    namespaces: names.map((namespace) => ({
      namespace,
      ...summaryFromRows(
        searchRow(searchByNs.get(namespace) ?? []),
        ingestRow(indexedByNs.get(namespace) ?? []),
        failedByNs.get(namespace)?.length ?? 0,
        window.seconds,
      ),
    })),
    series: seriesFromRows(searchSeries, ingestSeries, window.bucket, from, to),
  };
}

/** The report from the dashboard queries' rows (Analytics Engine SQL API, FORMAT JSON). */
export function reportFromSql(
  rows: {
    searchOverall: Row[];
    searchByNamespace: Row[];
    searchSeries: Row[];
    ingestOverall: Row[];
    ingestByNamespace: Row[];
    ingestSeries: Row[];
    ingestFailuresByNamespace: Row[];
  },
  window: ReportWindow,
  now: number,
): MetricsReport {
  const to = Math.floor(now / 1000);
  const from = to - window.seconds;
  const byNs = (list: Row[]) => new Map(list.map((r) => [String(r.namespace), r]));
  const search = byNs(rows.searchByNamespace);
  const ingest = byNs(rows.ingestByNamespace);
  const failed = byNs(rows.ingestFailuresByNamespace);
  const names = [...new Set([...search.keys(), ...ingest.keys(), ...failed.keys()])].sort();
  const totalFailed = rows.ingestFailuresByNamespace.reduce((n, r) => n + num(r.failed), 0);
  return {
    window: window.name,
    windowSeconds: window.seconds,
    bucketSeconds: window.bucket,
    from: new Date(from * 1000).toISOString(),
    to: new Date(to * 1000).toISOString(),
    source: "analytics-engine",
    overall: summaryFromRows(rows.searchOverall[0], rows.ingestOverall[0], totalFailed, window.seconds),
    namespaces: names.map((namespace) => ({
      namespace,
      ...summaryFromRows(
        search.get(namespace),
        ingest.get(namespace),
        num(failed.get(namespace)?.failed),
        window.seconds,
      ),
    })),
    series: seriesFromRows(rows.searchSeries, rows.ingestSeries, window.bucket, from, to),
  };
}
