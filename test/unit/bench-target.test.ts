// The bench's verdict on the hybrid target: with interleaved rounds it is their median ratio, and
// the single pass's ratio is still shown beside it.

import { describe, expect, it } from "vitest";
import { targetLines } from "../../scripts/bench/report.ts";

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
