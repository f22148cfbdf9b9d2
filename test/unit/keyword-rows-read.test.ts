// What a keyword search costs in D1 rows read, counted from D1's own result meta: FTS5 sorts the
// matches by rank inside the index, so the query reads about the rows it returns, however many
// chunks match a common word. And the order is still BM25 with the title weighted double.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Meter } from "../../src/observe/meter";
import { meteredD1 } from "../../src/observe/metered-d1";
import { DocumentStore } from "../../src/store/documents";
import { keywordSearch, keywordTable } from "../../src/store/keyword";
import { freshNamespace, type SeedDocument, seedDocuments } from "../support";

const store = new DocumentStore(env.DB);
const DOCS = 20;
const CHUNKS_PER_DOC = 100;
const LIMIT = 50;
const HYDRATE = 10;
// Rows a hit costs by design: its FTS5 row, its place in the two sorts of the best rows (rank
// order, then score for the answer), its chunk row and, for the hydrated ones, its document row.
const ROWS_PER_HIT = 6;

// Every chunk holds "the"; "otter" only in a few, so "the" is what makes the query common.
function corpus(): SeedDocument[] {
  return Array.from({ length: DOCS }, (_, d) => ({
    id: `doc${d}`,
    title: d % 5 === 0 ? "Otter notes" : `Notes ${d}`,
    texts: Array.from(
      { length: CHUNKS_PER_DOC },
      (_, c) =>
        `the ${"river ".repeat((d * CHUNKS_PER_DOC + c) % 23)}${c % 40 === 0 ? "otter" : "stone"} the`,
    ),
  }));
}

describe("keyword search rows read", () => {
  it("reads rows in proportion to the hits it returns, not to the chunks that match", async () => {
    const ns = freshNamespace("kw-rows");
    await seedDocuments(store, ns, corpus());
    const meter = new Meter();
    const hits = await keywordSearch(
      meteredD1(env.DB, meter),
      ns,
      "the otter",
      LIMIT,
      undefined,
      "v1",
      HYDRATE,
    );

    expect(hits).toHaveLength(LIMIT);
    expect(hits.filter((h) => h.chunk !== undefined)).toHaveLength(HYDRATE);
    const { d1Queries, d1RowsRead } = meter.total();
    expect(d1Queries).toBe(1);
    // All DOCS * CHUNKS_PER_DOC chunks match "the": ordering them all with bm25() read each twice.
    expect(d1RowsRead).toBeLessThanOrEqual(ROWS_PER_HIT * LIMIT + HYDRATE);
    expect(d1RowsRead).toBeLessThan(DOCS * CHUNKS_PER_DOC);
  });

  it("reads rows in proportion to the hits for a short prefix that most chunks match", async () => {
    const ns = freshNamespace("kw-rows-prefix");
    await seedDocuments(store, ns, corpus());
    const meter = new Meter();
    const db = meteredD1(env.DB, meter);
    // "sto" spans "stone", which all chunks but the otter ones hold: 1,950 of 2,000 match.
    const hits = await keywordSearch(db, ns, "ot sto", LIMIT, undefined, "v1", HYDRATE, { prefix: true });
    expect(hits).toHaveLength(LIMIT);
    const { d1Queries, d1RowsRead } = meter.total();
    expect(d1Queries).toBe(1);
    expect(d1RowsRead).toBeLessThanOrEqual(ROWS_PER_HIT * LIMIT + HYDRATE);
  });

  it("ranks as bm25() with the title weight it is given", async () => {
    const ns = freshNamespace("kw-rank-weight");
    await seedDocuments(store, ns, corpus());
    const table = await keywordTable(ns);
    for (const titleWeight of [1, 8]) {
      const hits = await keywordSearch(env.DB, ns, "notes otter", LIMIT, undefined, "v1", 0, { titleWeight });
      const { results } = await env.DB.prepare(
        `SELECT -bm25(${table}, ?2, 1.0) AS score FROM ${table}
         WHERE ${table} MATCH '"notes" OR "otter"' ORDER BY bm25(${table}, ?2, 1.0) LIMIT ?1`,
      )
        .bind(LIMIT, titleWeight)
        .all<{ score: number }>();
      expect(hits.map((h) => h.score)).toEqual(results.map((r) => r.score));
    }
  });

  it("ranks as bm25() with the title weighted double", async () => {
    const ns = freshNamespace("kw-rank");
    await seedDocuments(store, ns, corpus());
    const hits = await keywordSearch(env.DB, ns, "the otter", LIMIT);
    const table = await keywordTable(ns);
    const { results } = await env.DB.prepare(
      `SELECT c.chunk_id, -bm25(${table}, 2.0, 1.0) AS score FROM ${table}
       CROSS JOIN chunks c ON c.rowid = ${table}.rowid
       WHERE ${table} MATCH '"the" OR "otter"' ORDER BY bm25(${table}, 2.0, 1.0) LIMIT ?1`,
    )
      .bind(LIMIT)
      .all<{ chunk_id: string; score: number }>();
    expect(hits.map((h) => h.score)).toEqual(results.map((r) => r.score));
    const byId = new Map(results.map((r) => [r.chunk_id, r.score]));
    for (const hit of hits) expect(byId.get(hit.chunkId)).toBe(hit.score);
    // Otter chunks in an "Otter notes" document come first: both weights matter.
    expect(hits[0]?.chunkId).toMatch(/-doc(0|5|10|15)-/);
  });
});
