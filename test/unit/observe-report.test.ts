// The dashboard's figures from local points and from SQL rows: the same definitions either way.
import { describe, expect, it } from "vitest";
import type { StoredPoint } from "../../src/observe/report";
import { quantile, reportFromPoints, reportFromSql } from "../../src/observe/report";

const NOW = Date.parse("2026-11-01T12:00:00Z");
const WINDOW = { name: "1h", seconds: 3600, bucket: 60 };

function search(
  ns: string,
  ageS: number,
  ms: number,
  opts: { status?: number; cache?: string; degraded?: string } = {},
): StoredPoint {
  return {
    timestamp: NOW - ageS * 1000,
    index1: ns,
    blobs: ["search", ns, "hybrid", opts.cache ?? "miss", opts.degraded ?? "", "LHR", ""],
    doubles: [opts.status ?? 200, 3, ms],
  };
}

function ingest(ns: string, ageS: number, lagMs: number, outcome = "indexed"): StoredPoint {
  return {
    timestamp: NOW - ageS * 1000,
    index1: ns,
    blobs: ["ingest", ns, outcome],
    doubles: [2, 100, 50, lagMs],
  };
}

describe("quantile", () => {
  it("is nearest-rank", () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([5, 1, 3], 0.5)).toBe(3);
    expect(
      quantile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        0.99,
      ),
    ).toBe(99);
    expect(quantile([1, 2], 1)).toBe(2);
  });
});

describe("reportFromPoints", () => {
  it("computes rates, quantiles and a bucketed series, overall and per namespace", () => {
    const points = [
      search("a", 10, 10, { cache: "isolate" }),
      search("a", 20, 30),
      search("a", 30, 50, { status: 503 }),
      search("a", 30, 20, { degraded: "rerank_unavailable" }),
      search("b", 200, 100, { status: 400 }),
    ];
    const report = reportFromPoints(
      points,
      [ingest("a", 5, 1500), ingest("a", 6, 2500), ingest("b", 7, 0, "failed")],
      WINDOW,
      NOW,
    );
    expect(report.overall).toMatchObject({
      searches: 5,
      errorRate: 1 / 5,
      clientErrorRate: 1 / 5,
      degradedRate: 1 / 5,
      cacheHitRate: 1 / 5,
      p50Ms: 30,
      p99Ms: 100,
      indexed: 2,
      ingestFailed: 1,
      lagP95Ms: 2500,
    });
    expect(report.overall.qps).toBeCloseTo(5 / 3600, 9);
    const a = report.namespaces.find((n) => n.namespace === "a");
    expect(a).toMatchObject({ searches: 4, errorRate: 0.25, p99Ms: 50, indexed: 2, ingestFailed: 0 });
    expect(report.namespaces.find((n) => n.namespace === "b")).toMatchObject({
      searches: 1,
      ingestFailed: 1,
    });
    // 60 one-minute buckets plus the current one; every search lands in exactly one.
    expect(report.series.length).toBe(61);
    expect(report.series.reduce((n, p) => n + p.searches, 0)).toBe(5);
    const busy = report.series.filter((p) => p.searches > 0);
    expect(busy.length).toBe(2);
    expect(
      report.series.filter((p) => p.searches === 0).every((p) => p.p95Ms === null && p.errorRate === null),
    ).toBe(true);
  });

  it("has no rates or quantiles without traffic", () => {
    const report = reportFromPoints([], [], WINDOW, NOW);
    expect(report.overall).toMatchObject({
      searches: 0,
      p50Ms: null,
      errorRate: null,
      cacheHitRate: null,
      lagP95Ms: null,
    });
    expect(report.namespaces).toEqual([]);
  });
});

describe("reportFromSql", () => {
  it("reads the SQL API's rows (numbers as strings included) into the same shape", () => {
    const t = Math.floor(NOW / 1000 / 60) * 60;
    const report = reportFromSql(
      {
        searchOverall: [
          {
            searches: "10",
            server_errors: "1",
            client_errors: 0,
            degraded: 2,
            cache_hits: 5,
            p50_ms: 12.34,
            p95_ms: 40,
            p99_ms: "80",
          },
        ],
        searchByNamespace: [
          {
            namespace: "a",
            searches: 10,
            server_errors: 1,
            client_errors: 0,
            degraded: 2,
            cache_hits: 5,
            p50_ms: 12,
            p95_ms: 40,
            p99_ms: 80,
          },
        ],
        searchSeries: [
          {
            t,
            searches: 10,
            server_errors: 1,
            client_errors: 0,
            degraded: 2,
            cache_hits: 5,
            p50_ms: 12,
            p95_ms: 40,
            p99_ms: 80,
          },
        ],
        ingestOverall: [{ indexed: 4, lag_p50_ms: 900, lag_p95_ms: 1800 }],
        ingestByNamespace: [{ namespace: "a", indexed: 4, lag_p50_ms: 900, lag_p95_ms: 1800 }],
        ingestSeries: [],
        ingestFailuresByNamespace: [{ namespace: "c", failed: 3 }],
      },
      WINDOW,
      NOW,
    );
    expect(report.source).toBe("analytics-engine");
    expect(report.overall).toMatchObject({
      searches: 10,
      errorRate: 0.1,
      cacheHitRate: 0.5,
      p50Ms: 12.3,
      p99Ms: 80,
      indexed: 4,
      ingestFailed: 3,
    });
    expect(report.namespaces.map((n) => n.namespace)).toEqual(["a", "c"]);
    expect(report.series.at(-1)).toMatchObject({ t, searches: 10, qps: 10 / 60 });
  });
});
