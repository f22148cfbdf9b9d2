// The pure parts of experiments: stable assignment, ranking overlap, the report's statistics
// and verdict, and search ids that verify without storage.
import { describe, expect, it } from "vitest";
import { assignArm, bucketOf } from "../../src/experiments/model";
import { rankBiasedOverlap, topOverlap } from "../../src/experiments/overlap";
import { checkPosition, issueSearchId, openSearchId, searchIdKey } from "../../src/experiments/search-id";
import {
  bucketUpperMs,
  histogramQuantile,
  latencyBucket,
  normalInterval,
  verdict,
  wilson,
} from "../../src/experiments/stats";

describe("assignment", () => {
  it("keeps a user in one arm and gives the candidate its share of 100,000 users within half a point", () => {
    const experiment = { id: "e7", share: 0.1 };
    let candidate = 0;
    for (let u = 0; u < 100_000; u++) {
      if (assignArm(experiment, `user-${u}`) === "candidate") candidate++;
    }
    const first = Array.from({ length: 1000 }, (_, u) => assignArm(experiment, `user-${u}`));
    expect(Array.from({ length: 1000 }, (_, u) => assignArm(experiment, `user-${u}`))).toEqual(first);
    expect(Math.abs(candidate / 100_000 - 0.1)).toBeLessThan(0.005);
  });

  it("draws another split per experiment, and assigns per request without a user", () => {
    const moved = Array.from({ length: 1000 }, (_, u) => bucketOf("e1", `u${u}`) !== bucketOf("e2", `u${u}`));
    expect(moved.filter(Boolean).length).toBeGreaterThan(900);
    expect(assignArm({ id: "e1", share: 0.1 }, undefined, () => 0.05)).toBe("candidate");
    expect(assignArm({ id: "e1", share: 0.1 }, undefined, () => 0.15)).toBe("control");
    expect(assignArm({ id: "e1", share: 0 }, "anyone")).toBe("control");
    expect(assignArm({ id: "e1", share: 1 }, "anyone")).toBe("candidate");
  });
});

describe("ranking overlap", () => {
  it("is 1 for identical rankings, 0 for disjoint ones, and weighs the top for RBO", () => {
    const a = ["a", "b", "c", "d"];
    expect(topOverlap(a, a)).toBe(1);
    expect(rankBiasedOverlap(a, a)).toBeCloseTo(1, 12);
    expect(topOverlap(a, ["w", "x", "y", "z"])).toBe(0);
    expect(rankBiasedOverlap(a, ["w", "x", "y", "z"])).toBe(0);
    // Swapped pair at depth 2: (1-p)(0 + p·1) + p²·1 = 0.9.
    expect(rankBiasedOverlap(["a", "b"], ["b", "a"])).toBeCloseTo(0.9, 12);
    // The same two documents in the top 10, found at the top or at the bottom.
    const top = ["a", "b", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8"];
    const bottom = ["y1", "y2", "y3", "y4", "y5", "y6", "y7", "y8", "a", "b"];
    const reference = ["a", "b", "z1", "z2", "z3", "z4", "z5", "z6", "z7", "z8"];
    expect(topOverlap(reference, top)).toBe(topOverlap(reference, bottom));
    expect(rankBiasedOverlap(reference, top)).toBeGreaterThan(rankBiasedOverlap(reference, bottom));
  });
});

describe("report statistics", () => {
  it("computes Wilson intervals and normal intervals of a mean", () => {
    const w = wilson(50, 100);
    expect(w.low).toBeCloseTo(0.4038, 4);
    expect(w.high).toBeCloseTo(0.5962, 4);
    expect(wilson(0, 0)).toEqual({ value: 0, low: 0, high: 1 });
    // Values 1, 0.5, 0, 0: mean 0.375, sample variance 0.229167, standard error 0.239357.
    const m = normalInterval(4, 1.5, 1.25);
    expect(m.value).toBe(0.375);
    expect(m.high).toBeCloseTo(0.375 + 1.959964 * 0.239357, 5);
    expect(m.low).toBe(0);
  });

  it("reads latency percentiles as bucket upper bounds within a fifth of the value", () => {
    const h = new Map<number, number>();
    for (let ms = 1; ms <= 100; ms++) h.set(latencyBucket(ms), (h.get(latencyBucket(ms)) ?? 0) + 1);
    const p50 = histogramQuantile(h, 0.5) ?? 0;
    expect(p50).toBeGreaterThanOrEqual(50);
    expect(p50).toBeLessThan(50 * 1.2);
    expect(histogramQuantile(new Map(), 0.5)).toBeNull();
    expect(bucketUpperMs(latencyBucket(37))).toBeGreaterThanOrEqual(37);
  });

  it("keeps running below the minimum sample, then decides on the MRR difference", () => {
    const arm = (searches: number, rr: number) => ({
      searches,
      rrSum: rr * searches,
      rrSquares: rr * searches,
    });
    expect(verdict(arm(999, 0.5), arm(999, 0.2), 1000).verdict).toBe("keep running");
    expect(verdict(arm(1000, 0.5), arm(1000, 0.2), 1000).verdict).toBe("candidate worse");
    expect(verdict(arm(1000, 0.2), arm(1000, 0.5), 1000).verdict).toBe("candidate better");
    expect(verdict(arm(1000, 0.5), arm(1000, 0.5), 1000).verdict).toBe("no difference");
  });
});

describe("search ids", () => {
  const search = {
    namespace: "docs",
    version: "v2",
    arm: "candidate" as const,
    experiment: "e1",
    issuedAt: 1_000_000,
    offset: 10,
    documents: ["a", "b", "c"],
  };

  it("verify without storage, and name each result at its position", async () => {
    const key = (await searchIdKey("secret")) as CryptoKey;
    const id = await issueSearchId(key, search);
    const opened = await openSearchId(key, id, 1_000_001);
    expect(opened).toMatchObject({ namespace: "docs", version: "v2", arm: "candidate", experiment: "e1" });
    expect(() => checkPosition(opened, "b", 12)).not.toThrow();
    expect(() => checkPosition(opened, "b", 11)).toThrow(/not the result at position 11/);
    expect(() => checkPosition(opened, "a", 1)).toThrow(/outside the answer/);
  });

  it("refuse an altered, foreign or expired id with a 400", async () => {
    const key = (await searchIdKey("secret")) as CryptoKey;
    const other = (await searchIdKey("another secret")) as CryptoKey;
    const id = await issueSearchId(key, search);
    const [body, mac] = id.split(".") as [string, string];
    const altered = `${body.slice(0, 5)}${body[5] === "A" ? "B" : "A"}${body.slice(6)}.${mac}`;
    await expect(openSearchId(key, altered, 1_000_001)).rejects.toMatchObject({ code: "validation_failed" });
    await expect(openSearchId(other, id, 1_000_001)).rejects.toMatchObject({ code: "validation_failed" });
    await expect(openSearchId(key, "garbage", 1_000_001)).rejects.toMatchObject({
      code: "validation_failed",
    });
    await expect(openSearchId(key, id, 1_000_000 + 25 * 3_600_000)).rejects.toThrow(/expired/);
  });
});
