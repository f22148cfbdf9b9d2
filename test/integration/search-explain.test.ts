// Explained searches through the API: with explain, each result says where each leg ranked it
// and with what score, its fused score is the documented fusion of those ranks, and the answer is
// otherwise the one a plain search gives (same ranking, same pages, its own cache entries).
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import { api, freshNamespace, writeIndexed } from "../support";
import { type SearchBody, searchApi } from "../support/search";

type Result = SearchBody["results"][number];
type Legs = NonNullable<Result["legs"]>;

const SMALL = [
  { id: "otter", text: "Sea otters hold hands while they sleep among the kelp." },
  { id: "kelp", text: "Kelp forests grow along cold rocky coasts." },
  // No word of the query: only the vector leg (which ranks every chunk of a small namespace) finds it.
  { id: "meadow", text: "A quiet meadow of tall grass and wildflowers." },
];

// Over 100 chunks that all say "comet", so that they fill the vector leg's 100 candidates, and
// one short document whose only query word is "zephyr": the keyword leg finds it, the vector leg
// (whose query vector is mostly "comet") ranks it below the 100 it returns.
const LARGE = [
  { id: "comets", text: "The comet passed. ".repeat(7000) },
  {
    id: "zephyr",
    text:
      "A zephyr stirred the orchard while bees, wrens, finches and sparrows crossed lavender hedges " +
      "near granite walls, copper gates, willow ponds, marble fountains and quiet cedar benches.",
  },
];

const without = (results: readonly Result[]) => results.map(({ legs: _legs, ...rest }) => rest);
const legsOf = (r: Result): Legs => {
  if (!r.legs) throw new Error(`result ${r.chunkId} has no legs`);
  return r.legs;
};

/** This deployment's fusion of the legs' ranks (src/search/fusion.ts), recomputed from the legs. */
function fusion(legs: Legs): number {
  const config = loadConfig(env);
  const k = config.hybridRrfK;
  const keyword = legs.keyword ? config.hybridKeywordWeight / (k + legs.keyword.rank) : 0;
  const vector = legs.vector ? config.hybridVectorWeight / (k + legs.vector.rank) : 0;
  return keyword + vector;
}

describe("search with explain", () => {
  const small = freshNamespace("xs");
  const large = freshNamespace("xl");
  const search = (ns: string, body: Record<string, unknown>) =>
    searchApi(ns, { cache: "bypass", includeText: false, ...body });

  beforeAll(async () => {
    await writeIndexed(small, SMALL);
    await writeIndexed(large, LARGE);
    await new LocalVectorIndexClient(env.LOCAL_INDEX, loadConfig(env).vectorizeIndexName).flush();
  }, 120_000);

  it("gives a result only the vector leg found keyword: null, and the fused score of its ranks", async () => {
    const res = await search(small, { query: "otters kelp", groupBy: "chunk", explain: true });
    expect(res.status).toBe(200);
    expect(res.body.degraded).toEqual([]);
    const byId = new Map(res.body.results.map((r) => [r.id, legsOf(r)]));
    expect(byId.get("meadow")?.keyword).toBeNull();
    expect(byId.get("meadow")?.vector).toEqual({ rank: expect.any(Number), score: expect.any(Number) });
    expect(byId.get("otter")?.keyword).toEqual({ rank: 1, score: expect.any(Number) });
    expect(byId.get("otter")?.vector).not.toBeNull();
    for (const r of res.body.results) {
      expect(legsOf(r).fused).toBeCloseTo(fusion(legsOf(r)), 12);
      expect(r.score).toBe(legsOf(r).fused);
      expect(legsOf(r).rerank).toBeUndefined();
    }
  });

  it("gives a result only the keyword leg found vector: null, grouped by document", async () => {
    const res = await search(large, { query: "comet zephyr", groupBy: "document", explain: true });
    expect(res.status).toBe(200);
    expect(res.body.degraded).toEqual([]);
    expect(res.body.results.map((r) => r.id)).toEqual(["comets", "zephyr"]);
    const [comets, zephyr] = res.body.results.map(legsOf);
    expect(zephyr?.vector).toBeNull();
    expect(zephyr?.keyword).toEqual({ rank: 1, score: expect.any(Number) });
    expect(comets?.keyword).not.toBeNull();
    expect(comets?.vector).not.toBeNull();
    for (const r of res.body.results) expect(legsOf(r).fused).toBeCloseTo(fusion(legsOf(r)), 12);
  });

  it.each([
    ["keyword", "vector"],
    ["vector", "keyword"],
  ] as const)("in %s mode gives the %s leg null and the leg's own score as fused", async (mode, other) => {
    const res = await search(small, { query: "otters kelp", mode, groupBy: "chunk", explain: true });
    expect(res.status).toBe(200);
    expect(res.body.results.length).toBeGreaterThan(0);
    res.body.results.forEach((r, i) => {
      const legs = legsOf(r);
      expect(legs[other]).toBeNull();
      expect(legs[mode]).toEqual({ rank: i + 1, score: r.score });
      expect(legs.fused).toBe(r.score);
    });
  });

  it.each(["hybrid", "keyword", "vector"])(
    "ranks and pages in %s mode as without explain, cursors of either working for both",
    async (mode) => {
      const body = { query: "comet zephyr", mode, groupBy: "chunk", topK: 10 };
      const plain = await search(large, body);
      const explained = await search(large, { ...body, explain: true });
      expect(plain.status).toBe(200);
      expect(explained.status).toBe(200);
      expect(plain.body.results.every((r) => r.legs === undefined)).toBe(true);
      expect(without(explained.body.results)).toEqual(plain.body.results);
      expect(plain.body.nextCursor).toBeDefined();
      expect(explained.body.nextCursor).toBeDefined();
      const plainNext = await search(large, { ...body, cursor: plain.body.nextCursor });
      const explainedNext = await search(large, { ...body, explain: true, cursor: plain.body.nextCursor });
      const crossed = await search(large, { ...body, cursor: explained.body.nextCursor });
      expect(explainedNext.status).toBe(200);
      expect(plainNext.body.results.length).toBe(10);
      expect(without(explainedNext.body.results)).toEqual(plainNext.body.results);
      expect(crossed.body.results).toEqual(plainNext.body.results);
      // Ranks count over the whole ranking, not the page.
      if (mode !== "hybrid") {
        explainedNext.body.results.forEach((r, i) => {
          expect(legsOf(r)[mode as "keyword" | "vector"]?.rank).toBe(11 + i);
        });
      }
    },
  );

  it("keeps the reranker's score apart from the fused one", async () => {
    const res = await search(small, { query: "otters kelp", groupBy: "chunk", rerank: true, explain: true });
    expect(res.status).toBe(200);
    expect(res.body.degraded).toEqual([]);
    const plain = await search(small, { query: "otters kelp", groupBy: "chunk", rerank: true });
    expect(without(res.body.results)).toEqual(plain.body.results);
    for (const r of res.body.results) {
      const legs = legsOf(r);
      expect(legs.rerank).toBe(r.score);
      expect(legs.fused).toBeCloseTo(fusion(legs), 12);
    }
  });

  it("is not served from a plain search's cache entry, nor a plain search from an explained one", async () => {
    const ns = freshNamespace("xc");
    await writeIndexed(ns, SMALL);
    // Answers are cached only once a write has settled (RESULT_CACHE_SETTLE_MS: 1 s locally).
    await new Promise((r) => setTimeout(r, 1100));
    const body = { query: "otters kelp", mode: "keyword", includeText: false };
    const plain = await searchApi(ns, body);
    expect(plain.headers.get("x-cache")).toBe("miss");
    expect((await searchApi(ns, body)).headers.get("x-cache")).toBe("isolate");
    const explained = await searchApi(ns, { ...body, explain: true });
    expect(explained.headers.get("x-cache")).toBe("miss");
    expect(explained.body.results.length).toBe(plain.body.results.length);
    expect(explained.body.results.every((r) => r.legs?.keyword)).toBe(true);
    const again = await searchApi(ns, { ...body, explain: true });
    expect(again.headers.get("x-cache")).toBe("isolate");
    expect(again.body.results).toEqual(explained.body.results);
    const plainAgain = await searchApi(ns, body);
    expect(plainAgain.body.results).toEqual(plain.body.results);
  });

  it("explains similar documents: the vector leg's rank and score", async () => {
    const path = `/v1/namespaces/${small}/documents/otter/similar`;
    const res = await api<SearchBody>("POST", path, { topK: 5, includeText: false, explain: true });
    expect(res.status).toBe(200);
    expect(res.body.results.length).toBeGreaterThan(0);
    const plain = await api<SearchBody>("POST", path, { topK: 5, includeText: false });
    expect(without(res.body.results)).toEqual(plain.body.results);
    for (const r of res.body.results) {
      expect(legsOf(r)).toEqual({
        keyword: null,
        vector: { rank: expect.any(Number), score: r.score },
        fused: r.score,
      });
    }
  });

  it.each([
    ["search", "search", { query: "otters" }],
    ["similar documents", "documents/otter/similar", {}],
  ])("refuses a non-boolean explain on %s with a 400 problem+json", async (_name, route, body) => {
    for (const explain of ["true", 1, null, {}]) {
      const res = await api<{ code: string; field?: string; status: number }>(
        "POST",
        `/v1/namespaces/${small}/${route}`,
        { ...body, explain },
      );
      expect(res.status, JSON.stringify(explain)).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.field).toBe("body.explain");
    }
  });
});
