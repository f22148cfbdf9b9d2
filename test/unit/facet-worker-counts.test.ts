// Facet values counted in the Worker against the same counts grouped by SQLite (facetCounts with
// workerDocuments 0): the same answer for values of every JSON type, documents without the field
// and many distinct values, in fewer D1 rows read; and SQLite's grouping when a document's values
// are too long to hand over or too many chunks match.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Meter } from "../../src/observe/meter";
import { meteredD1 } from "../../src/observe/metered-d1";
import { DocumentStore } from "../../src/store/documents";
import { type FacetQuery, facetCounts, WORKER_COUNTING } from "../../src/store/facets";
import { freshNamespace, seedDocuments } from "../support";

const store = new DocumentStore(env.DB);

/** Documents of one chunk each, all holding "pebble", with the metadata given (written as is). */
async function seeded(metadata: readonly unknown[]): Promise<string> {
  const ns = freshNamespace("fc-worker");
  await seedDocuments(
    store,
    ns,
    metadata.map((_, d) => ({ id: `doc${d}`, title: `Notes ${d}`, texts: [`pebble ${d}`] })),
  );
  for (const [d, m] of metadata.entries()) {
    await env.DB.prepare("UPDATE documents SET metadata = ?1 WHERE namespace = ?2 AND id = ?3")
      .bind(JSON.stringify(m), ns, `doc${d}`)
      .run();
  }
  return ns;
}

const query = (fields: string[], limit = 10): FacetQuery => ({
  query: "pebble",
  chunkIds: [],
  fields,
  limit,
  maxMatches: 10_000,
});

/** The counts as the Worker and as SQLite count them, with the D1 queries and rows each took. */
async function bothWays(ns: string, q: FacetQuery) {
  const run = async (workerDocuments?: number) => {
    const meter = new Meter();
    const counts = await facetCounts(meteredD1(env.DB, meter), ns, { ...q, workerDocuments });
    return { counts, queries: meter.total().d1Queries, rowsRead: meter.total().d1RowsRead };
  };
  return { worker: await run(), sqlite: await run(0) };
}

describe("facet values counted in the Worker", () => {
  it("counts what SQLite counts, whatever JSON the field holds, in fewer rows read", async () => {
    const kinds = [
      "news",
      "news",
      2020,
      2020.0,
      "2020",
      true,
      false,
      null,
      ["news", "blog"],
      { nested: "news" },
      "",
      "caf\u00e9",
      "\u{1F600}",
      "\uFF5E",
    ];
    // Each kind once in "kind", and once without the field at all.
    const ns = await seeded([...kinds.map((kind) => ({ kind, other: 1 })), { other: 2 }]);
    const { worker, sqlite } = await bothWays(ns, query(["kind", "other"]));
    expect(worker.counts).toEqual(sqlite.counts);
    expect(worker.counts.facets.kind).toEqual({
      values: [
        { value: 2020, count: 2 },
        { value: "news", count: 2 },
        { value: false, count: 1 },
        { value: true, count: 1 },
        { value: "", count: 1 },
        { value: "2020", count: 1 },
        { value: "caf\u00e9", count: 1 },
        { value: "\uFF5E", count: 1 },
        { value: "\u{1F600}", count: 1 },
      ],
      otherCount: 0,
    });
    expect(worker.counts.facets.other).toEqual({
      values: [
        { value: 1, count: kinds.length },
        { value: 2, count: 1 },
      ],
      otherCount: 0,
    });
    expect(worker.queries).toBe(1);
    expect(worker.rowsRead).toBeLessThan(sqlite.rowsRead);
  });

  it("answers the most frequent of many distinct values and counts the rest, as SQLite does", async () => {
    const ns = await seeded(Array.from({ length: 300 }, (_, d) => ({ tag: d < 50 ? "shared" : `tag-${d}` })));
    const { worker, sqlite } = await bothWays(ns, query(["tag"], 5));
    expect(worker.counts).toEqual(sqlite.counts);
    expect(worker.counts.facets.tag?.values[0]).toEqual({ value: "shared", count: 50 });
    expect(worker.counts.facets.tag?.values).toHaveLength(5);
    expect(worker.counts.facets.tag?.otherCount).toBe(250 - 4);
    expect(worker.queries).toBe(1);
  });

  it("leaves the counting to SQLite when a document's values are too long to hand over", async () => {
    const long = "x".repeat(WORKER_COUNTING.valueChars);
    const ns = await seeded([{ kind: long }, { kind: "short" }, { kind: "short" }]);
    const { worker, sqlite } = await bothWays(ns, query(["kind"]));
    expect(worker.counts).toEqual(sqlite.counts);
    expect(worker.counts.facets.kind?.values).toEqual([
      { value: "short", count: 2 },
      { value: long, count: 1 },
    ]);
    // The Worker's statement, then SQLite's.
    expect(worker.queries).toBe(2);
  });

  it("groups in SQLite past the chunks the Worker counts, in one statement", async () => {
    const ns = await seeded(Array.from({ length: 12 }, (_, d) => ({ kind: `k${d % 3}` })));
    const meter = new Meter();
    const q = { ...query(["kind"]), workerDocuments: 11 };
    const counts = await facetCounts(meteredD1(env.DB, meter), ns, q);
    expect(counts.facets.kind).toEqual({
      values: ["k0", "k1", "k2"].map((value) => ({ value, count: 4 })),
      otherCount: 0,
    });
    expect(meter.total().d1Queries).toBe(1);
    // The same grouping as counting no document in the Worker: the same rows read.
    const { sqlite } = await bothWays(ns, query(["kind"]));
    expect(meter.total().d1RowsRead).toBe(sqlite.rowsRead);
  });
});
