// Where the cost counters (cost-counters.ts) sit in the Analytics Engine points (metrics.ts) and
// how they are read back (report.ts, analytics-sql.ts). Free of Worker imports: the scripts load it
// with Node, which strips the types.
import { COST_COUNTER_NAMES, type CostCounters } from "./cost-counters.ts";

/** The counters a search point carries as double12..double20, in order (the rest: blob9). */
export const SEARCH_COUNTER_DOUBLES = [
  "d1Queries",
  "d1RowsRead",
  "kvReads",
  "kvWrites",
  "cacheLookups",
  "aiCalls",
  "aiInputTokens",
  "vectorizeQueries",
  "vectorizeQueryDimensions",
] as const satisfies readonly (keyof CostCounters)[];
/** Position (1-based) of the first counter double of a search point. */
export const SEARCH_COUNTER_FIRST_DOUBLE = 12;

/** The counters an ingest point carries as double6..double20, in order (the rest: blob4). */
export const INGEST_COUNTER_DOUBLES = [
  "d1Queries",
  "d1RowsRead",
  "d1RowsWritten",
  "kvReads",
  "kvWrites",
  "kvDeletes",
  "kvLists",
  "aiCalls",
  "aiInputTokens",
  "vectorizeQueries",
  "vectorizeVectorsWritten",
  "vectorizeVectorsDeleted",
  "r2ClassA",
  "r2ClassB",
  "queueOperations",
] as const satisfies readonly (keyof CostCounters)[];
export const INGEST_COUNTER_FIRST_DOUBLE = 6;

/** Every non-zero counter as "name=value" joined by "," (a blob: the ones without a double too). */
export function countersBlob(c: CostCounters | undefined): string {
  if (!c) return "";
  return COST_COUNTER_NAMES.filter((name) => c[name] !== 0)
    .map((name) => `${name}=${Math.round(c[name] * 10) / 10}`)
    .join(",");
}

/** The counters of a countersBlob (unknown names and bad numbers skipped). */
export function parseCountersBlob(blob: string): Partial<CostCounters> {
  const out: Partial<CostCounters> = {};
  const names = new Set<string>(COST_COUNTER_NAMES);
  for (const pair of blob.split(",")) {
    const [name, value] = pair.split("=");
    const n = Number(value);
    if (name !== undefined && names.has(name) && Number.isFinite(n)) out[name as keyof CostCounters] = n;
  }
  return out;
}

/** The row column a summed counter comes in: "d1RowsRead" -> "cost_d1_rows_read". */
export const costColumn = (name: keyof CostCounters): string =>
  `cost_${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
