#!/usr/bin/env node
// `npm run cost [-- --bench FILE] [--monthly N] [--json]`: what a million searches, a million
// ingested documents and a month of a million stored documents cost on Cloudflare, from the cost
// counters `npm run bench` measured (the `counters` key of bench-results/bench-*.json) and the
// published prices in scripts/lib/pricing.ts. docs/cost.md explains the model and its assumptions.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { COST_COUNTER_NAMES, type CounterReport } from "../src/observe/cost-counters.ts";
import {
  fixed,
  formatTable,
  isEntryPoint,
  parseCommandLine,
  run,
  ScriptError,
  UsageError,
} from "./lib/args.ts";
import {
  type AiModel,
  NEURONS_PER_MILLION_INPUT_TOKENS,
  PRICES_READ_ON,
  pricePerMillion,
  type StorageInputs,
  storagePerMonth,
  usagePerOperation,
  WORKERS_PAID_MONTHLY_USD,
} from "./lib/pricing.ts";

// Defaults of the storage estimate. D1: the bytes a SciFact document occupies in D1 (rows of the
// document, its chunks and their full-text index), measured on a loaded pool. Chunks: SciFact's
// average under the default chunking. R2: the stored text, the average title + abstract of
// test/fixtures/scifact/corpus.jsonl (1,489 bytes over 750 documents).
export const DEFAULTS = {
  monthly: 10_000_000,
  documents: 1_000_000,
  d1BytesPerDocument: 3600,
  chunksPerDocument: 1.8,
  dimensions: 768,
  r2BytesPerDocument: 1500,
  requestsPerDocument: 1,
  durableObjectRequestsPerDocument: 1,
  embeddingModel: "@cf/baai/bge-base-en-v1.5" as AiModel,
};

const USAGE = `usage: npm run cost -- [options]
Prices the cost counters of a bench run (npm run bench) with Cloudflare's published prices.
  --bench FILE                  the bench JSON (default: the newest bench-results/bench-*.json)
  --monthly N                   operations a month assumed for the Paid plan's allowances, each
                                scenario alone on the account (default ${DEFAULTS.monthly})
  --requests-per-document N     Worker requests billed per ingested document (default ${DEFAULTS.requestsPerDocument})
  --do-requests-per-document N  Durable Object calls per ingested document (default ${DEFAULTS.durableObjectRequestsPerDocument})
  --embedding-model M           the model AI input tokens are priced at (default ${DEFAULTS.embeddingModel})
  --documents N                 stored documents of the storage estimate (default ${DEFAULTS.documents})
  --d1-bytes-per-document N     D1 bytes per stored document (default ${DEFAULTS.d1BytesPerDocument})
  --chunks-per-document N       vectors per stored document (default ${DEFAULTS.chunksPerDocument})
  --dimensions N                dimensions per vector (default ${DEFAULTS.dimensions})
  --r2-bytes-per-document N     R2 bytes per stored document (default ${DEFAULTS.r2BytesPerDocument})
  --json                        machine-readable output
  -h, --help                    show this help`;

const countersSchema = z.object(
  Object.fromEntries(COST_COUNTER_NAMES.map((name) => [name, z.number().nonnegative()])) as Record<
    (typeof COST_COUNTER_NAMES)[number],
    z.ZodNumber
  >,
);
const reportSchema = z.object({
  generatedAt: z.string(),
  backend: z.string(),
  scenarios: z.record(
    z.string(),
    z.object({
      unit: z.enum(["search", "document"]),
      operations: z.number().int().nonnegative(),
      counters: countersSchema,
    }),
  ),
});

/** The newest bench-*.json of `dir` (the names carry an ISO timestamp, so they sort by time). */
export async function newestBench(dir: string): Promise<string> {
  const names = (await readdir(dir).catch(() => [] as string[]))
    .filter((name) => /^bench-.*\.json$/.test(name))
    .sort();
  const newest = names.at(-1);
  if (newest === undefined) throw new ScriptError(`no bench-*.json in ${dir}: run npm run bench first`);
  return path.join(dir, newest);
}

/** The CounterReport of a bench JSON, or a ScriptError that says what is wrong with the file. */
export async function readCounters(file: string): Promise<CounterReport> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new ScriptError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const counters =
    typeof raw === "object" && raw !== null ? (raw as { counters?: unknown }).counters : undefined;
  if (counters === undefined) {
    throw new ScriptError(
      `${file} has no "counters": it comes from a bench that did not measure cost counters; run npm run bench again`,
    );
  }
  const parsed = reportSchema.safeParse(counters);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ScriptError(`${file}: counters.${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

function nonNegativeNumber(value: string | boolean | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || value.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`${flag}: expected a number of at least 0, got ${String(value)}`);
  }
  return n;
}

function positiveNumber(value: string | boolean | undefined, flag: string, fallback: number): number {
  const n = nonNegativeNumber(value, flag, fallback);
  if (n === 0) throw new UsageError(`${flag}: expected a positive number, got ${String(value)}`);
  return n;
}

function embeddingModel(value: string | boolean | undefined): AiModel {
  if (value === undefined) return DEFAULTS.embeddingModel;
  if (typeof value === "string" && value in NEURONS_PER_MILLION_INPUT_TOKENS) return value as AiModel;
  throw new UsageError(
    `--embedding-model: one of ${Object.keys(NEURONS_PER_MILLION_INPUT_TOKENS).join(", ")}, got ${String(value)}`,
  );
}

export type CostOptions = {
  monthly: number;
  requestsPerDocument: number;
  durableObjectRequestsPerDocument: number;
  embeddingModel: AiModel;
  storage: StorageInputs;
};

/** The whole estimate: per scenario dollars per million operations, and the storage bill. */
export function estimate(report: CounterReport, options: CostOptions) {
  const scenarios = Object.entries(report.scenarios)
    .filter(([, s]) => s.operations > 0)
    .sort(([, a], [, b]) => (a.unit === b.unit ? 0 : a.unit === "search" ? -1 : 1))
    .map(([name, s]) => {
      const usage = usagePerOperation(s.counters, s.operations, {
        requestsPerOperation: s.unit === "search" ? 1 : options.requestsPerDocument,
        dataPointsPerOperation: 1,
        durableObjectRequestsPerOperation: s.unit === "search" ? 0 : options.durableObjectRequestsPerDocument,
        aiModel: options.embeddingModel,
      });
      return { name, unit: s.unit, operations: s.operations, ...pricePerMillion(usage, options.monthly) };
    });
  const skipped = Object.entries(report.scenarios)
    .filter(([, s]) => s.operations === 0)
    .map(([name]) => name);
  return { scenarios, skipped, storage: storagePerMonth(options.storage) };
}

const usd = (n: number) => fixed(n, n !== 0 && n < 0.01 ? 4 : 2);
const count = (n: number) => Math.round(n).toLocaleString("en-US");

function printTables(file: string, report: CounterReport, options: CostOptions) {
  const { scenarios, skipped, storage } = estimate(report, options);
  const s = options.storage;
  console.log(`${file}: counters measured on ${report.backend} at ${report.generatedAt}`);
  console.log(
    `Prices read ${PRICES_READ_ON} (scripts/lib/pricing.ts). "allowances": each scenario alone on a Workers Paid ` +
      `account at ${count(options.monthly)} operations a month; the plan's $${WORKERS_PAID_MONTHLY_USD}/month is not included.\n`,
  );
  const rows = scenarios.map((sc) => {
    const largest = [...sc.items].sort((a, b) => b.listUsd - a.listUsd)[0];
    return [
      sc.name,
      sc.unit,
      String(sc.operations),
      usd(sc.listUsd),
      usd(sc.withAllowancesUsd),
      largest && largest.listUsd > 0 ? largest.label : "-",
    ];
  });
  console.log("Dollars per million operations (searches, or documents ingested)");
  console.log(formatTable(["scenario", "unit", "measured", "list $", "allowances $", "largest item"], rows));
  if (skipped.length > 0) console.log(`(no operations measured, left out: ${skipped.join(", ")})`);
  console.log(
    `\nStorage a month for ${count(s.documents)} documents (${s.d1BytesPerDocument} D1 bytes, ` +
      `${s.chunksPerDocument} vectors x ${s.dimensions} dimensions, ${s.r2BytesPerDocument} R2 bytes each)`,
  );
  const storageRows = storage.items.map((item) => [
    item.label,
    item.quantity >= 1000 ? count(item.quantity) : fixed(item.quantity, 2),
    usd(item.listUsd),
    usd(item.withAllowancesUsd),
  ]);
  storageRows.push(["total", "-", usd(storage.listUsd), usd(storage.withAllowancesUsd)]);
  console.log(formatTable(["item", "quantity", "list $", "allowances $"], storageRows));
}

const RESULTS_DIR = path.join(import.meta.dirname, "..", "bench-results");

export async function main(argv: string[], resultsDir: string = RESULTS_DIR) {
  const values = parseCommandLine(argv, {
    bench: { type: "string" },
    monthly: { type: "string" },
    "requests-per-document": { type: "string" },
    "do-requests-per-document": { type: "string" },
    "embedding-model": { type: "string" },
    documents: { type: "string" },
    "d1-bytes-per-document": { type: "string" },
    "chunks-per-document": { type: "string" },
    dimensions: { type: "string" },
    "r2-bytes-per-document": { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const options: CostOptions = {
    monthly: positiveNumber(values.monthly, "--monthly", DEFAULTS.monthly),
    requestsPerDocument: positiveNumber(
      values["requests-per-document"],
      "--requests-per-document",
      DEFAULTS.requestsPerDocument,
    ),
    durableObjectRequestsPerDocument: nonNegativeNumber(
      values["do-requests-per-document"],
      "--do-requests-per-document",
      DEFAULTS.durableObjectRequestsPerDocument,
    ),
    embeddingModel: embeddingModel(values["embedding-model"]),
    storage: {
      documents: positiveNumber(values.documents, "--documents", DEFAULTS.documents),
      d1BytesPerDocument: positiveNumber(
        values["d1-bytes-per-document"],
        "--d1-bytes-per-document",
        DEFAULTS.d1BytesPerDocument,
      ),
      chunksPerDocument: positiveNumber(
        values["chunks-per-document"],
        "--chunks-per-document",
        DEFAULTS.chunksPerDocument,
      ),
      dimensions: positiveNumber(values.dimensions, "--dimensions", DEFAULTS.dimensions),
      r2BytesPerDocument: positiveNumber(
        values["r2-bytes-per-document"],
        "--r2-bytes-per-document",
        DEFAULTS.r2BytesPerDocument,
      ),
    },
  };
  const file = typeof values.bench === "string" ? values.bench : await newestBench(resultsDir);
  const report = await readCounters(file);
  if (values.json) {
    const result = estimate(report, options);
    console.log(
      JSON.stringify(
        {
          bench: file,
          generatedAt: report.generatedAt,
          backend: report.backend,
          pricesReadOn: PRICES_READ_ON,
          workersPaidMonthlyUsd: WORKERS_PAID_MONTHLY_USD,
          options,
          ...result,
        },
        null,
        2,
      ),
    );
    return 0;
  }
  printTables(file, report, options);
  return 0;
}

if (isEntryPoint(import.meta.url)) process.exitCode = await run(main, USAGE);
