// TopK, the bounded ranking behind exact search, rescoring and the local index: whatever order
// rows arrive in, it keeps the best k by score, equal scores by id, as sorting all of them would.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TopK } from "../../src/vectors/exact-search";

/** The order a ranking promises, written out here: higher score first, equal scores by id. */
function byScoreThenId(a: { id: string; score: number }, b: { id: string; score: number }): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

const rows = fc.uniqueArray(
  fc.record({
    id: fc.string({ minLength: 1, maxLength: 4 }),
    // Few distinct scores, so ties (broken by id) are common.
    score: fc.integer({ min: -3, max: 3 }).map((n) => n / 4),
  }),
  { selector: (row) => row.id, maxLength: 200 },
);

describe("TopK", () => {
  it("keeps the best k rows in the order a full sort gives, for any arrival order", () => {
    fc.assert(
      fc.property(rows, fc.integer({ min: 1, max: 120 }), (all, k) => {
        const top = new TopK<{ id: string; score: number }>(k);
        for (const row of all) top.push(row);
        expect(top.items).toEqual([...all].sort(byScoreThenId).slice(0, k));
      }),
      { numRuns: 300 },
    );
  });

  it("admits a score only while it could still enter", () => {
    const top = new TopK<{ id: string; score: number }>(2);
    expect(top.admits(-1)).toBe(true);
    top.push({ id: "b", score: 0.5 });
    top.push({ id: "c", score: 0.9 });
    expect(top.admits(0.4)).toBe(false);
    // Equal to the last: it may still enter on its id.
    expect(top.admits(0.5)).toBe(true);
    top.push({ id: "a", score: 0.5 });
    expect(top.items.map((r) => r.id)).toEqual(["c", "a"]);
  });
});
