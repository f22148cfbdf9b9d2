// What facet counts cost in D1 rows read, counted from D1's own result meta: one statement for
// every facet, reading in proportion to the matches counted (at most maxMatches) and not to the
// chunks that match; past the cap the counts cover the best matches and say so.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Meter } from "../../src/observe/meter";
import { meteredD1 } from "../../src/observe/metered-d1";
import { DocumentStore } from "../../src/store/documents";
import { facetCounts } from "../../src/store/facets";
import { freshNamespace, seedDocuments } from "../support";

const store = new DocumentStore(env.DB);
const DOCS = 20;
const CHUNKS_PER_DOC = 100;

/** DOCS documents of CHUNKS_PER_DOC chunks, every one holding "the"; category c0..c3 by id. */
async function seeded(): Promise<string> {
  const ns = freshNamespace("fc-rows");
  await seedDocuments(
    store,
    ns,
    Array.from({ length: DOCS }, (_, d) => ({
      id: `doc${d}`,
      title: `Notes ${d}`,
      texts: Array.from({ length: CHUNKS_PER_DOC }, (_, c) => `the ${"river ".repeat(c % 17)}stone`),
    })),
  );
  await env.DB.prepare(
    "UPDATE documents SET metadata = json_object('category', 'c' || (CAST(substr(id, 4) AS INTEGER) % 4), 'year', 2000) WHERE namespace = ?1",
  )
    .bind(ns)
    .run();
  return ns;
}

const query = (maxMatches: number) => ({
  query: "the",
  chunkIds: [],
  fields: ["category", "year"],
  limit: 10,
  maxMatches,
});

describe("facet counts rows read", () => {
  it("binds a handful of parameters with the largest filter, candidate set and facet list", async () => {
    const ns = await seeded();
    // Ten filterable fields (a Vectorize index's most metadata indexes), each with a range: D1
    // refuses a statement binding more than 100 parameters ("too many SQL variables").
    const fields = ["category", "year", ...Array.from({ length: 8 }, (_, i) => `f${i}`)];
    const filter = Object.fromEntries(
      fields.map((f) => [f, f === "category" ? { $in: ["c0", "c1"] } : { $gte: 0, $lt: 5000 }]),
    );
    const chunkIds = Array.from({ length: 200 }, (_, i) => `${ns}-doc${i % DOCS}-${i % CHUNKS_PER_DOC}`);
    const counts = await facetCounts(env.DB, ns, { ...query(10_000), chunkIds, fields, filter });
    // Documents without f0..f7 fail the filter: nothing is counted, and nothing is refused.
    expect(counts.facets.category).toEqual({ values: [], otherCount: 0 });
    const narrow = await facetCounts(env.DB, ns, {
      ...query(10_000),
      chunkIds,
      filter: { category: { $in: ["c0", "c1"] }, year: { $gte: 2000, $lt: 2001 } },
    });
    expect(narrow.facets.category?.values).toEqual([
      { value: "c0", count: DOCS / 4 },
      { value: "c1", count: DOCS / 4 },
    ]);
  });

  it("counts each document once however many of its chunks match, in one statement", async () => {
    const ns = await seeded();
    const meter = new Meter();
    const counts = await facetCounts(meteredD1(env.DB, meter), ns, query(DOCS * CHUNKS_PER_DOC));
    expect(counts.capped).toBe(false);
    expect(counts.facets).toEqual({
      category: {
        values: ["c0", "c1", "c2", "c3"].map((value) => ({ value, count: DOCS / 4 })),
        otherCount: 0,
      },
      year: { values: [{ value: 2000, count: DOCS }], otherCount: 0 },
    });
    expect(meter.total().d1Queries).toBe(1);
  });

  it("reads in proportion to the matches it counts, not to the chunks that match", async () => {
    const ns = await seeded();
    const cap = 100;
    const meter = new Meter();
    const counts = await facetCounts(meteredD1(env.DB, meter), ns, query(cap));
    expect(counts.capped).toBe(true);
    const counted = counts.facets.year?.values[0]?.count ?? 0;
    expect(counted).toBeGreaterThan(0);
    expect(counted).toBeLessThanOrEqual(DOCS);
    const { d1RowsRead } = meter.total();
    // Each counted match: its FTS5 row, its place in the rank sort, the copy of the cut, its chunk
    // row; then a document row and a few JSON rows per document. Every chunk matches "the".
    expect(d1RowsRead).toBeLessThanOrEqual(5 * cap + 10 * DOCS);
    expect(d1RowsRead).toBeLessThan(DOCS * CHUNKS_PER_DOC);
  });
});
