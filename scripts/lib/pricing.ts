// Cloudflare's published prices and the Workers Paid plan's monthly allowances, as data, and the pure
// functions that turn the cost counters of one search or one ingested document (src/observe/
// cost-counters.ts) into dollars. `npm run cost` prints them; docs/cost.md explains the model.
// Every price was read on 2026-12-05 from the page in the comment beside it (the page's source in
// cloudflare/cloudflare-docs where named). A price change is a change to this file only.
import type { CostCounters } from "../../src/observe/cost-counters.ts";

export const PRICES_READ_ON = "2026-12-05";

/** One billed quantity: `usd` per `per` units, after the first `included` units of each month. */
export type Meter = { label: string; usd: number; per: number; included: number };

const MILLION = 1_000_000;
/** Cloudflare's storage prices are per GB; its examples count 100,000 x 100 KB as 10 GB. */
export const BYTES_PER_GB = 1_000_000_000;

/** What one request or one ingested document is billed for. */
export const OPERATION_METERS = {
  // https://developers.cloudflare.com/workers/platform/pricing/#workers (src/content/docs/workers/
  // platform/pricing.mdx), read 2026-12-05: Standard, 10 million requests included per month
  // + $0.30 per additional million; 30 million CPU ms included + $0.02 per additional million.
  workerRequests: { label: "Worker requests", usd: 0.3, per: MILLION, included: 10 * MILLION },
  workerCpuMs: { label: "Worker CPU ms", usd: 0.02, per: MILLION, included: 30 * MILLION },
  // https://developers.cloudflare.com/d1/platform/pricing/ (partials/workers/d1-pricing.mdx), read
  // 2026-12-05: first 25 billion rows read / month included + $0.001 / million rows; first 50
  // million rows written / month included + $1.00 / million rows. Queries themselves are not billed.
  d1RowsRead: { label: "D1 rows read", usd: 0.001, per: MILLION, included: 25_000 * MILLION },
  d1RowsWritten: { label: "D1 rows written", usd: 1, per: MILLION, included: 50 * MILLION },
  // https://developers.cloudflare.com/kv/platform/pricing/ (partials/workers/kv_pricing.mdx), read
  // 2026-12-05: reads 10 million/month + $0.50/million; writes, deletes and lists 1 million/month
  // + $5.00/million each.
  kvReads: { label: "KV reads", usd: 0.5, per: MILLION, included: 10 * MILLION },
  kvWrites: { label: "KV writes", usd: 5, per: MILLION, included: MILLION },
  kvDeletes: { label: "KV deletes", usd: 5, per: MILLION, included: MILLION },
  kvLists: { label: "KV lists", usd: 5, per: MILLION, included: MILLION },
  // The Workers pricing page lists no price for the Cache API, and "Cloudflare does not bill for
  // subrequests you make from your Worker" (footnote 1 there), read 2026-12-05.
  cacheOperations: { label: "Cache API lookups and writes", usd: 0, per: MILLION, included: 0 },
  // https://developers.cloudflare.com/workers-ai/platform/pricing/ (last updated 2026-08-28), read
  // 2026-12-05: $0.011 / 1,000 Neurons; 10,000 Neurons per day free on Workers Paid. The allowance
  // is daily: a month of 30 evenly loaded days includes 300,000.
  aiNeurons: { label: "Workers AI neurons", usd: 0.011, per: 1000, included: 30 * 10_000 },
  // https://developers.cloudflare.com/vectorize/platform/pricing/ (partials/workers/
  // vectorize-pricing.mdx), read 2026-12-05: first 50 million queried vector dimensions / month
  // included + $0.040 per million. The page's formula, (stored vectors + queried vectors) x
  // dimensions x $0.040 / 1,000,000, is the sum of this meter and the stored dimensions below.
  vectorizeQueriedDimensions: {
    label: "Vectorize queried dimensions",
    usd: 0.04,
    per: MILLION,
    included: 50 * MILLION,
  },
  // https://developers.cloudflare.com/r2/pricing/ (src/content/docs/r2/pricing.mdx), read
  // 2026-12-05: Standard storage Class A $4.50 / million requests (1 million / month free),
  // Class B $0.36 / million (10 million / month free). DeleteObject is free.
  r2ClassA: { label: "R2 Class A operations", usd: 4.5, per: MILLION, included: MILLION },
  r2ClassB: { label: "R2 Class B operations", usd: 0.36, per: MILLION, included: 10 * MILLION },
  // https://developers.cloudflare.com/queues/platform/pricing/ (partials/workers/
  // queues_pricing.mdx), read 2026-12-05: 1,000,000 operations / month included + $0.40 / million;
  // an operation per 64 KB written, read or deleted (about 3 per delivered message).
  queueOperations: { label: "Queue operations", usd: 0.4, per: MILLION, included: MILLION },
  // https://developers.cloudflare.com/analytics/analytics-engine/pricing/, read 2026-12-05:
  // Workers Paid, 10 million data points written included per month (+$0.25 per additional million).
  analyticsDataPoints: {
    label: "Analytics Engine data points",
    usd: 0.25,
    per: MILLION,
    included: 10 * MILLION,
  },
  // https://developers.cloudflare.com/durable-objects/platform/pricing/ (partials/workers/
  // durable_objects_pricing.mdx), read 2026-12-05: 1 million requests included + $0.15/million;
  // every RPC method call on a stub is one request. Duration (400,000 GB-s + $12.50/million GB-s)
  // is not counted per operation and not priced here.
  durableObjectRequests: { label: "Durable Object requests", usd: 0.15, per: MILLION, included: MILLION },
} as const satisfies Record<string, Meter>;

/** What stored documents are billed for each month. */
export const STORAGE_METERS = {
  // https://developers.cloudflare.com/d1/platform/pricing/, read 2026-12-05: first 5 GB included
  // + $0.75 / GB-mo (tables and indexes both count).
  d1Storage: { label: "D1 storage (GB)", usd: 0.75, per: 1, included: 5 },
  // https://developers.cloudflare.com/vectorize/platform/pricing/, read 2026-12-05: first 10
  // million stored vector dimensions + $0.040 per million.
  vectorizeStoredDimensions: {
    label: "Vectorize stored dimensions",
    usd: 0.04,
    per: MILLION,
    included: 10 * MILLION,
  },
  // https://developers.cloudflare.com/r2/pricing/, read 2026-12-05: Standard storage $0.015 /
  // GB-month, 10 GB-month / month free.
  r2Storage: { label: "R2 storage (GB)", usd: 0.015, per: 1, included: 10 },
} as const satisfies Record<string, Meter>;

// https://developers.cloudflare.com/workers/platform/pricing/, read 2026-12-05: "a minimum charge of
// $5 USD per month for an account", whatever the usage.
export const WORKERS_PAID_MONTHLY_USD = 5;

// https://developers.cloudflare.com/workers-ai/platform/pricing/ (Embeddings and Other model
// pricing tables), read 2026-12-05.
export const NEURONS_PER_MILLION_INPUT_TOKENS = {
  "@cf/baai/bge-small-en-v1.5": 1841,
  "@cf/baai/bge-base-en-v1.5": 6058,
  "@cf/baai/bge-large-en-v1.5": 18582,
  "@cf/baai/bge-reranker-base": 283,
} as const;
export type AiModel = keyof typeof NEURONS_PER_MILLION_INPUT_TOKENS;

export type OperationMeter = keyof typeof OPERATION_METERS;
export type StorageMeter = keyof typeof STORAGE_METERS;

/** What the counters do not say and the bill needs: stated by the caller, documented in docs/cost.md. */
export type Workload = {
  /** Worker invocations billed per operation (a search is one request). */
  requestsPerOperation: number;
  /** Analytics Engine points written per operation (one per search and per ingested document). */
  dataPointsPerOperation: number;
  /** Durable Object calls per operation (an ingested document asks its namespace's coordinator). */
  durableObjectRequestsPerOperation: number;
  /** The model every counted AI input token is priced at. */
  aiModel: AiModel;
};

/** Billed quantities of one operation, from the counters summed over `operations` of them. */
export function usagePerOperation(
  counters: CostCounters,
  operations: number,
  workload: Workload,
): Record<OperationMeter, number> {
  const each = (n: number) => n / operations;
  const neurons = (counters.aiInputTokens * NEURONS_PER_MILLION_INPUT_TOKENS[workload.aiModel]) / MILLION;
  return {
    workerRequests: workload.requestsPerOperation,
    workerCpuMs: each(counters.cpuMs),
    d1RowsRead: each(counters.d1RowsRead),
    d1RowsWritten: each(counters.d1RowsWritten),
    kvReads: each(counters.kvReads),
    kvWrites: each(counters.kvWrites),
    kvDeletes: each(counters.kvDeletes),
    kvLists: each(counters.kvLists),
    cacheOperations: each(counters.cacheLookups + counters.cacheWrites),
    aiNeurons: each(neurons),
    vectorizeQueriedDimensions: each(counters.vectorizeQueryDimensions),
    r2ClassA: each(counters.r2ClassA),
    r2ClassB: each(counters.r2ClassB),
    queueOperations: each(counters.queueOperations),
    analyticsDataPoints: workload.dataPointsPerOperation,
    durableObjectRequests: workload.durableObjectRequestsPerOperation,
  };
}

export type PricedItem<M extends string> = {
  meter: M;
  label: string;
  quantity: number;
  listUsd: number;
  withAllowancesUsd: number;
};

/** Dollars for `quantity` units in a month: at list price, and beyond the `included` units. */
function price(meter: Meter, quantity: number, included: number) {
  const rate = meter.usd / meter.per;
  return { listUsd: quantity * rate, withAllowancesUsd: Math.max(0, quantity - included) * rate };
}

/**
 * Dollars per million operations, each meter at list price and with the Paid plan's allowances,
 * assuming this workload alone uses the account at `operationsPerMonth` (the allowance is monthly,
 * so it is spread over that month's operations).
 */
export function pricePerMillion(usage: Record<OperationMeter, number>, operationsPerMonth: number) {
  const items: PricedItem<OperationMeter>[] = [];
  for (const meter of Object.keys(OPERATION_METERS) as OperationMeter[]) {
    const m: Meter = OPERATION_METERS[meter];
    const monthly = price(m, usage[meter] * operationsPerMonth, m.included);
    const scale = MILLION / operationsPerMonth;
    items.push({
      meter,
      label: m.label,
      quantity: usage[meter] * MILLION,
      listUsd: monthly.listUsd * scale,
      withAllowancesUsd: monthly.withAllowancesUsd * scale,
    });
  }
  return { items, ...totals(items) };
}

export type StorageInputs = {
  documents: number;
  d1BytesPerDocument: number;
  chunksPerDocument: number;
  dimensions: number;
  r2BytesPerDocument: number;
};

/** The monthly storage bill of `documents` stored documents, at list price and with allowances. */
export function storagePerMonth(inputs: StorageInputs) {
  const quantities: Record<StorageMeter, number> = {
    d1Storage: (inputs.documents * inputs.d1BytesPerDocument) / BYTES_PER_GB,
    vectorizeStoredDimensions: inputs.documents * inputs.chunksPerDocument * inputs.dimensions,
    r2Storage: (inputs.documents * inputs.r2BytesPerDocument) / BYTES_PER_GB,
  };
  const items = (Object.keys(STORAGE_METERS) as StorageMeter[]).map((meter) => {
    const m: Meter = STORAGE_METERS[meter];
    return { meter, label: m.label, quantity: quantities[meter], ...price(m, quantities[meter], m.included) };
  });
  return { items, ...totals(items) };
}

function totals(items: { listUsd: number; withAllowancesUsd: number }[]) {
  let listUsd = 0;
  let withAllowancesUsd = 0;
  for (const item of items) {
    listUsd += item.listUsd;
    withAllowancesUsd += item.withAllowancesUsd;
  }
  return { listUsd, withAllowancesUsd };
}
