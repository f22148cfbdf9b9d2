// What a search and an ingested document cost, as an operator reads it: the x-cost-counters header
// of a search answered to an admin key, the counters of each ingest point, and their sums per
// namespace on /v1/admin/metrics.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { clearIsolateResultCache } from "../../src/cache/cached-search";
import type { CostCounters } from "../../src/observe/cost-counters";
import { parseCountersBlob } from "../../src/observe/cost-schema";
import { flushLocalMetrics } from "../../src/observe/local-dataset";
import { COST_HEADER } from "../../workers/api/routes/search";
import { api, freshNamespace, waitFor, waitForStatus } from "../support";
import { searchApi } from "../support/search";

const ns = freshNamespace("cost");
const other = freshNamespace("cost-other");

function costOf(headers: Headers): Partial<CostCounters> {
  const header = headers.get(COST_HEADER);
  if (header === null) throw new Error(`no ${COST_HEADER} header`);
  return parseCountersBlob(header);
}

async function indexedPoints(
  namespace: string,
): Promise<{ chunks: number; counters: Partial<CostCounters> }[]> {
  await flushLocalMetrics(env.DB);
  const { results } = await env.DB.prepare(
    "SELECT double1, blob4 FROM local_metrics WHERE index1 = ?1 AND blob1 = 'ingest' AND blob3 = 'indexed' ORDER BY id",
  )
    .bind(namespace)
    .all<{ double1: number; blob4: string | null }>();
  return results.map((r) => ({ chunks: r.double1, counters: parseCountersBlob(r.blob4 ?? "") }));
}

beforeAll(async () => {
  const docs = [
    [ns, "walrus", "The walrus hauls out on sea ice to rest between long foraging dives for clams."],
    [ns, "puffin", "The puffin nests in burrows on sea cliffs and dives for sand eels in summer."],
    [other, "heron", "The heron stands still in shallow water, waiting to spear a passing fish."],
  ] as const;
  for (const [namespace, id, text] of docs) {
    const res = await api("PUT", `/v1/namespaces/${namespace}/documents/${id}`, { text });
    expect(res.status).toBe(202);
  }
  for (const [namespace, id] of docs) await waitForStatus(namespace, id, "indexed");
}, 30_000);

describe("cost counters", () => {
  it("a keyword search reports the D1 rows it read; its cache-hit repeat reports no D1 query", async () => {
    const body = { query: "walrus foraging dives", mode: "keyword", topK: 5 };
    const miss = await searchApi(ns, body);
    expect(miss.status).toBe(200);
    expect(miss.headers.get("x-cache")).toBe("miss");
    const missCost = costOf(miss.headers);
    expect(missCost.d1Queries).toBeGreaterThan(0);
    expect(missCost.d1RowsRead).toBeGreaterThan(0);
    expect(missCost.aiCalls ?? 0).toBe(0);
    // The isolate missed, so the Cache API was asked.
    expect(missCost.cacheLookups).toBe(1);
    const hit = await waitFor("a cache hit", async () => {
      const res = await searchApi(ns, body);
      return res.body.cache === "hit" ? res : undefined;
    });
    expect(hit.headers.get(COST_HEADER)).not.toBeNull();
    expect(costOf(hit.headers).d1Queries ?? 0).toBe(0);
    expect(costOf(hit.headers).d1RowsRead ?? 0).toBe(0);
    // Once the isolate forgot it, the Cache API answers: one lookup, still no D1 query.
    clearIsolateResultCache();
    const fromCacheApi = await searchApi(ns, body);
    expect(fromCacheApi.headers.get("x-cache")).toBe("cache-api");
    expect(costOf(fromCacheApi.headers)).toMatchObject({ cacheLookups: 1 });
    expect(costOf(fromCacheApi.headers).d1Queries ?? 0).toBe(0);
  });

  it("a vector search reports one query of the index's dimensions and the embedding's tokens", async () => {
    const res = await searchApi(ns, {
      query: "sea birds nesting on cliffs",
      mode: "vector",
      cache: "bypass",
    });
    expect(res.status).toBe(200);
    const cost = costOf(res.headers);
    expect(cost.vectorizeQueries).toBe(1);
    expect(cost.vectorizeQueryDimensions).toBe(768);
    // "sea birds nesting on cliffs" is 5 WordPiece tokens, plus [CLS], [SEP] and the model's
    // query prefix: at least 7 whatever the prefix.
    expect(cost.aiInputTokens ?? 0).toBeGreaterThanOrEqual(7);
  });

  it("gives the counters to admin keys only", async () => {
    const created = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "cost-reader",
      namespaces: [ns],
      roles: ["search"],
    });
    expect(created.status).toBe(201);
    const res = await searchApi(
      ns,
      { query: "walrus", mode: "keyword", cache: "bypass" },
      {
        authorization: `Bearer ${created.body.key}`,
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get(COST_HEADER)).toBeNull();
  });

  it("an indexed document counts one vector written per chunk, an AI call and its R2 read", async () => {
    const points = await waitFor("ingest points", async () => {
      const found = await indexedPoints(ns);
      return found.length === 2 ? found : undefined;
    });
    for (const { chunks, counters } of points) {
      expect(chunks).toBeGreaterThan(0);
      expect(counters.vectorizeVectorsWritten).toBe(chunks);
      expect(counters.aiCalls).toBe(1);
      expect(counters.aiInputTokens ?? 0).toBeGreaterThan(10);
      expect(counters.r2ClassB ?? 0).toBeGreaterThanOrEqual(1);
      expect(counters.d1RowsWritten ?? 0).toBeGreaterThan(0);
      // The queue delivery of its notification is a read: one 64 KB chunk.
      expect(counters.queueOperations ?? 0).toBeGreaterThanOrEqual(1);
    }
  });

  it("the metrics report sums the counters per namespace", async () => {
    const a = await searchApi(ns, { query: "puffin burrows", mode: "keyword", cache: "bypass" });
    const b = await searchApi(other, { query: "heron shallow water", mode: "keyword", cache: "bypass" });
    const nsPoints = await indexedPoints(ns);
    type Report = {
      namespaces: {
        namespace: string;
        searchCost: CostCounters;
        indexedCost: CostCounters;
        searches: number;
      }[];
    };
    const report = await waitFor("both namespaces reported", async () => {
      const res = await api<Report>("GET", "/v1/admin/metrics?window=1h");
      const names = res.body.namespaces.map((n) => n.namespace);
      return names.includes(ns) && names.includes(other) ? res.body : undefined;
    });
    const mine = report.namespaces.find((n) => n.namespace === ns);
    const theirs = report.namespaces.find((n) => n.namespace === other);
    const chunks = nsPoints.reduce((sum, p) => sum + p.chunks, 0);
    expect(mine?.indexedCost.vectorizeVectorsWritten).toBe(chunks);
    expect(mine?.indexedCost.aiCalls).toBe(2);
    expect(theirs?.indexedCost.aiCalls).toBe(1);
    // The other namespace had one search: its sum is that search's rows, nothing of ours.
    expect(theirs?.searches).toBe(1);
    expect(theirs?.searchCost.d1RowsRead).toBe(costOf(b.headers).d1RowsRead);
    expect(mine?.searchCost.d1RowsRead ?? 0).toBeGreaterThanOrEqual(costOf(a.headers).d1RowsRead ?? 0);
  });
});
