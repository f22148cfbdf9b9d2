// Facets through the search API: documents (not chunks) counted per value of filterable fields,
// over every keyword match in keyword mode, keyword matches and vector candidates in hybrid mode,
// the vector candidates in vector mode; the filter narrows them, facetLimit cuts them (otherCount
// keeps the rest), pages after the first carry none, the result cache keys on them, and bad
// facet lists are refused as problem+json 400s naming the field.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { CostCounters } from "../../src/observe/cost-counters";
import { parseCountersBlob } from "../../src/observe/cost-schema";
import { facetCounts } from "../../src/store/facets";
import { COST_HEADER } from "../../workers/api/routes/search";
import { api, freshNamespace, writeIndexed } from "../support";
import { searchApi, waitVectorsApplied } from "../support/search";

// Long enough for several chunks, all matching "otter": the document still counts once.
const LONG_OTTER = Array.from(
  { length: 60 },
  (_, i) => `Sea otters float on their backs in the kelp forest, resting after dive ${i} for urchins.`,
).join(" ");

const DOCS = [
  { id: "kelp", text: LONG_OTTER, metadata: { category: "nature", year: 2020, lang: "en" } },
  { id: "tools", text: "Otters crack shells open with rocks.", metadata: { category: "nature", year: 2021 } },
  { id: "rivers", text: "River otters dig dens in banks.", metadata: { category: "science", year: 2020 } },
  { id: "fur", text: "The otter fur trade of the 1800s.", metadata: { category: "history" } },
  {
    id: "bread",
    text: "Sourdough bread rises with wild yeast.",
    metadata: { category: "cooking", year: 2020 },
  },
  {
    id: "rolls",
    text: "Bread rolls bake in twenty minutes.",
    metadata: { category: "cooking", year: "2020" },
  },
];

function costOf(headers: Headers): Partial<CostCounters> {
  const header = headers.get(COST_HEADER);
  if (header === null) throw new Error(`no ${COST_HEADER} header`);
  return parseCountersBlob(header);
}

type FacetAnswer = {
  facets?: Record<string, { values: { value: unknown; count: number }[]; otherCount: number }>;
};

describe("search facets", () => {
  const ns = freshNamespace("fc");
  const search = (body: Record<string, unknown>) => searchApi(ns, { cache: "bypass", ...body });

  beforeAll(async () => {
    await writeIndexed(ns, DOCS);
    await waitVectorsApplied(ns, "otters", DOCS.length);
    const kelp = await api<{ chunks: number }>("GET", `/v1/namespaces/${ns}/documents/kelp`);
    expect(kelp.body.chunks).toBeGreaterThan(1);
  });

  it("counts each keyword-matching document once per value in keyword mode", async () => {
    const res = await search({ query: "otter", mode: "keyword", facets: ["category", "year"] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.facetScope).toBe("all-matches");
    expect(res.body.facets).toEqual({
      category: {
        values: [
          { value: "nature", count: 2 },
          { value: "history", count: 1 },
          { value: "science", count: 1 },
        ],
        otherCount: 0,
      },
      // "fur" has no year: it counts for no value.
      year: {
        values: [
          { value: 2020, count: 2 },
          { value: 2021, count: 1 },
        ],
        otherCount: 0,
      },
    });
  });

  it("counts the documents a prefix search matches, as its results do", async () => {
    const body = { query: "sourd", mode: "keyword", facets: ["category"] };
    const whole = await search(body);
    expect(whole.status, JSON.stringify(whole.body)).toBe(200);
    expect((whole.body as FacetAnswer).facets?.category).toEqual({ values: [], otherCount: 0 });
    const typed = await search({ ...body, prefix: true });
    expect(typed.status, JSON.stringify(typed.body)).toBe(200);
    expect((typed.body as FacetAnswer).facets?.category).toEqual({
      values: [{ value: "cooking", count: 1 }],
      otherCount: 0,
    });
  });

  it("counts only the documents that pass the filter", async () => {
    const res = await search({
      query: "otter",
      mode: "keyword",
      filter: { year: 2020 },
      facets: ["category"],
    });
    expect(res.body.facets).toEqual({
      category: {
        values: [
          { value: "nature", count: 1 },
          { value: "science", count: 1 },
        ],
        otherCount: 0,
      },
    });
  });

  it("adds the vector candidates in hybrid mode, and counts only them in vector mode", async () => {
    // Six documents of under 100 chunks: every one is a vector candidate.
    const all = {
      category: {
        values: [
          { value: "cooking", count: 2 },
          { value: "nature", count: 2 },
          { value: "history", count: 1 },
          { value: "science", count: 1 },
        ],
        otherCount: 0,
      },
      // A number and a string never count as one value; numbers sort before strings.
      year: {
        values: [
          { value: 2020, count: 3 },
          { value: 2021, count: 1 },
          { value: "2020", count: 1 },
        ],
        otherCount: 0,
      },
    };
    const hybrid = await search({ query: "otter", mode: "hybrid", facets: ["category", "year"] });
    expect(hybrid.body.facetScope).toBe("all-matches");
    expect(hybrid.body.facets).toEqual(all);
    const vector = await search({ query: "otter", mode: "vector", facets: ["category", "year"] });
    expect(vector.body.facetScope).toBe("candidates");
    expect(vector.body.facets).toEqual(all);
    const filtered = await search({
      query: "otter",
      mode: "vector",
      filter: { category: { $in: ["cooking", "history"] } },
      facets: ["category"],
    });
    expect(filtered.body.facets?.category?.values).toEqual([
      { value: "cooking", count: 2 },
      { value: "history", count: 1 },
    ]);
  });

  it("reads no D1 row for the vector candidates in hybrid mode: their values come with them", async () => {
    const cost = async (mode: string, facets?: string[]) => {
      const res = await search({ query: "otter", mode, ...(facets ? { facets } : {}) });
      expect(res.status).toBe(200);
      return costOf(res.headers);
    };
    const keyword = await cost("keyword");
    const keywordFaceted = await cost("keyword", ["category", "year"]);
    const hybrid = await cost("hybrid");
    const hybridFaceted = await cost("hybrid", ["category", "year"]);
    // One statement more, sent in the keyword leg's batch; none of its own for the candidates.
    expect(keywordFaceted.d1Queries).toBe((keyword.d1Queries ?? 0) + 1);
    expect(hybridFaceted.d1Queries).toBe((hybrid.d1Queries ?? 0) + 1);
    const facetRows = (keywordFaceted.d1RowsRead ?? 0) - (keyword.d1RowsRead ?? 0);
    expect(facetRows).toBeGreaterThan(0);
    // The keyword matches' rows alone, as in keyword mode (where SQLite could also group them).
    expect((hybridFaceted.d1RowsRead ?? 0) - (hybrid.d1RowsRead ?? 0)).toBeLessThanOrEqual(facetRows);
  });

  it("cuts each facet to facetLimit values and counts the rest in otherCount", async () => {
    const res = await search({ query: "otter", mode: "hybrid", facets: ["category"], facetLimit: 1 });
    expect(res.body.facets).toEqual({
      category: { values: [{ value: "cooking", count: 2 }], otherCount: 4 },
    });
  });

  it("answers every facet asked for, empty when no matched document holds the field", async () => {
    const res = await search({ query: "yeast", mode: "keyword", facets: ["source", "category"] });
    expect(res.body.facets).toEqual({
      source: { values: [], otherCount: 0 },
      category: { values: [{ value: "cooking", count: 1 }], otherCount: 0 },
    });
    const nothing = await search({ query: "zeppelin", mode: "keyword", facets: ["category"] });
    expect(nothing.body.results).toEqual([]);
    expect(nothing.body.facets).toEqual({ category: { values: [], otherCount: 0 } });
  });

  it("answers empty facets on a namespace with no documents", async () => {
    for (const mode of ["keyword", "hybrid", "vector"]) {
      const res = await searchApi(freshNamespace("fc-empty"), { query: "otter", mode, facets: ["year"] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.facets).toEqual({ year: { values: [], otherCount: 0 } });
    }
  });

  it("answers facets on the first page only", async () => {
    const body = { query: "otter", mode: "keyword", topK: 2, facets: ["category"] };
    const first = await search(body);
    expect(first.body.facets?.category?.values).toHaveLength(3);
    expect(first.body.nextCursor).toBeDefined();
    const second = await search({ ...body, cursor: first.body.nextCursor });
    expect(second.status).toBe(200);
    expect(second.body.results.length).toBeGreaterThan(0);
    expect(second.body).not.toHaveProperty("facets");
    expect(second.body).not.toHaveProperty("facetScope");
  });

  it("does not answer a faceted request from an answer cached without its facets", async () => {
    const cached = (body: Record<string, unknown>) =>
      searchApi(ns, { mode: "keyword", query: "rocks", ...body });
    // Answers are cached only once the namespace's last write has settled (1 s locally).
    await new Promise((r) => setTimeout(r, 1100));
    await cached({});
    expect((await cached({})).body.cache).toBe("hit");
    const faceted = await cached({ facets: ["category"] });
    expect(faceted.body.cache).toBe("miss");
    expect(faceted.body.facets).toEqual({
      category: { values: [{ value: "nature", count: 1 }], otherCount: 0 },
    });
    const year = await cached({ facets: ["year"] });
    expect(year.body.cache).toBe("miss");
    expect(year.body.facets).toEqual({ year: { values: [{ value: 2021, count: 1 }], otherCount: 0 } });
    const again = await cached({ facets: ["year"] });
    expect(again.body.cache).toBe("hit");
    expect((again.body as FacetAnswer).facets).toEqual(year.body.facets);
  });

  it("answers the results without facets, degraded and uncached, when D1 cannot count them", async () => {
    const faults = { scope: `facets-${Date.now()}`, d1: { error: 1, methods: ["facetCounts"] } };
    const res = await searchApi(
      ns,
      { query: "otter", mode: "hybrid", facets: ["category"] },
      { "x-edgesearch-faults": JSON.stringify(faults) },
    );
    expect(res.status).toBe(200);
    expect(res.body.degraded).toEqual(["facets_unavailable"]);
    expect(res.body.results.length).toBeGreaterThan(0);
    expect(res.body).not.toHaveProperty("facets");
    // Not cached: the same request, D1 well, counts them.
    const well = await searchApi(ns, { query: "otter", mode: "hybrid", facets: ["category"] });
    expect(well.body.cache).toBe("miss");
    expect(well.body.facets?.category?.values).toHaveLength(4);
  });

  it.each([
    [
      "a field that is not filterable",
      { facets: ["title"] },
      "body.facets.0",
      /facet "title" is not a filterable field/,
    ],
    [
      "an empty field name",
      { facets: ["category", ""] },
      "body.facets.1",
      /facet "" is not a filterable field/,
    ],
    ["a field twice", { facets: ["year", "year"] }, "body.facets", /at most once/],
    ["more than 10 facets", { facets: Array.from({ length: 11 }, (_, i) => `f${i}`) }, "body.facets", /10/],
    ["a facet that is not a string", { facets: [7] }, "body.facets.0", /string/],
    ["facetLimit over 100", { facets: ["year"], facetLimit: 101 }, "body.facetLimit", /100/],
    ["facetLimit 0", { facets: ["year"], facetLimit: 0 }, "body.facetLimit", /1/],
  ])("refuses %s with a problem+json 400 naming the field", async (_, extra, field, detail) => {
    const res = await search({ query: "otter", ...extra });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    const problem = res.body as unknown as { code: string; field: string; detail: string };
    expect(problem.field).toBe(field);
    expect(problem.detail).toMatch(detail);
  });

  it("counts the best keyword matches only when the query matches more than the cap", async () => {
    // The namespace's rows live in one member of the D1 pool.
    const pool = [env.DB, env.DATA_DB_1, env.DATA_DB_2];
    const has = await Promise.all(
      pool.map((db) => db.prepare("SELECT 1 FROM documents WHERE namespace = ?1").bind(ns).first()),
    );
    const db = pool[has.findIndex((row) => row !== null)];
    if (!db) throw new Error(`no database holds ${ns}`);
    const q = { query: "otter", chunkIds: [], fields: ["category"], limit: 10 };
    const all = await facetCounts(db, ns, { ...q, maxMatches: 100 });
    expect(all.capped).toBe(false);
    expect(all.facets.category?.values.reduce((n, v) => n + v.count, 0)).toBe(4);
    // "tools" says "Otters" in a short text: it is one of the two best matches, "fur" is not.
    const best = await facetCounts(db, ns, { ...q, maxMatches: 2 });
    expect(best.capped).toBe(true);
    expect(best.facets.category?.values.reduce((n, v) => n + v.count, 0)).toBeLessThanOrEqual(2);
  });
});
