// The evaluation metrics against small rankings whose scores are worked out by hand in comments.
import { describe, expect, it } from "vitest";
import { mean, mrrAtK, ndcgAtK, parseQrels, percentile, recallAtK } from "../../scripts/lib/metrics.ts";

const LOG2_3 = Math.log2(3); // 1.5849625...

describe("ndcgAtK", () => {
  it("scores a single relevant document at rank 2 as 1/log2(3)", () => {
    // DCG = 1 / log2(2 + 1) = 0.63093; ideal DCG = 1 / log2(1 + 1) = 1.
    const score = ndcgAtK(["x", "rel", "y"], new Map([["rel", 1]]), 10);
    expect(score).toBeCloseTo(1 / LOG2_3, 12);
    expect(score).toBeCloseTo(0.63093, 5);
  });

  it("gives 1 to a ranking that matches the ideal order", () => {
    const qrels = new Map([
      ["a", 2],
      ["b", 1],
    ]);
    expect(ndcgAtK(["a", "b", "c"], qrels, 10)).toBeCloseTo(1, 12);
  });

  it("uses the grade as gain, so swapping a grade-2 and a grade-1 document costs score", () => {
    // Ranking b(1), a(2): DCG = 1/1 + 2/log2(3) = 2.26186.
    // Ideal a(2), b(1):   DCG = 2/1 + 1/log2(3) = 2.63093.  nDCG = 2.26186 / 2.63093 = 0.85972.
    const qrels = new Map([
      ["a", 2],
      ["b", 1],
    ]);
    expect(ndcgAtK(["b", "a"], qrels, 10)).toBeCloseTo(0.85972, 5);
  });

  it("cuts both the ranking and the ideal at k", () => {
    // Three relevant documents, k = 2, ranking r1, x, r2:
    // DCG@2 = 1/1 = 1; ideal DCG@2 = 1 + 1/log2(3) = 1.63093; nDCG = 0.61315.
    const qrels = new Map([
      ["r1", 1],
      ["r2", 1],
      ["r3", 1],
    ]);
    expect(ndcgAtK(["r1", "x", "r2"], qrels, 2)).toBeCloseTo(0.61315, 5);
  });

  it("ignores a relevant document ranked just past the cutoff", () => {
    const ranked = [...Array.from({ length: 10 }, (_, i) => `miss${i}`), "rel"];
    expect(ndcgAtK(ranked, new Map([["rel", 1]]), 10)).toBe(0);
  });

  it("treats grade-0 judgments as not relevant, in the ranking and in the ideal", () => {
    // "judged0" earns nothing at rank 1; "rel" at rank 2 gives 1/log2(3); the ideal holds only "rel".
    const qrels = new Map([
      ["judged0", 0],
      ["rel", 1],
    ]);
    expect(ndcgAtK(["judged0", "rel"], qrels, 10)).toBeCloseTo(1 / LOG2_3, 12);
  });

  it("gives a negatively graded document no gain rather than a penalty", () => {
    // Some TREC collections grade spam -1 or -2. "spam" at rank 1 earns 0 (not -1), "rel" at rank 2
    // earns 1/log2(3); the ideal holds only "rel": nDCG = 1/log2(3).
    const qrels = new Map([
      ["spam", -1],
      ["rel", 1],
    ]);
    expect(ndcgAtK(["spam", "rel"], qrels, 10)).toBeCloseTo(1 / LOG2_3, 12);
  });

  it("does not credit a document twice when it appears twice in the ranking", () => {
    // Distinct ranking a, b: DCG = 1 + 1/log2(3) = ideal, so 1; counting the repeat would exceed 1.
    const qrels = new Map([
      ["a", 1],
      ["b", 1],
    ]);
    expect(ndcgAtK(["a", "a", "b"], qrels, 10)).toBeCloseTo(1, 12);
  });

  it("is 0 when the query has no relevant document or nothing was returned", () => {
    expect(ndcgAtK(["a"], new Map([["a", 0]]), 10)).toBe(0);
    expect(ndcgAtK([], new Map([["a", 1]]), 10)).toBe(0);
  });

  it("rejects a cutoff that is not a positive integer", () => {
    expect(() => ndcgAtK(["a"], new Map([["a", 1]]), 0)).toThrow(RangeError);
    expect(() => ndcgAtK(["a"], new Map([["a", 1]]), 2.5)).toThrow(RangeError);
  });
});

describe("recallAtK", () => {
  it("is the share of relevant documents found in the first k", () => {
    // Four relevant documents, two of them (r1, r3) in the ranking: 2 / 4.
    const qrels = new Map([
      ["r1", 1],
      ["r2", 2],
      ["r3", 1],
      ["r4", 1],
    ]);
    expect(recallAtK(["r1", "x", "r3", "y"], qrels, 100)).toBe(0.5);
  });

  it("counts only the first k results", () => {
    const ranked = [...Array.from({ length: 10 }, (_, i) => `miss${i}`), "rel"];
    const qrels = new Map([["rel", 1]]);
    expect(recallAtK(ranked, qrels, 10)).toBe(0);
    expect(recallAtK(ranked, qrels, 100)).toBe(1);
  });

  it("does not count grade-0 judgments as relevant, found or missing", () => {
    // Relevant: only b. Found: b. Recall 1/1.
    const qrels = new Map([
      ["a", 0],
      ["b", 1],
      ["c", 0],
    ]);
    expect(recallAtK(["b"], qrels, 100)).toBe(1);
  });

  it("counts a repeated document once", () => {
    const qrels = new Map([
      ["a", 1],
      ["b", 1],
    ]);
    expect(recallAtK(["a", "a"], qrels, 100)).toBe(0.5);
  });
});

describe("mrrAtK", () => {
  it("is the reciprocal rank of the first relevant document", () => {
    const qrels = new Map([
      ["r", 1],
      ["s", 3],
    ]);
    expect(mrrAtK(["x", "y", "r", "s"], qrels, 10)).toBeCloseTo(1 / 3, 12);
    expect(mrrAtK(["s", "r"], qrels, 10)).toBe(1);
  });

  it("is 0 when the first relevant document is past the cutoff", () => {
    expect(mrrAtK(["x", "y", "r"], new Map([["r", 1]]), 2)).toBe(0);
  });

  it("skips documents judged not relevant", () => {
    const qrels = new Map([
      ["judged0", 0],
      ["r", 1],
    ]);
    expect(mrrAtK(["judged0", "r"], qrels, 10)).toBe(0.5);
  });
});

describe("mean and percentile", () => {
  it("averages values and reports NaN for none", () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(mean([])).toBeNaN();
  });

  it("takes the nearest-rank percentile", () => {
    // 20 values 1..20: p95 is the ceil(0.95 * 20) = 19th smallest, 19.
    const values = Array.from({ length: 20 }, (_, i) => 20 - i);
    expect(percentile(values, 95)).toBe(19);
    // [5, 1, 3] sorted is [1, 3, 5]: p50 is the ceil(1.5) = 2nd smallest, 3; p100 is the maximum.
    expect(percentile([5, 1, 3], 50)).toBe(3);
    expect(percentile([5, 1, 3], 100)).toBe(5);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 95)).toBeNaN();
  });

  it("leaves its input in place", () => {
    const values = [3, 1, 2];
    percentile(values, 50);
    expect(values).toEqual([3, 1, 2]);
  });

  it("rejects a percentile outside (0, 100]", () => {
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });
});

describe("parseQrels", () => {
  it("reads BEIR qrels with a header into grades per query", () => {
    const qrels = parseQrels("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t2\n2\td1\t0\n");
    expect([...qrels.keys()]).toEqual(["1", "2"]);
    expect(qrels.get("1")).toEqual(
      new Map([
        ["d1", 1],
        ["d2", 2],
      ]),
    );
    expect(qrels.get("2")).toEqual(new Map([["d1", 0]]));
  });

  it("accepts files without a header, with CRLF line ends and blank lines", () => {
    const qrels = parseQrels("q1\tdoc-a\t1\r\n\r\nq2\tdoc-b\t1\r\n");
    expect(qrels.get("q1")?.get("doc-a")).toBe(1);
    expect(qrels.get("q2")?.get("doc-b")).toBe(1);
  });

  it("keeps the last grade of a repeated pair", () => {
    expect(parseQrels("q\td\t1\nq\td\t2\n").get("q")?.get("d")).toBe(2);
  });

  it("names the line of a malformed judgment", () => {
    expect(() => parseQrels("query-id\tcorpus-id\tscore\nq1\td1\n")).toThrow(/line 2/);
    expect(() => parseQrels("q1\td1\thigh\n")).toThrow(/line 1/);
  });
});
