// The bench's verdict on the hybrid target: with interleaved rounds it is their median ratio, and
// the single pass's ratio is still shown beside it.

import { describe, expect, it } from "vitest";
import { comparisonLines, type RunResult, targetLines } from "../../scripts/bench/report.ts";

/** A run whose hybrid miss reached `ratio` of the no-op's throughput at c=16 and `p50` ms at c=1. */
function runWith(ratio: number, p50: number, pairedRatios?: number[], median?: number) {
  const level = (concurrency: number, throughputRatio: number, p50Ms: number) => ({
    concurrency,
    throughput: 100,
    latencyMs: { p50: p50Ms },
    ratios: { throughput: throughputRatio },
  });
  return {
    profile: "default",
    description: "",
    server: { kind: "wrangler", port: 8790, baseUrl: "http://127.0.0.1:8790" },
    scenarios: [
      { name: "miss-hybrid-10k", description: "", levels: [level(1, 0.3, p50), level(16, ratio, 90)] },
    ],
    ...(pairedRatios
      ? {
          paired: {
            scenario: "miss-hybrid-10k",
            concurrency: 16,
            rounds: pairedRatios.map((r) => ({
              noop: 600,
              target: 600 * r,
              ratio: r,
              noopWorkerUs: null,
              targetWorkerUs: null,
            })),
            median: median ?? Number.NaN,
          },
        }
      : {}),
  };
}

describe("bench hybrid target", () => {
  it("judges the single pass when there are no rounds", () => {
    const lines = targetLines([runWith(0.22, 11.2)]);
    expect(lines).toEqual([
      "hybrid miss over 10k chunks (default): 0.22x the no-op's throughput at c=16 (target >= 0.25x: NOT met); p50 11.2 ms at c=1 (target < 15 ms: met)",
    ]);
  });

  it("judges the rounds' median, listing each round and the single pass", () => {
    const lines = targetLines([runWith(0.22, 16.5, [0.27, 0.24, 0.26], 0.26)]);
    expect(lines[0]).toBe(
      "hybrid miss over 10k chunks (default), 3 rounds of the no-op then the miss at c=16: 0.27x, 0.24x, 0.26x",
    );
    expect(lines[1]).toContain(
      "0.26x the no-op's throughput at c=16, median of 3 rounds (the pass above: 0.22x)",
    );
    expect(lines[1]).toContain("(target >= 0.25x: met)");
    expect(lines[1]).toContain("p50 16.5 ms at c=1 (target < 15 ms: NOT met)");
  });

  it("reports a median under the target as not met", () => {
    const lines = targetLines([runWith(0.3, 10, [0.2, 0.31, 0.24], 0.24)]);
    expect(lines[1]).toContain("(target >= 0.25x: NOT met)");
  });
});

describe("bench comparisons", () => {
  /** A run of the given scenarios, each with its p50 (ms) and server CPU (us) per request at c=1 and c=16. */
  function runOf(scenarios: Record<string, [number, number]>): RunResult {
    const level = (concurrency: number, [p50, cpu]: [number, number]) =>
      ({
        concurrency,
        latencyMs: { p50 },
        cpu: { serverTotalUsPerRequest: cpu },
      }) as unknown as RunResult["scenarios"][number]["levels"][number];
    return {
      profile: "default",
      description: "",
      server: { kind: "wrangler", port: 8790, baseUrl: "http://127.0.0.1:8790" },
      scenarios: Object.entries(scenarios).map(([name, figures]) => ({
        name,
        description: "",
        levels: [level(1, figures), level(16, [figures[0] * 4, figures[1]])],
      })),
    };
  }

  it("gives the faceted and highlighted misses as ratios to the plain miss, judged against 1.3x", () => {
    const lines = comparisonLines([
      runOf({
        "miss-hybrid": [10, 1000],
        "miss-hybrid-highlight": [11, 1100],
        "miss-hybrid-highlight-facets": [14, 1500],
      }),
    ]);
    expect(lines).toEqual([
      "miss-hybrid-highlight / miss-hybrid (default) at c=1: p50 1.10x, server CPU per request 1.10x (target p50 <= 1.3x: met)",
      "miss-hybrid-highlight / miss-hybrid (default) at c=16: p50 1.10x, server CPU per request 1.10x (target p50 <= 1.3x: met)",
      "miss-hybrid-highlight-facets / miss-hybrid (default) at c=1: p50 1.40x, server CPU per request 1.50x (target p50 <= 1.3x: NOT met)",
      "miss-hybrid-highlight-facets / miss-hybrid (default) at c=16: p50 1.40x, server CPU per request 1.50x (target p50 <= 1.3x: NOT met)",
    ]);
  });

  it("says nothing of a comparison whose plain scenario did not run", () => {
    expect(comparisonLines([runOf({ "miss-hybrid-highlight-facets": [14, 1500] })])).toEqual([]);
  });
});
