// Type declarations for analytics-sql.mjs, so TypeScript callers (the Worker, the tests) import it typed.

export declare const DEFAULT_DATASET: string;
export interface WindowSpec {
  seconds: number;
  bucket: number;
}
export declare const WINDOWS: Record<"15m" | "1h" | "6h" | "24h" | "3d" | "7d", WindowSpec>;
export type WindowName = keyof typeof WINDOWS;
export declare function parseWindow(name: string): WindowSpec & { name: string };
export declare function sqlString(s: string): string;
export declare function namespaceCondition(patterns: readonly string[]): string;
export interface MetricsQuery {
  kind: "search" | "ingest" | "ingest-failures";
  group: "none" | "namespace" | "time";
  dataset?: string;
  windowSeconds: number;
  bucketSeconds?: number;
  patterns?: readonly string[];
}
export declare function metricsQuery(q: MetricsQuery): string;
export interface DashboardQueries {
  searchOverall: string;
  searchByNamespace: string;
  searchSeries: string;
  ingestOverall: string;
  ingestByNamespace: string;
  ingestSeries: string;
  ingestFailuresByNamespace: string;
}
export declare function dashboardQueries(o: {
  dataset?: string;
  window: string;
  patterns?: readonly string[];
}): DashboardQueries;
export interface Slo {
  id: string;
  description: string;
  objective: number;
  valid: string;
  bad: string;
}
export declare const SLOS: readonly Slo[];
export interface BurnWindow {
  name: string;
  severity: "page" | "ticket";
  longSeconds: number;
  shortSeconds: number;
  factor: number;
}
export declare const BURN_WINDOWS: readonly BurnWindow[];
export declare function durationName(seconds: number): string;
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
export declare function alertQueries(o?: { dataset?: string }): AlertQuery[];
export declare function evaluateBurn(
  alert: { factor: number; budget: number | null },
  row: Record<string, unknown> | undefined,
): { burnLong: number; burnShort: number; firing: boolean };
export declare function evaluateHealth(
  alert: { factor: number },
  rows: Record<string, unknown>[],
): { failing: string[]; firing: boolean };
