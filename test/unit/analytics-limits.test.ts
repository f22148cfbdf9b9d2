// Analytics Engine's writeDataPoint limits: the metrics never write a point or a number of points
// the platform refuses, and the local stand-in refuses them with the platform's error text.
import { describe, expect, it } from "vitest";
import { AE_MAX_POINTS_PER_INVOCATION, StrictDataset } from "../../src/observe/analytics-limits";
import { COST_COUNTER_NAMES, emptyCounters } from "../../src/observe/cost-counters";
import {
  INGEST_COUNTER_DOUBLES,
  parseCountersBlob,
  SEARCH_COUNTER_DOUBLES,
} from "../../src/observe/cost-schema";
import { AnalyticsEngineMetrics, type HealthEvent, type SearchEvent } from "../../src/observe/metrics";
import { truncateUtf8 } from "../../src/util/encoding";

class RecordingDataset implements AnalyticsEngineDataset {
  points: AnalyticsEngineDataPoint[] = [];
  writeDataPoint(point?: AnalyticsEngineDataPoint): void {
    if (point) this.points.push(point);
  }
}

const bytes = (s: unknown) => new TextEncoder().encode(String(s)).byteLength;

const search = (over: Partial<SearchEvent> = {}): SearchEvent => ({
  namespace: "docs",
  mode: "hybrid",
  status: 200,
  results: 3,
  cache: "miss",
  degraded: [],
  totalMs: 12.34,
  embedMs: 1,
  vectorMs: 2,
  hydrateMs: 3,
  ...over,
});

const health = (namespace: string): HealthEvent => ({
  namespace,
  state: "ok",
  problems: [],
  indexedDocuments: 1,
  d1Chunks: 1,
  expectedChunks: 1,
  stuckQueued: 0,
  deadLetters: 0,
  sampledVectors: 1,
  missingVectors: 0,
});

describe("StrictDataset (the local Analytics Engine binding)", () => {
  const refuses = (point: AnalyticsEngineDataPoint, text: string) =>
    expect(() => new StrictDataset(undefined).writeDataPoint(point)).toThrow(text);

  it("refuses what workerd refuses, with workerd's error text", () => {
    refuses({ blobs: Array(21).fill("b") }, "writeDataPoint(): Maximum of 20 blobs supported.");
    refuses({ doubles: Array(21).fill(1) }, "writeDataPoint(): Maximum of 20 doubles supported.");
    refuses({ indexes: ["a", "b"] }, "writeDataPoint(): Maximum of 1 indexes supported.");
    refuses({ indexes: ["i".repeat(97)] }, "writeDataPoint(): Size of indexes[0] exceeds 96 bytes).");
    refuses(
      { blobs: ["b".repeat(8_000), "é".repeat(4_001)] },
      "writeDataPoint(): Cumulative size of blobs exceeds 16000 bytes).",
    );
  });

  it("accepts a point at every limit and passes it on", () => {
    const inner = new RecordingDataset();
    const point = {
      indexes: ["i".repeat(96)],
      blobs: Array(20).fill("b".repeat(800)),
      doubles: Array(20).fill(1),
    };
    new StrictDataset(inner).writeDataPoint(point);
    expect(inner.points).toEqual([point]);
  });

  it("refuses the 251st point of an invocation", () => {
    const dataset = new StrictDataset(undefined);
    for (let i = 0; i < 250; i++) dataset.writeDataPoint({ blobs: ["x"] });
    expect(() => dataset.writeDataPoint({ blobs: ["x"] })).toThrow("Analytics Engine write limit exceeded.");
  });
});

describe("AnalyticsEngineMetrics within the limits", () => {
  it("shortens a huge error code and degraded list instead of failing the search", () => {
    const inner = new RecordingDataset();
    const metrics = new AnalyticsEngineMetrics(new StrictDataset(inner));
    metrics.search(
      search({ code: "é".repeat(20_000), degraded: Array.from({ length: 5_000 }, (_, i) => `reason-${i}`) }),
    );
    const [point] = inner.points;
    const blobs = point?.blobs ?? [];
    expect(blobs).toHaveLength(9);
    expect(blobs.reduce((sum, b) => sum + bytes(b), 0)).toBeLessThanOrEqual(16_000);
    // Cut on a character boundary: 400 two-byte characters, no replacement character.
    expect(blobs[6]).toBe("é".repeat(400));
    expect(String(blobs[4]).startsWith("reason-0,reason-1,")).toBe(true);
  });

  it("writes the schemas' fields unchanged when they fit", () => {
    const inner = new RecordingDataset();
    new AnalyticsEngineMetrics(new StrictDataset(inner)).search(search({ code: "bad_request", colo: "AMS" }));
    expect(inner.points[0]).toEqual({
      indexes: ["docs"],
      blobs: ["search", "docs", "hybrid", "miss", "", "AMS", "bad_request", "", ""],
      doubles: [200, 3, 12.3, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    });
  });

  it("carries every cost counter in a search and an ingest point, within 20 doubles", () => {
    const inner = new RecordingDataset();
    const counters = emptyCounters();
    COST_COUNTER_NAMES.forEach((name, i) => {
      counters[name] = 1_000_000 + i;
    });
    const metrics = new AnalyticsEngineMetrics(new StrictDataset(inner));
    metrics.search(search({ counters }));
    metrics.ingest({
      namespace: "docs",
      outcome: "indexed",
      chunks: 4,
      bytes: 9,
      totalMs: 1,
      lagMs: 2,
      counters,
    });
    const [searchPoint, ingestPoint] = inner.points;
    expect(searchPoint?.doubles).toHaveLength(20);
    expect(searchPoint?.doubles?.slice(11)).toEqual(SEARCH_COUNTER_DOUBLES.map((name) => counters[name]));
    expect(parseCountersBlob(String(searchPoint?.blobs?.[8]))).toEqual(counters);
    expect(ingestPoint?.doubles).toHaveLength(20);
    expect(ingestPoint?.doubles?.slice(5)).toEqual(INGEST_COUNTER_DOUBLES.map((name) => counters[name]));
    expect(parseCountersBlob(String(ingestPoint?.blobs?.[3]))).toEqual(counters);
  });

  it("writes 250 points in one invocation and counts the rest as dropped", () => {
    const inner = new RecordingDataset();
    const metrics = new AnalyticsEngineMetrics(new StrictDataset(inner));
    for (let i = 0; i < 300; i++) metrics.health(health(`ns-${i}`));
    expect(inner.points).toHaveLength(AE_MAX_POINTS_PER_INVOCATION);
    expect(metrics.dropped).toBe(50);
    expect(inner.points.at(-1)?.indexes).toEqual(["ns-249"]);
  });
});

describe("truncateUtf8", () => {
  it("keeps the longest prefix that fits without splitting a character", () => {
    expect(truncateUtf8("abc", 2)).toBe("ab");
    expect(truncateUtf8("aé", 2)).toBe("a");
    expect(truncateUtf8("a😀b", 4)).toBe("a");
    expect(truncateUtf8("a😀b", 5)).toBe("a😀");
    expect(truncateUtf8("short", 96)).toBe("short");
  });
});
