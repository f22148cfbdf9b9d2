// A restore writes rows in another order than the ingest did, and the keyword index breaks ties
// by row: the drill accepts rankings that differ only among equal scores, and nothing else.
import { describe, expect, it } from "vitest";
import { differOnlyInTies } from "../../scripts/lib/restore-drill";

/** "a:3 b:2" is a ranking of a (score 3), then b (score 2). */
function ranked(text: string) {
  const pairs = text.split(" ").map((p) => p.split(":"));
  return { ids: pairs.map(([id]) => id ?? ""), scores: pairs.map(([, score]) => Number(score)) };
}

const tiesOnly = (live: string, scratch: string) => differOnlyInTies(ranked(live), ranked(scratch));

describe("restore drill rankings", () => {
  it("accepts documents of equal score in another order", () => {
    expect(tiesOnly("a:3 b:2 c:2 d:1", "a:3 c:2 b:2 d:1")).toBe(true);
  });

  it("accepts another document of the last score when ties run past the cut", () => {
    expect(tiesOnly("a:3 b:1 c:1", "a:3 b:1 z:1")).toBe(true);
  });

  it("refuses a swap of different scores, another document inside the list, and another length", () => {
    expect(tiesOnly("a:3 b:2", "b:3 a:2")).toBe(false);
    expect(tiesOnly("a:2 b:2 c:1", "a:2 z:2 c:1")).toBe(false);
    expect(tiesOnly("a:3 b:2", "a:3")).toBe(false);
    expect(tiesOnly("a:3 b:2", "a:3 b:1.5")).toBe(false);
  });
});
