// Queries over the Analytics Engine dataset (schema: src/observe/metrics.ts and
// docs/observability.md): the dashboard's figures and the SLO burn-rate alerts. Pure builders, so
// they can be printed (`npm run analytics -- --print-sql`, Node strips the types), unit-tested and
// run by the Worker.
// Every count is weighted by _sample_interval: Analytics Engine samples at high volume.

import type { CostCounters } from "./cost-counters.ts";
import {
  costColumn,
  INGEST_COUNTER_DOUBLES,
  INGEST_COUNTER_FIRST_DOUBLE,
  SEARCH_COUNTER_DOUBLES,
  SEARCH_COUNTER_FIRST_DOUBLE,
} from "./cost-schema.ts";

export const DEFAULT_DATASET = "edgesearch_events";

/** Dashboard windows and their chart buckets, in seconds. */
export interface WindowSpec {
  seconds: number;
  bucket: number;
}

export type WindowName = "15m" | "1h" | "6h" | "24h" | "3d" | "7d";

export const WINDOWS: Record<WindowName, WindowSpec> = {
  "15m": { seconds: 900, bucket: 30 },
  "1h": { seconds: 3600, bucket: 60 },
  "6h": { seconds: 21_600, bucket: 300 },
  "24h": { seconds: 86_400, bucket: 1200 },
  "3d": { seconds: 259_200, bucket: 3600 },
  "7d": { seconds: 604_800, bucket: 10_800 },
};

export function parseWindow(name: string): WindowSpec & { name: string } {
  const w = Object.hasOwn(WINDOWS, name) ? WINDOWS[name as WindowName] : undefined;
  if (!w) throw new Error(`unknown window "${name}"; one of ${Object.keys(WINDOWS).join(", ")}`);
  return { name, ...w };
}

/** A SQL string literal. */
export function sqlString(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function checkDataset(dataset: string): string {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(dataset)) throw new Error(`invalid dataset name "${dataset}"`);
  return dataset;
}

/**
 * The condition restricting rows to the namespaces a key's patterns cover ("" for "*"):
 * exact names compare index1, prefixes use LIKE with _ and % escaped.
 */
export function namespaceCondition(patterns: readonly string[]): string {
  if (patterns.includes("*")) return "";
  if (patterns.length === 0) return " AND 0 = 1";
  const parts = patterns.map((p) =>
    p.endsWith("*")
      ? `index1 LIKE ${sqlString(`${p.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`)}`
      : `index1 = ${sqlString(p)}`,
  );
  return ` AND (${parts.join(" OR ")})`;
}

/** Each counter's double, summed with the sampling weight, as report.ts's costColumn. */
function costSums(names: readonly (keyof CostCounters)[], first: number): string[] {
  return names.map((name, i) => `SUM(double${first + i} * ${w}) AS ${costColumn(name)}`);
}

const since = (seconds: number): string => `timestamp >= NOW() - INTERVAL '${Math.round(seconds)}' SECOND`;
const w = "_sample_interval";

const SEARCH_COLUMNS = [
  `SUM(${w}) AS searches`,
  `SUM(IF(double1 >= 500, ${w}, 0)) AS server_errors`,
  `SUM(IF(double1 >= 400 AND double1 < 500, ${w}, 0)) AS client_errors`,
  `SUM(IF(blob5 != '', ${w}, 0)) AS degraded`,
  `SUM(IF(blob4 = 'isolate' OR blob4 = 'cache-api', ${w}, 0)) AS cache_hits`,
  `quantileWeighted(0.5, double3, ${w}) AS p50_ms`,
  `quantileWeighted(0.95, double3, ${w}) AS p95_ms`,
  `quantileWeighted(0.99, double3, ${w}) AS p99_ms`,
  ...costSums(SEARCH_COUNTER_DOUBLES, SEARCH_COUNTER_FIRST_DOUBLE),
].join(", ");

const INGEST_COLUMNS = [
  `SUM(${w}) AS indexed`,
  `quantileWeighted(0.5, double4, ${w}) AS lag_p50_ms`,
  `quantileWeighted(0.95, double4, ${w}) AS lag_p95_ms`,
  `MAX(double4) AS lag_max_ms`,
  ...costSums(INGEST_COUNTER_DOUBLES, INGEST_COUNTER_FIRST_DOUBLE),
].join(", ");

export interface MetricsQuery {
  kind: "search" | "ingest" | "ingest-failures";
  group: "none" | "namespace" | "time";
  dataset?: string;
  windowSeconds: number;
  bucketSeconds?: number;
  patterns?: readonly string[];
}

export function metricsQuery(q: MetricsQuery): string {
  const dataset = checkDataset(q.dataset ?? DEFAULT_DATASET);
  const scope = namespaceCondition(q.patterns ?? ["*"]);
  const where =
    q.kind === "search"
      ? "blob1 = 'search'"
      : q.kind === "ingest"
        ? "blob1 = 'ingest' AND blob3 = 'indexed'"
        : "blob1 = 'ingest' AND blob3 = 'failed'";
  const columns =
    q.kind === "search" ? SEARCH_COLUMNS : q.kind === "ingest" ? INGEST_COLUMNS : `SUM(${w}) AS failed`;
  const bucket = Math.max(1, Math.round(q.bucketSeconds ?? 60));
  const key =
    q.group === "namespace"
      ? "index1 AS namespace, "
      : q.group === "time"
        ? `intDiv(toUInt32(timestamp), ${bucket}) * ${bucket} AS t, `
        : "";
  const tail =
    q.group === "namespace"
      ? " GROUP BY namespace ORDER BY namespace LIMIT 1000"
      : q.group === "time"
        ? " GROUP BY t ORDER BY t"
        : "";
  return `SELECT ${key}${columns} FROM ${dataset} WHERE ${where} AND ${since(q.windowSeconds)}${scope}${tail} FORMAT JSON`;
}

export interface DashboardQueries {
  searchOverall: string;
  searchByNamespace: string;
  searchSeries: string;
  ingestOverall: string;
  ingestByNamespace: string;
  ingestSeries: string;
  ingestFailuresByNamespace: string;
}

/** Every query the dashboard runs for one window, by name. */
export function dashboardQueries(o: {
  dataset?: string;
  window: string;
  patterns?: readonly string[];
}): DashboardQueries {
  const win = parseWindow(o.window);
  const base = {
    dataset: o.dataset,
    windowSeconds: win.seconds,
    bucketSeconds: win.bucket,
    patterns: o.patterns,
  };
  return {
    searchOverall: metricsQuery({ ...base, kind: "search", group: "none" }),
    searchByNamespace: metricsQuery({ ...base, kind: "search", group: "namespace" }),
    searchSeries: metricsQuery({ ...base, kind: "search", group: "time" }),
    ingestOverall: metricsQuery({ ...base, kind: "ingest", group: "none" }),
    ingestByNamespace: metricsQuery({ ...base, kind: "ingest", group: "namespace" }),
    ingestSeries: metricsQuery({ ...base, kind: "ingest", group: "time" }),
    ingestFailuresByNamespace: metricsQuery({ ...base, kind: "ingest-failures", group: "namespace" }),
  };
}

/**
 * The service level objectives (docs/slo.md): which points count (`valid`) and which of those
 * are bad, over SQL columns of the dataset.
 */
export interface Slo {
  id: string;
  description: string;
  objective: number;
  valid: string;
  bad: string;
}

export const SLOS: readonly Slo[] = [
  {
    id: "search-availability",
    description: "99.9% of searches are not answered with a 5xx",
    objective: 0.999,
    valid: "blob1 = 'search'",
    bad: "double1 >= 500",
  },
  {
    id: "search-latency-cached",
    description: "99% of searches answered from a cache take under 100 ms",
    objective: 0.99,
    valid: "blob1 = 'search' AND double1 = 200 AND (blob4 = 'isolate' OR blob4 = 'cache-api')",
    bad: "double3 > 100",
  },
  {
    id: "search-latency-miss",
    description: "99% of searches computed afresh take under 300 ms",
    objective: 0.99,
    valid: "blob1 = 'search' AND double1 = 200 AND (blob4 = 'miss' OR blob4 = 'bypass')",
    bad: "double3 > 300",
  },
  {
    id: "ingest-freshness",
    description: "99% of documents are searchable within 60 s of being written",
    objective: 0.99,
    valid: "blob1 = 'ingest' AND blob3 = 'indexed'",
    bad: "double4 > 60000",
  },
];

export interface BurnWindow {
  name: string;
  severity: "page" | "ticket";
  longSeconds: number;
  shortSeconds: number;
  factor: number;
}

/** Multi-window, multi-burn-rate alerting (the Google SRE workbook's recommended set). */
export const BURN_WINDOWS: readonly BurnWindow[] = [
  { name: "fast", severity: "page", longSeconds: 3600, shortSeconds: 300, factor: 14.4 },
  { name: "slow", severity: "page", longSeconds: 21_600, shortSeconds: 1800, factor: 6 },
  { name: "ticket", severity: "ticket", longSeconds: 259_200, shortSeconds: 21_600, factor: 1 },
];

export function durationName(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${seconds / 60}m`;
}

export interface AlertQuery {
  id: string;
  kind: "burn-rate" | "threshold";
  slo: string | null;
  severity: "page" | "ticket";
  factor: number;
  budget: number | null;
  windows: string;
  runbook: string;
  sql: string;
}

/**
 * One query per SLO and burn window: bad and valid events over the long window and, in the same
 * scan, over the short one. The alert fires when both windows burn at least `factor` times the
 * error budget's rate.
 */
export function alertQueries(o: { dataset?: string } = {}): AlertQuery[] {
  const dataset = checkDataset(o.dataset ?? DEFAULT_DATASET);
  const burn = SLOS.flatMap((slo) =>
    BURN_WINDOWS.map((bw): AlertQuery => {
      const short = since(bw.shortSeconds);
      return {
        id: `${slo.id}-${bw.name}`,
        kind: "burn-rate",
        slo: slo.id,
        severity: bw.severity,
        factor: bw.factor,
        budget: Math.round((1 - slo.objective) * 1e6) / 1e6,
        windows: `${durationName(bw.longSeconds)}/${durationName(bw.shortSeconds)}`,
        runbook: `docs/alerts/${slo.id}.md`,
        sql:
          `SELECT SUM(IF(${slo.bad}, ${w}, 0)) AS bad_long, SUM(${w}) AS total_long, ` +
          `SUM(IF(${short} AND ${slo.bad}, ${w}, 0)) AS bad_short, SUM(IF(${short}, ${w}, 0)) AS total_short ` +
          `FROM ${dataset} WHERE ${slo.valid} AND ${since(bw.longSeconds)} FORMAT JSON`,
      };
    }),
  );
  const health: AlertQuery = {
    id: "index-health",
    kind: "threshold",
    slo: null,
    severity: "page",
    factor: 2,
    budget: null,
    windows: "15m",
    runbook: "docs/alerts/index-health.md",
    // Two failed checks of a namespace in 15 minutes (checks run every 5): not a passing blip.
    sql:
      `SELECT index1 AS namespace, SUM(IF(blob3 = 'fail', 1, 0)) AS failed_checks, ` +
      `SUM(1) AS checks FROM ${dataset} WHERE blob1 = 'health' AND ${since(900)} ` +
      `GROUP BY namespace ORDER BY failed_checks DESC LIMIT 100 FORMAT JSON`,
  };
  return [...burn, health];
}

const num = (v: unknown): number => {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
};

/**
 * Whether a burn-rate alert fires, from its query's one row.
 */
export function evaluateBurn(
  alert: { factor: number; budget: number | null },
  row: Record<string, unknown> | undefined,
): { burnLong: number; burnShort: number; firing: boolean } {
  const budget = alert.budget ?? 1;
  const rate = (bad: number, total: number): number => (total > 0 ? bad / total / budget : 0);
  const burnLong = rate(num(row?.bad_long), num(row?.total_long));
  const burnShort = rate(num(row?.bad_short), num(row?.total_short));
  return {
    burnLong,
    burnShort,
    firing: burnLong >= alert.factor && burnShort >= alert.factor,
  };
}

/**
 * Namespaces for which the index health alert fires.
 */
export function evaluateHealth(
  alert: { factor: number },
  rows: Record<string, unknown>[],
): { failing: string[]; firing: boolean } {
  const failing = rows.filter((r) => num(r.failed_checks) >= alert.factor).map((r) => String(r.namespace));
  return { failing, firing: failing.length > 0 };
}
