// Reads the dashboard's figures: from the locally kept points with BACKEND=local, from the
// Analytics Engine SQL API otherwise (ANALYTICS_ACCOUNT_ID and the ANALYTICS_API_TOKEN secret).

import { patternCovers } from "../auth/scopes";
import { AppError } from "../errors";
import { dashboardQueries, parseWindow } from "./analytics-sql";
import type { ObserveConfig } from "./config";
import { flushLocalMetrics, readLocalPoints } from "./local-dataset";
import { type MetricsReport, type Row, reportFromPoints, reportFromSql } from "./report";

/** Local points read per kind and request: the dashboard is an overview, not an export. */
const LOCAL_POINT_LIMIT = 50_000;

export interface ReadOptions {
  window: string;
  /** The caller's namespace patterns: only covered namespaces are read. */
  patterns: readonly string[];
  now?: number;
}

export async function readMetricsReport(
  deps: { backend: "local" | "cloudflare"; db: D1Database; observe: ObserveConfig; fetcher?: typeof fetch },
  o: ReadOptions,
): Promise<MetricsReport> {
  const window = parseWindow(o.window);
  const now = o.now ?? Date.now();
  if (deps.backend === "local") {
    const since = now - window.seconds * 1000;
    const covered = (p: { index1: string }) => o.patterns.some((pattern) => patternCovers(pattern, p.index1));
    // Points this isolate has not written to D1 yet count too.
    await flushLocalMetrics(deps.db, now);
    const [search, ingest] = await Promise.all([
      readLocalPoints(deps.db, "search", since, LOCAL_POINT_LIMIT),
      readLocalPoints(deps.db, "ingest", since, LOCAL_POINT_LIMIT),
    ]);
    return reportFromPoints(search.filter(covered), ingest.filter(covered), window, now);
  }
  const analytics = deps.observe.analytics;
  if (!analytics) {
    throw new AppError(
      "unavailable",
      "metrics are not readable: set ANALYTICS_ACCOUNT_ID and the ANALYTICS_API_TOKEN secret",
      { retryable: false },
    );
  }
  const queries = dashboardQueries({ dataset: analytics.dataset, window: window.name, patterns: o.patterns });
  const doFetch = deps.fetcher ?? fetch;
  const run = async (sql: string): Promise<Row[]> => {
    const res = await doFetch(
      `https://api.cloudflare.com/client/v4/accounts/${analytics.accountId}/analytics_engine/sql`,
      { method: "POST", headers: { authorization: `Bearer ${analytics.apiToken}` }, body: sql },
    );
    if (!res.ok) {
      throw new AppError("upstream_failed", `Analytics Engine SQL API answered ${res.status}`, {
        retryable: true,
      });
    }
    const body = (await res.json()) as { data?: Row[] };
    return body.data ?? [];
  };
  const names = Object.keys(queries) as (keyof typeof queries)[];
  const results = await Promise.all(names.map((n) => run(queries[n])));
  const rows = Object.fromEntries(names.map((n, i) => [n, results[i] ?? []])) as Record<
    keyof typeof queries,
    Row[]
  >;
  return reportFromSql(rows, window, now);
}
