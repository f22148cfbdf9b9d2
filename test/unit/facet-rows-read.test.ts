// What facet counts cost in D1 rows read, counted from D1's own result meta: one statement for
// every facet, reading in proportion to the matches counted (at most maxMatches) and not to the
// chunks that match; past the cap the counts cover the best matches and say so. And what they
// count: the same as counting the matches (or the best ones past the cap) one by one.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Meter } from "../../src/observe/meter";
import { meteredD1 } from "../../src/observe/metered-d1";
import { DocumentStore } from "../../src/store/documents";
import { type FacetCounts, type FacetQuery, facetCounts } from "../../src/store/facets";
import { keywordTable, metadataFilterSql, toFtsQuery } from "../../src/store/keyword";
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

  it("reads fewer rows than ranking every match when it counts them all", async () => {
    const ns = await seeded();
    const meter = new Meter();
    const counts = await facetCounts(meteredD1(env.DB, meter), ns, query(DOCS * CHUNKS_PER_DOC));
    expect(counts.capped).toBe(false);
    expect(counts.facets.year?.values).toEqual([{ value: 2000, count: DOCS }]);
    // Counting all 2,000 matches unranked reads about three rows per match: one pass to count
    // them, one to list them, their chunk rows. Ranking them first (ORDER BY rank, as the keyword
    // leg does) and keeping them for a second read took 8,136 rows here, and bm25() over every match.
    expect(meter.total().d1RowsRead).toBeLessThanOrEqual(3 * DOCS * CHUNKS_PER_DOC + 10 * DOCS);
  });
});

/** A document's metadata for the reference corpus: some fields missing, one of another type. */
function metadataOf(d: number): Record<string, unknown> {
  const m: Record<string, unknown> = { category: `c${d % 5}` };
  if (d % 7 !== 0) m.year = 1990 + (d % 11);
  if (d % 13 === 0) m.year = String(1990 + (d % 11));
  if (d % 3 === 0) m.open = d % 2 === 0;
  return m;
}

const WORDS = ["otter", "river", "stone", "kelp", "shell", "bank", "reed", "moss"];

/** 60 documents of 1 to 6 chunks over a few words, so queries match some chunks of some documents. */
async function referenceCorpus(): Promise<string> {
  const ns = freshNamespace("fc-ref");
  await seedDocuments(
    store,
    ns,
    Array.from({ length: 60 }, (_, d) => ({
      id: `doc${d}`,
      title: d % 4 === 0 ? "Otter notes" : `Notes ${d}`,
      texts: Array.from({ length: 1 + (d % 6) }, (_, c) =>
        Array.from({ length: 6 }, (_, w) => WORDS[(d * 7 + c * 3 + w * w) % WORDS.length]).join(" "),
      ),
    })),
  );
  for (let d = 0; d < 60; d++) {
    await env.DB.prepare("UPDATE documents SET metadata = ?1 WHERE namespace = ?2 AND id = ?3")
      .bind(JSON.stringify(metadataOf(d)), ns, `doc${d}`)
      .run();
  }
  return ns;
}

/**
 * The counts, computed one match at a time: the query's matching chunks (the best `maxMatches` in
 * the keyword leg's order when more match), the candidates' chunks, their documents passing the filter, then each
 * field's scalar values, most documents first, ties by false < true < numbers < strings.
 */
async function referenceCounts(ns: string, q: FacetQuery): Promise<FacetCounts> {
  const table = await keywordTable(ns, "v1");
  const match = q.query === undefined ? null : toFtsQuery(q.query, q.prefix);
  const all = match
    ? (
        await env.DB.prepare(
          `SELECT rowid FROM ${table} WHERE ${table} MATCH ?1 AND rank MATCH 'bm25(2.0, 1.0)' ORDER BY rank`,
        )
          .bind(match)
          .all<{ rowid: number }>()
      ).results.map((r) => r.rowid)
    : [];
  const rowids = all.slice(0, q.maxMatches);
  const docs = new Set<string>();
  for (const rowid of rowids) {
    const row = await env.DB.prepare("SELECT doc_id FROM chunks WHERE rowid = ?1")
      .bind(rowid)
      .first<{ doc_id: string }>();
    if (row) docs.add(row.doc_id);
  }
  for (const id of q.chunkIds) {
    const row = await env.DB.prepare("SELECT doc_id FROM chunks WHERE chunk_id = ?1")
      .bind(id)
      .first<{ doc_id: string }>();
    if (row) docs.add(row.doc_id);
  }
  const where = q.filter ? metadataFilterSql(q.filter, "metadata", 3) : null;
  const facets: FacetCounts["facets"] = {};
  const perField = q.fields.map(() => new Map<string, { value: string | number | boolean; count: number }>());
  for (const id of docs) {
    const doc = await env.DB.prepare(
      `SELECT metadata FROM documents WHERE namespace = ?1 AND id = ?2 AND ${where ? where.sql : "1"}`,
    )
      .bind(ns, id, ...(where ? where.params : []))
      .first<{ metadata: string }>();
    if (!doc) continue;
    const metadata = JSON.parse(doc.metadata) as Record<string, unknown>;
    q.fields.forEach((field, i) => {
      const value = metadata[field];
      if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") return;
      const key = `${typeof value}:${String(value)}`;
      const entry = perField[i]?.get(key) ?? { value, count: 0 };
      entry.count += 1;
      perField[i]?.set(key, entry);
    });
  }
  const kind = (v: string | number | boolean) =>
    v === false ? 0 : v === true ? 1 : typeof v === "number" ? 2 : 3;
  q.fields.forEach((field, i) => {
    const values = [...(perField[i]?.values() ?? [])].sort(
      (a, b) =>
        b.count - a.count ||
        kind(a.value) - kind(b.value) ||
        (a.value < b.value ? -1 : a.value > b.value ? 1 : 0),
    );
    const total = values.reduce((sum, v) => sum + v.count, 0);
    const shown = values.slice(0, q.limit);
    facets[field] = { values: shown, otherCount: total - shown.reduce((sum, v) => sum + v.count, 0) };
  });
  return { facets, capped: all.length > q.maxMatches };
}

describe("facet counts", () => {
  it("count what counting the matches one by one counts, under the cap and past it", async () => {
    const ns = await referenceCorpus();
    const fields = ["category", "year", "open"];
    const cases: Omit<FacetQuery, "fields">[] = [
      { query: "otter", chunkIds: [], limit: 10, maxMatches: 10_000 },
      { query: "otter reed", chunkIds: [], limit: 3, maxMatches: 10_000 },
      { query: "otter reed", chunkIds: [], limit: 10, maxMatches: 12 },
      {
        query: "moss",
        chunkIds: [`${ns}-doc5-0`, `${ns}-doc11-2`, `${ns}-doc2-0`],
        limit: 10,
        maxMatches: 10_000,
      },
      { query: "moss", chunkIds: [`${ns}-doc5-0`, `${ns}-doc11-2`], limit: 10, maxMatches: 5 },
      { query: "kel", prefix: true, chunkIds: [], limit: 10, maxMatches: 10_000 },
      {
        chunkIds: [`${ns}-doc1-0`, `${ns}-doc2-1`, `${ns}-doc2-0`, `${ns}-doc9-3`],
        limit: 10,
        maxMatches: 10_000,
      },
      {
        query: "stone bank",
        chunkIds: [`${ns}-doc3-0`],
        filter: { year: { $gte: 1993 }, category: { $ne: "c1" } },
        limit: 10,
        maxMatches: 10_000,
      },
    ];
    for (const c of cases) {
      const q = { ...c, fields };
      const expected = await referenceCounts(ns, q);
      expect(expected.capped, JSON.stringify(c)).toBe(c.maxMatches < 100);
      expect(expected.facets.category?.values.length, JSON.stringify(c)).toBeGreaterThan(0);
      expect(await facetCounts(env.DB, ns, q), JSON.stringify(c)).toEqual(expected);
    }
  });
});
