// What each bench scenario cost in billable operations: summed from the x-cost-counters header of
// every checked search answer (the bench sends the admin key), and for a seeded dataset from its
// ingest points' counters as /v1/admin/metrics sums them (the local metrics mirror). Written into
// the bench JSON as `counters` (a CounterReport, which `npm run cost` prices) and printed per
// request or per document.
import {
  COST_COUNTER_NAMES,
  type CostCounters,
  type CounterReport,
  emptyCounters,
} from "../../src/observe/cost-counters.ts";
import { parseCountersBlob } from "../../src/observe/cost-schema.ts";
import { fixed, formatTable } from "../lib/args.ts";

/** Counters summed over some operations (searches or documents). */
export type CounterSample = { operations: number; counters: CostCounters };

/** A running sum of x-cost-counters headers. */
export function counterSum() {
  const sample: CounterSample = { operations: 0, counters: emptyCounters() };
  return {
    add(header: string | undefined): void {
      if (header === undefined) return;
      sample.operations += 1;
      addInto(sample.counters, parseCountersBlob(header));
    },
    result: (): CounterSample | null => (sample.operations > 0 ? sample : null),
  };
}

function addInto(into: CostCounters, more: Partial<CostCounters>): void {
  for (const name of COST_COUNTER_NAMES) into[name] += more[name] ?? 0;
}

/** A namespace's indexed documents and their summed counters, from GET /v1/admin/metrics. */
export async function ingestCounters(
  request: (method: string, path: string) => Promise<unknown>,
  namespace: string,
): Promise<CounterSample | null> {
  type Report = { namespaces?: { namespace: string; indexed: number; indexedCost?: CostCounters }[] };
  let report: Report;
  try {
    report = (await request("GET", "/v1/admin/metrics?window=24h")) as Report;
  } catch {
    return null; // A server without the metrics route or mirror: no ingest counters.
  }
  const row = report.namespaces?.find((n) => n.namespace === namespace);
  if (!row?.indexedCost || row.indexed <= 0) return null;
  return { operations: row.indexed, counters: { ...emptyCounters(), ...row.indexedCost } };
}

/** What counterReport reads of a bench run (report.ts's RunResult). */
type CountedRun = { scenarios: { name: string; levels: { counters: CounterSample | null }[] }[] };

/** The CounterReport of the runs' search scenarios (every pass and level) and the ingests. */
export function counterReport(
  runs: readonly CountedRun[],
  ingests: Readonly<Record<string, CounterSample | null>>,
  generatedAt: Date,
): CounterReport {
  const scenarios: CounterReport["scenarios"] = {};
  const into = (name: string, unit: "search" | "document", sample: CounterSample) => {
    scenarios[name] ??= { unit, operations: 0, counters: emptyCounters() };
    const entry = scenarios[name];
    entry.operations += sample.operations;
    addInto(entry.counters, sample.counters);
  };
  for (const run of runs) {
    for (const scenario of run.scenarios) {
      for (const level of scenario.levels) if (level.counters) into(scenario.name, "search", level.counters);
    }
  }
  for (const [dataset, sample] of Object.entries(ingests))
    if (sample) into(`ingest-${dataset}`, "document", sample);
  return { generatedAt: generatedAt.toISOString(), backend: "local", scenarios };
}

const COLUMNS: [keyof CostCounters, string, number][] = [
  ["d1Queries", "D1 queries", 1],
  ["d1RowsRead", "D1 rows read", 1],
  ["d1RowsWritten", "D1 rows written", 1],
  ["kvReads", "KV reads", 2],
  ["kvWrites", "KV writes", 2],
  ["cacheLookups", "cache lookups", 2],
  ["aiCalls", "AI calls", 2],
  ["aiInputTokens", "AI tokens", 1],
  ["vectorizeQueryDimensions", "queried dims", 0],
  ["vectorizeVectorsWritten", "vectors written", 1],
  ["r2ClassA", "R2 A", 2],
  ["r2ClassB", "R2 B", 2],
  ["queueOperations", "queue ops", 2],
];

/** The report as a table: each counter per operation (per search, or per ingested document). */
export function counterLines(report: CounterReport): string[] {
  const rows = Object.entries(report.scenarios).map(([name, s]) => [
    name,
    `${s.operations} ${s.unit === "search" ? "searches" : "documents"}`,
    ...COLUMNS.map(([key, , digits]) => fixed(s.counters[key] / s.operations, digits)),
  ]);
  if (rows.length === 0) return [];
  return [
    "",
    "Billable operations per search, or per ingested document (queue consumer side; a search's deferred cache writes not included)",
    formatTable(["scenario", "measured", ...COLUMNS.map(([, label]) => label)], rows),
  ];
}
