// A restore writes rows in another order than the ingest did, and the keyword index breaks ties
// by row: the drill accepts rankings that differ only among equal scores, and nothing else.
import { describe, expect, it } from "vitest";
import { differOnlyInTies } from "../../scripts/lib/restore-drill";

const ranked = (pairs: [string, number][]) => ({
  ids: pairs.map(([id]) => id),
  scores: pairs.map(([, s]) => s),
});

describe("restore drill rankings", () => {
  it("accepts documents of equal score in another order", () => {
    const live = ranked([
      ["a", 3],
      ["b", 2],
      ["c", 2],
      ["d", 1],
    ]);
    const scratch = ranked([
      ["a", 3],
      ["c", 2],
      ["b", 2],
      ["d", 1],
    ]);
    expect(differOnlyInTies(live, scratch)).toBe(true);
  });

  it("accepts another document of the last score when ties run past the cut", () => {
    const live = ranked([
      ["a", 3],
      ["b", 1],
      ["c", 1],
    ]);
    const scratch = ranked([
      ["a", 3],
      ["b", 1],
      ["z", 1],
    ]);
    expect(differOnlyInTies(live, scratch)).toBe(true);
  });

  it("refuses a swap of different scores, another document inside the list, and another length", () => {
    expect(
      differOnlyInTies(
        ranked([
          ["a", 3],
          ["b", 2],
        ]),
        ranked([
          ["b", 3],
          ["a", 2],
        ]),
      ),
    ).toBe(false);
    expect(
      differOnlyInTies(
        ranked([
          ["a", 2],
          ["b", 2],
          ["c", 1],
        ]),
        ranked([
          ["a", 2],
          ["z", 2],
          ["c", 1],
        ]),
      ),
    ).toBe(false);
    expect(
      differOnlyInTies(
        ranked([
          ["a", 3],
          ["b", 2],
        ]),
        ranked([["a", 3]]),
      ),
    ).toBe(false);
    expect(
      differOnlyInTies(
        ranked([
          ["a", 3],
          ["b", 2],
        ]),
        ranked([
          ["a", 3],
          ["b", 1.5],
        ]),
      ),
    ).toBe(false);
  });
});
