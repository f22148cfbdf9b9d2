// D1's value limit in bytes: UTF-8 lengths, and JSON arrays sliced to stay under it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonArraySlices, utf8Length } from "../../src/store/d1-limits";

const bytes = (s: string) => new TextEncoder().encode(s).length;

describe("utf8Length", () => {
  it("agrees with TextEncoder, surrogate pairs and lone surrogates included", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 64 }), (s) => utf8Length(s) === bytes(s)));
    expect(utf8Length("a\u00e9\u20ac\u{1f600}\ud800x\udc00")).toBe(
      bytes("a\u00e9\u20ac\u{1f600}\ud800x\udc00"),
    );
    // The first test of the file also pays for loading it, slow on a busy machine.
  }, 30_000);
});

describe("jsonArraySlices", () => {
  it("keeps every value, in order, in arrays of at most the given bytes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: "grapheme", maxLength: 40 })),
        fc.integer({ min: 60, max: 400 }),
        (values, max) => {
          const json = values.map((v) => JSON.stringify(v));
          const slices = jsonArraySlices(json, max);
          expect(slices.flatMap((s) => JSON.parse(s) as string[])).toEqual(values);
          for (const s of slices) expect(bytes(s)).toBeLessThanOrEqual(max);
        },
      ),
    );
  });

  it("counts bytes, not characters, and gives a value over the limit an array of its own", () => {
    const two = JSON.stringify("\u00e9".repeat(10)); // 22 bytes, 12 characters
    expect(jsonArraySlices([two, two], 47)).toEqual([`[${two},${two}]`]);
    expect(jsonArraySlices([two, two], 46)).toEqual([`[${two}]`, `[${two}]`]);
    expect(jsonArraySlices(['"x"', two], 10)).toEqual(['["x"]', `[${two}]`]);
    expect(jsonArraySlices([], 10)).toEqual([]);
  });
});
