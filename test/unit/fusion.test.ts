// Weighted reciprocal rank fusion: scores worked out by hand in comments.
import { describe, expect, it } from "vitest";
import { reciprocalRankFusion } from "../../src/search/fusion";

const list = (...ids: string[]) => ids.map((id, i) => ({ id, score: 100 - i }));

describe("weighted reciprocal rank fusion", () => {
  it("lets a heavier list win where equal weights would tie", () => {
    // vector: a(1) b(2); keyword: b(1) a(2). Equal weights: a = b = 1/61 + 1/62.
    const vector = list("a", "b");
    const keyword = list("b", "a");
    const equal = reciprocalRankFusion([vector, keyword], { k: 60 });
    expect(equal[0]?.score).toBeCloseTo(equal[1]?.score ?? 0, 12);
    // Keyword weighted 2: b = 1/62 + 2/61 = 0.048915, a = 1/61 + 2/62 = 0.048652.
    const weighted = reciprocalRankFusion([vector, keyword], { k: 60, weights: [1, 2] });
    expect(weighted.map((r) => r.id)).toEqual(["b", "a"]);
    expect(weighted[0]?.score).toBeCloseTo(1 / 62 + 2 / 61, 12);
    expect(weighted[1]?.score).toBeCloseTo(1 / 61 + 2 / 62, 12);
  });

  it("ignores a list weighted 0, and scales scores by the weights", () => {
    const fused = reciprocalRankFusion([list("x", "y"), list("y", "z")], { k: 10, weights: [0, 0.5] });
    // Only the second list counts: y = 0.5/11, z = 0.5/12.
    expect(fused).toEqual([
      { id: "y", score: 0.5 / 11 },
      { id: "z", score: 0.5 / 12 },
    ]);
  });

  it("breaks equal scores by id, so the order never depends on input order", () => {
    const one = reciprocalRankFusion([list("q"), list("p")], { k: 60 });
    const two = reciprocalRankFusion([list("p"), list("q")], { k: 60 });
    expect(one.map((r) => r.id)).toEqual(["p", "q"]);
    expect(two).toEqual(one);
  });
});
