// Metadata filters: which filters Vectorize's rules accept, and which metadata each operator matches.

import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import { compareStrings, indexedString, matchesFilter, validateFilter } from "../../src/vectors/filter";
import type { MetadataFilter, VectorMetadata } from "../../src/vectors/vector-index";

function rejected(filter: unknown): AppError {
  try {
    validateFilter(filter);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(filter)} to be rejected`);
}

describe("validateFilter", () => {
  it.each<[string, unknown]>([
    ["a bare value", { category: "news" }],
    ["null", { lang: null }],
    ["a number and a boolean", { year: 2020, draft: false }],
    ["$eq null", { lang: { $eq: null } }],
    ["$ne", { lang: { $ne: "en" } }],
    ["$in with mixed scalars", { tag: { $in: ["a", 1, true] } }],
    ["$nin", { tag: { $nin: ["a"] } }],
    ["a lower and an upper bound", { year: { $gte: 2020, $lt: 2030 } }],
    ["a string range", { name: { $gt: "a", $lte: "m" } }],
    ["a dotted path", { "pandas.nice": 42 }],
    ["a 512-character field name", { ["f".repeat(512)]: 1 }],
  ])("accepts %s and returns it unchanged", (_, filter) => {
    expect(validateFilter(filter)).toEqual(filter);
  });

  it.each<[string, unknown, string, string]>([
    ["a string", "category", "filter", "must be an object"],
    ["null", null, "filter", "must be an object"],
    ["an array", [{ a: 1 }], "filter", "must be an object"],
    ["an empty object", {}, "filter", "at least one field"],
    ["$regex", { name: { $regex: "^a" } }, "filter.name.$regex", 'unknown filter operator "$regex"'],
    ["$exists", { name: { $exists: true } }, "filter.name.$exists", 'unknown filter operator "$exists"'],
    ["top-level $and", { $and: [{ a: 1 }] }, "filter.$and", 'filter field "$and" cannot start with "$"'],
    ["top-level $or", { $or: [{ a: 1 }] }, "filter.$or", 'filter field "$or" cannot start with "$"'],
    ["an empty field name", { "": 1 }, "filter.", "cannot be empty"],
    ["a double quote in a field", { 'a"b': 1 }, 'filter.a"b', "double quote"],
    ["an empty path segment", { "a..b": 1 }, "filter.a..b", "empty path segment"],
    ["a leading dot", { ".a": 1 }, "filter..a", "empty path segment"],
    ["a $ path segment", { "a.$b": 1 }, "filter.a.$b", 'starting with "$"'],
    ["a 513-character field name", { ["f".repeat(513)]: 1 }, `filter.${"f".repeat(513)}`, "longer than 512"],
    ["a nested object", { pandas: { nice: 42 } }, "filter.pandas", '"pandas.nice"'],
    ["an array value", { tag: ["a", "b"] }, "filter.tag", "use $in"],
    ["an empty operator object", { tag: {} }, "filter.tag", "empty operator object"],
    ["$in with an empty array", { tag: { $in: [] } }, "filter.tag.$in", "non-empty array"],
    ["$in with a scalar", { tag: { $in: "a" } }, "filter.tag.$in", "non-empty array"],
    ["$in with null", { tag: { $in: ["a", null] } }, "filter.tag.$in", "got null"],
    ["$nin with an object", { tag: { $nin: [{ a: 1 }] } }, "filter.tag.$nin", "got an object"],
    ["$eq with an array", { tag: { $eq: ["a"] } }, "filter.tag.$eq", "got an array"],
    ["$ne with an object", { tag: { $ne: { a: 1 } } }, "filter.tag.$ne", "got an object"],
    ["$gt with a boolean", { year: { $gt: true } }, "filter.year.$gt", "number or a string"],
    ["$lt with null", { year: { $lt: null } }, "filter.year.$lt", "got null"],
    ["$gte with NaN", { year: { $gte: Number.NaN } }, "filter.year.$gte", "got NaN"],
    ["a bare Infinity", { year: Number.POSITIVE_INFINITY }, "filter.year", "got Infinity"],
    ["two lower bounds", { year: { $gt: 1, $gte: 2 } }, "filter.year", "only one lower bound"],
    ["two upper bounds", { year: { $lt: 1, $lte: 2 } }, "filter.year", "only one lower bound"],
    ["$eq with a range", { year: { $eq: 1, $gt: 0 } }, "filter.year", "combines $eq and $gt"],
    ["$in with $nin", { tag: { $in: ["a"], $nin: ["b"] } }, "filter.tag", "combines $in and $nin"],
    [
      "bounds of two types",
      { year: { $gt: 1, $lt: "z" } },
      "filter.year",
      "both be numbers or both be strings",
    ],
  ])("rejects %s", (_, filter, field, message) => {
    const err = rejected(filter);
    expect(err.code).toBe("invalid_filter");
    expect(err.retryable).toBe(false);
    expect(err.field).toBe(field);
    expect(err.message).toContain(message);
  });

  it("accepts compact JSON just under 2,048 bytes and rejects 2,048", () => {
    // {"f":"..."} is 8 bytes around the string.
    expect(() => validateFilter({ f: "x".repeat(2047 - 8) })).not.toThrow();
    const err = rejected({ f: "x".repeat(2048 - 8) });
    expect(err.message).toContain("2048 bytes");
  });

  it("measures the size in UTF-8 bytes", () => {
    // 1,020 two-byte characters: 2,048 bytes with the 8 around them, though only 1,028 characters.
    expect(rejected({ f: "é".repeat(1020) }).code).toBe("invalid_filter");
  });
});

describe("matchesFilter", () => {
  const m: VectorMetadata = { s: "news", n: 10, b: true, zero: 0, empty: "" };
  const cases: [string, MetadataFilter, VectorMetadata | undefined, boolean][] = [
    ["bare string equal", { s: "news" }, m, true],
    ["bare string differs", { s: "blog" }, m, false],
    ["a string never equals a number", { n: "10" }, m, false],
    ["a number never equals a string", { s: 0 }, { s: "0" }, false],
    ["a boolean never equals 1", { b: 1 }, m, false],
    ["0 is not false", { zero: false }, m, false],
    ["empty string is not null", { empty: null }, m, false],
    ["$eq number", { n: { $eq: 10 } }, m, true],
    ["$eq null on a missing field", { missing: { $eq: null } }, m, true],
    ["$eq null on a present field", { s: { $eq: null } }, m, false],
    ["$eq on a missing field", { missing: "x" }, m, false],
    ["$ne on a different value", { s: { $ne: "blog" } }, m, true],
    ["$ne on the same value", { s: { $ne: "news" } }, m, false],
    ["$ne across types", { n: { $ne: "10" } }, m, true],
    ["$ne on a missing field", { missing: { $ne: "x" } }, m, true],
    ["$ne null on a missing field", { missing: { $ne: null } }, m, false],
    ["$ne null on a present field", { s: { $ne: null } }, m, true],
    ["$in contains", { s: { $in: ["blog", "news"] } }, m, true],
    ["$in lacks", { s: { $in: ["blog"] } }, m, false],
    ["$in is type-strict", { n: { $in: ["10"] } }, m, false],
    ["$in on a missing field", { missing: { $in: ["x"] } }, m, false],
    ["$nin lacks", { s: { $nin: ["blog"] } }, m, true],
    ["$nin contains", { s: { $nin: ["blog", "news"] } }, m, false],
    ["$nin on a missing field", { missing: { $nin: ["x"] } }, m, true],
    ["$gt above", { n: { $gt: 9 } }, m, true],
    ["$gt equal", { n: { $gt: 10 } }, m, false],
    ["$gte equal", { n: { $gte: 10 } }, m, true],
    ["$lt below", { n: { $lt: 11 } }, m, true],
    ["$lt equal", { n: { $lt: 10 } }, m, false],
    ["$lte equal", { n: { $lte: 10 } }, m, true],
    ["numeric, not lexicographic: 10 > 9", { n: { $gt: 9.5 } }, m, true],
    ["range inside", { n: { $gte: 5, $lt: 11 } }, m, true],
    ["range misses the upper bound", { n: { $gte: 5, $lt: 10 } }, m, false],
    ["range misses the lower bound", { n: { $gt: 10, $lte: 20 } }, m, false],
    ["number range on a string value", { s: { $gt: 0 } }, m, false],
    ["string range on a number value", { n: { $gt: "" } }, m, false],
    ["range on a missing field", { missing: { $lt: 100 } }, m, false],
    ["range on a boolean value", { b: { $gte: 0 } }, m, false],
    ["a string range as a prefix match", { s: { $gte: "new", $lt: "nex" } }, m, true],
    ["a string range for another prefix", { s: { $gte: "net", $lt: "neu" } }, m, false],
    ["'news' sorts after 'new'", { s: { $gt: "new" } }, m, true],
    ["uppercase sorts before lowercase", { s: { $gt: "Zebra" } }, m, true],
    ["implicit AND, all true", { s: "news", n: { $gt: 1 }, b: true }, m, true],
    ["implicit AND, one false", { s: "news", n: { $gt: 1 }, b: false }, m, false],
    ["no metadata, $eq", { s: "news" }, undefined, false],
    ["no metadata, $ne", { s: { $ne: "news" } }, undefined, true],
    ["no metadata, null", { s: null }, undefined, true],
    ["a dotted path does not read a flat key", { "a.b": 1 }, { a: 1 }, false],
  ];
  it.each(cases)("%s", (_, filter, metadata, expected) => {
    expect(matchesFilter(metadata, filter)).toBe(expected);
  });

  it("follows dotted paths into nested metadata written by other Vectorize clients", () => {
    const nested: VectorMetadata = JSON.parse('{"pandas": {"nice": 42, "tags": ["a"]}, "top": "x"}');
    expect(matchesFilter(nested, { "pandas.nice": 42 })).toBe(true);
    expect(matchesFilter(nested, { "pandas.nice": { $gt: 50 } })).toBe(false);
    expect(matchesFilter(nested, { "pandas.rude": { $ne: 1 } })).toBe(true);
    // Arrays and objects cannot be indexed, so they behave as missing.
    expect(matchesFilter(nested, { "pandas.tags": null })).toBe(true);
    expect(matchesFilter(nested, { pandas: null })).toBe(true);
  });
});

describe("compareStrings", () => {
  it("orders by code point, as UTF-8 bytes do, not by UTF-16 units", () => {
    // U+FF5E (3 UTF-8 bytes) sorts before U+1F600 (4 bytes); as UTF-16 the surrogate 0xD83D is smaller.
    expect(compareStrings("\uFF5E", "😀")).toBeLessThan(0);
    expect("\uFF5E" < "😀").toBe(false);
    expect(compareStrings("abc", "abd")).toBeLessThan(0);
    expect(compareStrings("ab", "abc")).toBeLessThan(0);
    expect(compareStrings("b", "abc")).toBeGreaterThan(0);
    expect(compareStrings("x😀", "x😀")).toBe(0);
  });
});

describe("indexedString", () => {
  it("keeps the longest prefix of whole characters within 64 bytes of UTF-8", () => {
    const bytes = (s: string) => new TextEncoder().encode(s).byteLength;
    expect(indexedString("short")).toBe("short");
    expect(indexedString("x".repeat(64))).toBe("x".repeat(64));
    expect(indexedString("x".repeat(65))).toBe("x".repeat(64));
    expect(indexedString("é".repeat(40))).toBe("é".repeat(32));
    // A 4-byte character that would end at byte 66 is dropped whole.
    expect(indexedString(`${"a".repeat(62)}😀b`)).toBe("a".repeat(62));
    expect(indexedString(`${"a".repeat(60)}😀b`)).toBe(`${"a".repeat(60)}😀`);
    expect(bytes(indexedString("€".repeat(30)))).toBe(63);
  });
});
