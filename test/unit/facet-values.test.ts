// Facet values counted in the Worker (countValues): the most frequent values of a field over the
// matched documents' values, in facetCounts' order, with the rest in otherCount; and the bound
// that keeps the documents' values one D1 value.
import { describe, expect, it } from "vitest";
import { D1_LIMITS } from "../../src/store/d1-limits";
import { compareCodePoints, countValues } from "../../src/store/facet-values";
import { WORKER_COUNTING } from "../../src/store/facets";

describe("countValues", () => {
  it("answers the `limit` most frequent of many distinct values and counts the rest in otherCount", () => {
    // 5,000 documents: "common" in 1,000 of them, "usual" in 500, the rest one value each.
    const values = Array.from({ length: 5_000 }, (_, i) =>
      i < 1_000 ? "common" : i < 1_500 ? "usual" : `rare-${i}`,
    );
    const counted = countValues(values, 3);
    expect(counted.values).toEqual([
      { value: "common", count: 1_000 },
      { value: "usual", count: 500 },
      // Ties by value: the smallest of the 3,500 values held once.
      { value: "rare-1500", count: 1 },
    ]);
    expect(counted.otherCount).toBe(3_499);
  });

  it("counts no value for a document without the field or with an array, object or null in it", () => {
    const counted = countValues([undefined, null, ["a", "b"], { a: 1 }, "a", [], {}], 10);
    expect(counted).toEqual({ values: [{ value: "a", count: 1 }], otherCount: 0 });
  });

  it("keeps numbers, strings and booleans apart, and one number however it was written", () => {
    const counted = countValues([1, JSON.parse("1.0"), "1", true, "true", false, -0, 0], 10);
    expect(counted.values).toEqual([
      { value: 0, count: 2 },
      { value: 1, count: 2 },
      { value: false, count: 1 },
      { value: true, count: 1 },
      { value: "1", count: 1 },
      { value: "true", count: 1 },
    ]);
  });

  it("orders ties false, true, numbers ascending, then strings by code point as SQLite does", () => {
    // U+1F600 is a surrogate pair in UTF-16, which `<` puts before U+FF5E; SQLite's UTF-8 bytes do not.
    const values = ["\u{1F600}", "\uFF5E", "b", "a", 10, 9, -1.5, true, false];
    const counted = countValues(values, 20);
    expect(counted.values.map((v) => v.value)).toEqual([
      false,
      true,
      -1.5,
      9,
      10,
      "a",
      "b",
      "\uFF5E",
      "\u{1F600}",
    ]);
    expect(compareCodePoints("\u{1F600}", "\uFF5E")).toBeGreaterThan(0);
    expect(compareCodePoints("ab", "a")).toBeGreaterThan(0);
  });
});

describe("WORKER_COUNTING", () => {
  it("keeps every document's values together under D1's 2,000,000-byte value limit", () => {
    // Each document: at most valueChars characters of 4 UTF-8 bytes, and a comma; the brackets.
    const worst = WORKER_COUNTING.documents * (WORKER_COUNTING.valueChars * 4 + 1) + 2;
    expect(worst).toBeLessThanOrEqual(D1_LIMITS.maxValueBytes);
  });
});
