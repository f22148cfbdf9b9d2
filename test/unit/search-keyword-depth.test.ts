// Hybrid search with a keyword weight the vector leg cannot match (the local embedder's): the
// keyword leg reads only the ranks fusion can place in the first hydration window, and the answer
// is the one fusing both whole legs gives, including when that window does not fill it.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Embedder } from "../../src/embed/embedder";
import { createLogger } from "../../src/observe/logger";
import { LOCAL_VECTOR_WEIGHT, reciprocalRankFusion } from "../../src/search/fusion";
import {
  DEFAULT_SEARCH_SETTINGS,
  keywordReach,
  type SearchDeps,
  type SearchRequest,
  type SearchSettings,
  search,
} from "../../src/search/search";
import type { D1Like } from "../../src/store/d1";
import { DocumentStore } from "../../src/store/documents";
import type { QueryOptions, QueryResult, VectorIndex } from "../../src/vectors/vector-index";
import { freshNamespace, type SeedDocument, seedDocuments } from "../support";

const store = new DocumentStore(env.DB);
const logger = createLogger("error", {}, () => undefined);
const local: SearchSettings = { ...DEFAULT_SEARCH_SETTINGS, vectorWeight: LOCAL_VECTOR_WEIGHT };

type Doc = Omit<SeedDocument, "title">;

async function seed(docs: Doc[]): Promise<string> {
  const ns = freshNamespace("kd");
  await seedDocuments(
    store,
    ns,
    docs.map((d) => ({ ...d, title: d.id })),
  );
  return ns;
}

/** A vector index answering a fixed ranking of chunk ids (best first). */
class ScriptedIndex implements VectorIndex {
  constructor(private readonly ranking: string[]) {}
  async query(_vector: number[] | Float32Array, options?: QueryOptions): Promise<QueryResult> {
    const matches = this.ranking.slice(0, options?.topK ?? 5).map((id, i) => ({ id, score: 1 - i / 1000 }));
    return { count: matches.length, matches };
  }
  upsert(): Promise<{ mutationId: string }> {
    throw new Error("not used");
  }
  getByIds(): Promise<never[]> {
    throw new Error("not used");
  }
  deleteByIds(): Promise<{ mutationId: string }> {
    throw new Error("not used");
  }
  describe(): Promise<never> {
    throw new Error("not used");
  }
}

const embedder: Embedder = {
  model: "scripted",
  dimensions: 3,
  maxInputTokens: 512,
  embed: async (texts) => texts.map(() => Float32Array.of(1, 0, 0)),
};

/** env.DB, recording the row limit of every keyword query (bound as its 5th parameter). */
function recordingDb(limits: number[]): D1Like {
  return {
    prepare(sql: string) {
      const statement = env.DB.prepare(sql);
      if (!sql.includes("MATCH")) return statement;
      return new Proxy(statement, {
        get(target, prop) {
          if (prop !== "bind") return Reflect.get(target, prop, target);
          return (...params: unknown[]) => {
            if (typeof params[4] === "number") limits.push(params[4]);
            return target.bind(...params);
          };
        },
      });
    },
    batch: (statements) => env.DB.batch(statements),
  } as D1Like;
}

function deps(db: D1Like, index: VectorIndex): SearchDeps {
  return { embedder, index, store, db, logger, settings: local };
}

const request = (topK: number, groupBy: SearchRequest["groupBy"]): SearchRequest => ({
  query: "comet",
  topK,
  mode: "hybrid",
  groupBy,
  includeText: false,
  rerank: false,
});

/** The answer from both whole legs: keyword mode's ranking of 100 fused with the vector ranking. */
async function wholeLegAnswer(ns: string, vector: string[], topK: number): Promise<[string, number][]> {
  const keyword = await search(
    { embedder, index: new ScriptedIndex([]), store, db: env.DB, logger, settings: local },
    ns,
    { ...request(100, "chunk"), mode: "keyword" },
  );
  const fused = reciprocalRankFusion(
    [
      vector.slice(0, 100).map((id) => ({ id, score: 0 })),
      keyword.results.map((r) => ({ id: r.chunkId, score: 0 })),
    ],
    { k: local.rrfK, weights: [local.vectorWeight, local.keywordWeight] },
  );
  return fused.slice(0, topK).map((r) => [r.id, r.score]);
}

/** Document "a" holds the 30 best keyword hits: grouped by document it fills one place. */
function oneDocumentAhead(): Doc[] {
  return [
    { id: "a", texts: Array.from({ length: 30 }, (_, i) => `comet comet comet comet part ${i}`) },
    ...["b", "c", "d", "e", "f"].map((id, i) => ({
      id,
      texts: [`comet ${"and more words ".repeat(i + 1)}`],
    })),
  ];
}

describe("the keyword leg's depth in hybrid search", () => {
  it("stops at the deepest rank fusion can lift into the window, and never below the window", () => {
    const reach = keywordReach(15, local);
    expect(reach).toBe(19);
    expect(keywordReach(15, DEFAULT_SEARCH_SETTINGS)).toBeNull();
    expect(keywordReach(15, { ...local, keywordWeight: 0 })).toBeNull();
    expect(keywordReach(30, { ...local, vectorWeight: 0 })).toBe(30);
  });

  it("reads fewer keyword hits and answers exactly as fusing both whole legs does", async () => {
    // 60 chunks that BM25 ranks by how often they say "comet"; the vector leg ranks them the other way.
    const docs: Doc[] = Array.from({ length: 60 }, (_, i) => ({
      id: `d${String(i).padStart(2, "0")}`,
      texts: [`${"comet ".repeat(1 + ((60 - i) % 7))} ${"filler ".repeat(i % 5)} text ${i}`],
    }));
    const ns = await seed(docs);
    const vector = docs.map((d) => `${ns}-${d.id}-0`).reverse();
    const limits: number[] = [];
    const res = await search(deps(recordingDb(limits), new ScriptedIndex(vector)), ns, request(10, "chunk"));
    expect(res.results.map((r) => [r.chunkId, r.score])).toEqual(await wholeLegAnswer(ns, vector, 10));
    // The first window of topK 10 is 15 places: keyword ranks past 19 cannot enter it.
    expect(limits).toEqual([19]);
  });

  it("reads the whole keyword leg when grouping leaves the first window short", async () => {
    const ns = await seed(oneDocumentAhead());
    const limits: number[] = [];
    const res = await search(deps(recordingDb(limits), new ScriptedIndex([])), ns, request(5, "document"));
    expect(res.results.map((r) => r.id)).toEqual(["a", "b", "c", "d", "e"]);
    // Grouped by document, topK 5 hydrates 20 places first: keyword ranks past 25 cannot enter them.
    expect(limits).toEqual([25, 100]);
  });

  it("explains ranks from the whole keyword leg once it was read", async () => {
    const ns = await seed(oneDocumentAhead());
    const limits: number[] = [];
    const res = await search(deps(recordingDb(limits), new ScriptedIndex([])), ns, {
      ...request(5, "document"),
      explain: true,
    });
    expect(limits).toEqual([25, 100]);
    // b to e rank past where the keyword leg first stopped (25): their ranks come from the whole leg.
    expect(res.results.map((r) => [r.id, r.legs?.keyword?.rank, r.legs?.vector])).toEqual([
      ["a", 1, null],
      ["b", 31, null],
      ["c", 32, null],
      ["d", 33, null],
      ["e", 34, null],
    ]);
    for (const r of res.results) {
      expect(r.legs?.fused).toBe(r.score);
      expect(r.score).toBeCloseTo(local.keywordWeight / (local.rrfK + (r.legs?.keyword?.rank ?? 0)), 12);
    }
  });

  it("keeps the whole keyword leg when the vector leg's weight is comparable", async () => {
    const docs: Doc[] = Array.from({ length: 30 }, (_, i) => ({ id: `e${i}`, texts: [`comet ${i}`] }));
    const ns = await seed(docs);
    const limits: number[] = [];
    await search(
      { ...deps(recordingDb(limits), new ScriptedIndex([])), settings: DEFAULT_SEARCH_SETTINGS },
      ns,
      request(10, "chunk"),
    );
    expect(limits).toEqual([100]);
  });
});
