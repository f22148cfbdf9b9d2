// The Analytics Engine query builders: scoping, escaping, windows, and burn-rate evaluation.
import { describe, expect, it } from "vitest";
import {
  alertQueries,
  BURN_WINDOWS,
  dashboardQueries,
  evaluateBurn,
  evaluateHealth,
  metricsQuery,
  namespaceCondition,
  parseWindow,
  SLOS,
  sqlString,
} from "../../src/observe/analytics-sql";

describe("namespaceCondition", () => {
  it("adds nothing for '*' and matches names exactly or by escaped prefix", () => {
    expect(namespaceCondition(["*"])).toBe("");
    // In the SQL literal, \\_ is a backslash then _: LIKE's escaped underscore, not "any character".
    expect(namespaceCondition(["docs", "acme_x-*"])).toBe(
      " AND (index1 = 'docs' OR index1 LIKE 'acme\\\\_x-%')",
    );
    expect(namespaceCondition([])).toBe(" AND 0 = 1");
  });

  it("quotes what it embeds", () => {
    expect(sqlString("it's a \\ test")).toBe("'it\\'s a \\\\ test'");
  });
});

describe("metricsQuery", () => {
  it("weights every figure by the sample interval and uses quantileWeighted for latency", () => {
    const sql = metricsQuery({ kind: "search", group: "none", windowSeconds: 3600 });
    expect(sql).toContain("SUM(_sample_interval) AS searches");
    expect(sql).toContain("quantileWeighted(0.99, double3, _sample_interval) AS p99_ms");
    expect(sql).toContain(
      "FROM edgesearch_events WHERE blob1 = 'search' AND timestamp >= NOW() - INTERVAL '3600' SECOND",
    );
    expect(sql.endsWith("FORMAT JSON")).toBe(true);
  });

  it("groups by namespace or by time bucket", () => {
    const byNs = metricsQuery({ kind: "ingest", group: "namespace", windowSeconds: 60, patterns: ["a"] });
    expect(byNs).toMatch(/^SELECT index1 AS namespace, SUM\(_sample_interval\) AS indexed/);
    expect(byNs).toContain("blob3 = 'indexed'");
    expect(byNs).toContain("AND (index1 = 'a') GROUP BY namespace");
    const series = metricsQuery({ kind: "search", group: "time", windowSeconds: 3600, bucketSeconds: 60 });
    expect(series).toContain("intDiv(toUInt32(timestamp), 60) * 60 AS t");
    expect(series).toContain("GROUP BY t ORDER BY t");
  });

  it("refuses a dataset name that is not an identifier", () => {
    expect(() =>
      metricsQuery({ kind: "search", group: "none", windowSeconds: 1, dataset: "x; DROP" }),
    ).toThrow();
  });
});

describe("dashboardQueries", () => {
  it("names one query per figure set and rejects unknown windows", () => {
    const q = dashboardQueries({ window: "6h", dataset: "other_ds" });
    expect(Object.keys(q).sort()).toEqual([
      "ingestByNamespace",
      "ingestFailuresByNamespace",
      "ingestOverall",
      "ingestSeries",
      "searchByNamespace",
      "searchOverall",
      "searchSeries",
    ]);
    expect(q.searchSeries).toContain("intDiv(toUInt32(timestamp), 300) * 300");
    expect(q.ingestOverall).toContain("FROM other_ds");
    expect(() => parseWindow("2y")).toThrow(/unknown window/);
    expect(() => parseWindow("constructor")).toThrow(/unknown window/);
  });
});

describe("alertQueries", () => {
  const alerts = alertQueries();

  it("has fast, slow and ticket burn alerts per SLO, and the index health alert", () => {
    expect(alerts).toHaveLength(SLOS.length * BURN_WINDOWS.length + 1);
    const fast = alerts.find((a) => a.id === "search-availability-fast");
    expect(fast).toMatchObject({ factor: 14.4, windows: "1h/5m", severity: "page", budget: 0.001 });
    expect(fast?.sql).toContain("INTERVAL '3600' SECOND");
    expect(fast?.sql).toContain("IF(timestamp >= NOW() - INTERVAL '300' SECOND AND double1 >= 500");
    expect(alerts.find((a) => a.id === "search-latency-miss-slow")).toMatchObject({
      factor: 6,
      windows: "6h/30m",
    });
    expect(alerts.find((a) => a.id === "ingest-freshness-ticket")).toMatchObject({
      factor: 1,
      windows: "3d/6h",
    });
    for (const a of alerts) expect(a.runbook).toMatch(/^docs\/alerts\/[a-z-]+\.md$/);
  });

  it("fires only when both windows burn at the factor", () => {
    const fast = { factor: 14.4, budget: 0.001 };
    // 2% errors = 20x the budget's rate, in both windows: fires.
    expect(
      evaluateBurn(fast, { bad_long: 20, total_long: 1000, bad_short: 2, total_short: 100 }),
    ).toMatchObject({
      firing: true,
    });
    // The long window burns, the last 5 minutes are clean: the incident is over, no page.
    const over = evaluateBurn(fast, { bad_long: 20, total_long: 1000, bad_short: 0, total_short: 100 });
    expect(over.firing).toBe(false);
    expect(over.burnLong).toBeCloseTo(20, 6);
    // No traffic: no burn.
    expect(evaluateBurn(fast, { bad_long: 0, total_long: 0, bad_short: 0, total_short: 0 }).firing).toBe(
      false,
    );
    expect(
      evaluateBurn(fast, { bad_long: "30", total_long: "1000", bad_short: "3", total_short: "100" }).firing,
    ).toBe(true);
  });

  it("flags namespaces that failed two health checks", () => {
    const health = { factor: 2 };
    expect(
      evaluateHealth(health, [
        { namespace: "a", failed_checks: 2 },
        { namespace: "b", failed_checks: 1 },
      ]),
    ).toEqual({
      failing: ["a"],
      firing: true,
    });
  });
});
