// The cost model's arithmetic: counters to billed quantities, list prices and the Workers Paid
// plan's monthly allowances, against figures computed by hand from the published prices.
import { describe, expect, it } from "vitest";
import {
  pricePerMillion,
  storagePerMonth,
  usagePerOperation,
  type Workload,
} from "../../scripts/lib/pricing.ts";
import { type CostCounters, emptyCounters } from "../../src/observe/cost-counters.ts";

const SEARCH: Workload = {
  requestsPerOperation: 1,
  dataPointsPerOperation: 1,
  durableObjectRequestsPerOperation: 0,
  aiModel: "@cf/baai/bge-base-en-v1.5",
};

/** 1,000 vector searches: 5 ms CPU, 3 D1 rows, 1 KV read, 20 tokens, one 768-dimension query each. */
function vectorSearches(): CostCounters {
  return {
    ...emptyCounters(),
    cpuMs: 5000,
    d1RowsRead: 3000,
    kvReads: 1000,
    cacheLookups: 1000,
    aiInputTokens: 20_000,
    vectorizeQueryDimensions: 768_000,
  };
}

const item = (priced: ReturnType<typeof pricePerMillion>, meter: string) =>
  priced.items.find((i) => i.meter === meter);

describe("pricing a million operations", () => {
  it("prices each meter at list: $0.30 requests, $0.10 CPU, $1.33 neurons, $30.72 queried dimensions", () => {
    const usage = usagePerOperation(vectorSearches(), 1000, SEARCH);
    const priced = pricePerMillion(usage, 1_000_000);
    expect(item(priced, "workerRequests")?.listUsd).toBeCloseTo(0.3, 10);
    expect(item(priced, "workerCpuMs")?.listUsd).toBeCloseTo(0.1, 10);
    expect(item(priced, "d1RowsRead")?.listUsd).toBeCloseTo(0.003, 10);
    expect(item(priced, "kvReads")?.listUsd).toBeCloseTo(0.5, 10);
    // 20 tokens x 6058 neurons per million tokens = 0.12116 neurons a search; $0.011 per 1,000.
    expect(item(priced, "aiNeurons")?.quantity).toBeCloseTo(121_160, 6);
    expect(item(priced, "aiNeurons")?.listUsd).toBeCloseTo(1.33276, 10);
    expect(item(priced, "vectorizeQueriedDimensions")?.listUsd).toBeCloseTo(30.72, 10);
    expect(item(priced, "analyticsDataPoints")?.listUsd).toBeCloseTo(0.25, 10);
    expect(item(priced, "cacheOperations")?.listUsd).toBe(0);
    expect(priced.listUsd).toBeCloseTo(33.20576, 10);
  });

  it("takes the allowances off a month of a million searches: only queried dimensions past 50 million remain", () => {
    const priced = pricePerMillion(usagePerOperation(vectorSearches(), 1000, SEARCH), 1_000_000);
    // 768 million queried dimensions - 50 million included = 718 million x $0.04 per million.
    expect(item(priced, "vectorizeQueriedDimensions")?.withAllowancesUsd).toBeCloseTo(28.72, 10);
    expect(priced.withAllowancesUsd).toBeCloseTo(28.72, 10);
  });

  it("spreads a partly used allowance over the month's operations", () => {
    const priced = pricePerMillion(usagePerOperation(vectorSearches(), 1000, SEARCH), 10_000_000);
    // 50 million CPU ms - 30 million included = 20 million x $0.02 per million = $0.40 a month,
    // $0.04 per million searches; neurons: 1,211,600 - 300,000 = 911,600 x $0.011 / 1,000.
    expect(item(priced, "workerCpuMs")?.withAllowancesUsd).toBeCloseTo(0.04, 10);
    expect(item(priced, "aiNeurons")?.withAllowancesUsd).toBeCloseTo(1.00276, 10);
    // 10 million requests and KV reads: exactly the allowance, nothing billed.
    expect(item(priced, "workerRequests")?.withAllowancesUsd).toBe(0);
    expect(item(priced, "kvReads")?.withAllowancesUsd).toBe(0);
    expect(priced.withAllowancesUsd).toBeCloseTo(0.04 + 1.00276 + 30.52, 10);
  });

  it("approaches list price at a volume far past every allowance", () => {
    const priced = pricePerMillion(usagePerOperation(vectorSearches(), 1000, SEARCH), 1e15);
    expect(priced.withAllowancesUsd).toBeCloseTo(priced.listUsd, 4);
  });

  it("prices AI tokens at the chosen model's neurons", () => {
    const counters = { ...emptyCounters(), aiInputTokens: 1_000_000 };
    const rerank = usagePerOperation(counters, 1, { ...SEARCH, aiModel: "@cf/baai/bge-reranker-base" });
    expect(rerank.aiNeurons).toBe(283);
    expect(usagePerOperation(counters, 1, SEARCH).aiNeurons).toBe(6058);
  });
});

describe("storage a month", () => {
  it("prices a million SciFact documents: 3.6 GB D1, 1.3824 billion stored dimensions, 1.5 GB R2", () => {
    const storage = storagePerMonth({
      documents: 1_000_000,
      d1BytesPerDocument: 3600,
      chunksPerDocument: 1.8,
      dimensions: 768,
      r2BytesPerDocument: 1500,
    });
    const byMeter = Object.fromEntries(storage.items.map((i) => [i.meter, i]));
    expect(byMeter.d1Storage?.quantity).toBeCloseTo(3.6, 10);
    expect(byMeter.d1Storage?.listUsd).toBeCloseTo(2.7, 10);
    expect(byMeter.d1Storage?.withAllowancesUsd).toBe(0);
    expect(byMeter.vectorizeStoredDimensions?.quantity).toBe(1_382_400_000);
    expect(byMeter.vectorizeStoredDimensions?.listUsd).toBeCloseTo(55.296, 10);
    expect(byMeter.vectorizeStoredDimensions?.withAllowancesUsd).toBeCloseTo(54.896, 10);
    expect(byMeter.r2Storage?.listUsd).toBeCloseTo(0.0225, 10);
    expect(byMeter.r2Storage?.withAllowancesUsd).toBe(0);
    expect(storage.listUsd).toBeCloseTo(58.0185, 10);
    expect(storage.withAllowancesUsd).toBeCloseTo(54.896, 10);
  });

  it("bills D1 past its 5 GB allowance", () => {
    const storage = storagePerMonth({
      documents: 10_000_000,
      d1BytesPerDocument: 1000,
      chunksPerDocument: 1,
      dimensions: 1,
      r2BytesPerDocument: 1,
    });
    // 10 GB - 5 GB included = 5 GB x $0.75.
    expect(storage.items.find((i) => i.meter === "d1Storage")?.withAllowancesUsd).toBeCloseTo(3.75, 10);
  });
});
