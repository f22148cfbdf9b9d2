// What one request or one ingested document costs, in the units Cloudflare bills by. Counted per
// request and per ingested document, summed per bench scenario (`npm run bench`), and priced by
// `npm run cost`.

/** Billable operations of one unit of work (a search, an ingested document, ...). */
export interface CostCounters {
  d1Queries: number;
  d1RowsRead: number;
  d1RowsWritten: number;
  kvReads: number;
  kvWrites: number;
  kvDeletes: number;
  kvLists: number;
  cacheLookups: number;
  cacheWrites: number;
  aiCalls: number;
  aiInputTokens: number;
  vectorizeQueries: number;
  /** Dimensions of the query vectors sent (queries x the index's dimensions). */
  vectorizeQueryDimensions: number;
  vectorizeVectorsWritten: number;
  vectorizeVectorsDeleted: number;
  r2ClassA: number;
  r2ClassB: number;
  queueOperations: number;
  cpuMs: number;
}

export const COST_COUNTER_NAMES = [
  "d1Queries",
  "d1RowsRead",
  "d1RowsWritten",
  "kvReads",
  "kvWrites",
  "kvDeletes",
  "kvLists",
  "cacheLookups",
  "cacheWrites",
  "aiCalls",
  "aiInputTokens",
  "vectorizeQueries",
  "vectorizeQueryDimensions",
  "vectorizeVectorsWritten",
  "vectorizeVectorsDeleted",
  "r2ClassA",
  "r2ClassB",
  "queueOperations",
  "cpuMs",
] as const satisfies readonly (keyof CostCounters)[];

export function emptyCounters(): CostCounters {
  const counters = {} as CostCounters;
  for (const name of COST_COUNTER_NAMES) counters[name] = 0;
  return counters;
}

/**
 * What `npm run bench` writes for `npm run cost`: per scenario, how many operations (searches or
 * documents) ran and the counters summed over them.
 */
export interface CounterReport {
  generatedAt: string;
  /** "local" or "cloudflare": where the counters were measured. */
  backend: string;
  scenarios: Record<string, { unit: "search" | "document"; operations: number; counters: CostCounters }>;
}
