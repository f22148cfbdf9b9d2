// The search's parts in isolation, with fakes: the stage timer, the degradations collector, stages
// whose dependency's circuit is open, and the use case's cache stage.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cacheApiLayer } from "../../src/cache/cache-api";
import { loadConfig } from "../../src/config";
import type { Embedder } from "../../src/embed/embedder";
import { AppError } from "../../src/errors";
import { createLogger, type LogFields } from "../../src/observe/logger";
import type { Reranker } from "../../src/rerank/reranker";
import { type BreakerBackend, BreakerClient, type BreakerSnapshot } from "../../src/resilience/breaker";
import type { Dependency } from "../../src/resilience/faults";
import { type GuardContext, guarded } from "../../src/resilience/guard";
import { type AnswerSearchDeps, answerSearch } from "../../src/search/answer";
import { createDegradations } from "../../src/search/degradations";
import type { Candidate } from "../../src/search/hydrate";
import { rerank } from "../../src/search/rerank";
import { vectorLeg } from "../../src/search/retrieve";
import {
  DEFAULT_SEARCH_SETTINGS,
  type SearchDeps,
  type SearchRequest,
  search,
} from "../../src/search/search";
import { createTimer, serverTiming } from "../../src/search/timer";
import type { D1Like } from "../../src/store/d1";
import type { HydratedChunk } from "../../src/store/documents";
import { DOC_ID_FIELD } from "../../src/validation";
import type { QueryOptions, QueryResult, VectorIndex, VectorRecord } from "../../src/vectors/vector-index";
import { defaultVersion } from "../../src/versions/model";

/** A clock the test moves: fakes advance it by what their call "takes". */
function fakeClock(start = 0) {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

const quiet = createLogger("error", {}, () => undefined);

function recordingLogger() {
  const lines: { event: string; fields?: LogFields }[] = [];
  const log = (event: string, fields?: LogFields) => void lines.push({ event, fields });
  const logger = { debug: log, info: log, warn: log, error: log, child: () => logger };
  return { logger, lines };
}

const unavailable = () => new AppError("upstream_failed", "503 from upstream", { retryable: true });

/** Guards whose breaker for `dep` is open: calls through them fail fast without reaching `dep`. */
async function openCircuit(dep: Dependency): Promise<GuardContext> {
  const open: BreakerSnapshot = {
    state: "open",
    retryAt: Date.now() + 60_000,
    window: { ok: 0, fail: 20 },
    opens: 1,
    transitions: 1,
  };
  const backend: BreakerBackend = { report: async () => open, snapshot: async () => open };
  const breakers = new BreakerClient({
    stateTtlMs: 60_000,
    flushEvery: 1,
    flushIntervalMs: 60_000,
    probesPerPeriod: 0,
  });
  // The first call reads the breaker's state in the background; wait for it.
  const reads: Promise<unknown>[] = [];
  breakers.allow(dep, backend, (p) => void reads.push(p));
  await Promise.all(reads);
  const retry = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, timeoutMs: 1000 };
  return { breakers, backend, defer: () => undefined, faults: null, retry };
}

const CHUNKS: HydratedChunk[] = ["a", "b", "c"].map((id, i) => ({
  chunkId: `${id}-0`,
  docId: id,
  index: 0,
  title: `Title ${id}`,
  headings: [],
  text: `text of ${id}`,
  metadata: { lang: "en", rank: i },
}));

class FakeEmbedder implements Embedder {
  readonly model = "@cf/baai/bge-small-en-v1.5";
  readonly dimensions = 3;
  readonly maxInputTokens = 512;
  calls = 0;
  constructor(private readonly clock = fakeClock()) {}
  async embed(texts: string[]): Promise<Float32Array[]> {
    this.calls += 1;
    this.clock.now += 10;
    return texts.map(() => Float32Array.of(1, 0, 0));
  }
}

/** Ranks CHUNKS in order; describes them with their document id and metadata, as Vectorize does. */
class FakeIndex implements VectorIndex {
  queries = 0;
  constructor(private readonly clock = fakeClock()) {}
  async query(): Promise<QueryResult> {
    this.queries += 1;
    this.clock.now += 20;
    const matches = CHUNKS.map((c, i) => ({ id: c.chunkId, score: 1 - i / 10 }));
    return { count: matches.length, matches };
  }
  async getByIds(ids: string[]): Promise<VectorRecord[]> {
    return CHUNKS.filter((c) => ids.includes(c.chunkId)).map((c) => ({
      id: c.chunkId,
      values: [1, 0, 0],
      metadata: { ...c.metadata, [DOC_ID_FIELD]: c.docId },
    }));
  }
  upsert(): never {
    throw new Error("not used by search");
  }
  deleteByIds(): never {
    throw new Error("not used by search");
  }
  describe(): never {
    throw new Error("not used by search");
  }
}

class FakeStore {
  calls = 0;
  constructor(private readonly clock = fakeClock()) {}
  async hydrate(_namespace: string, ids: string[]): Promise<Map<string, HydratedChunk>> {
    this.calls += 1;
    this.clock.now += 5;
    return new Map(CHUNKS.filter((c) => ids.includes(c.chunkId)).map((c) => [c.chunkId, c]));
  }
}

const noDb = new Proxy(
  {},
  {
    get() {
      throw new Error("vector searches never read D1 directly");
    },
  },
) as SearchDeps["db"];

const vectorRequest: SearchRequest = {
  query: "anything",
  topK: 3,
  mode: "vector",
  groupBy: "document",
  includeText: true,
};

describe("the stage timer", () => {
  it("records each stage's time on its clock, in the order the stages started", async () => {
    const clock = fakeClock(100);
    const timer = createTimer(clock.read, 90);
    timer.mark("auth");
    await timer.stage("embed", async () => {
      clock.now += 7;
    });
    const fused = timer.stageSync("fuse", () => {
      clock.now += 1;
      return "fused";
    });
    await expect(
      timer.stage("rerank", async () => {
        clock.now += 3;
        throw unavailable();
      }),
    ).rejects.toThrow("503");
    expect(fused).toBe("fused");
    expect(timer.timings()).toEqual({ auth: 10, embed: 7, fuse: 1, rerank: 3 });
    expect(Object.keys(timer.timings())).toEqual(["auth", "embed", "fuse", "rerank"]);
    expect(timer.elapsed()).toBe(21);
  });

  it("leaves out of a stage the time of work excluded from it, and keeps that work's own stages", async () => {
    const clock = fakeClock();
    const timer = createTimer(clock.read);
    await timer.stage("cache", async () => {
      clock.now += 2;
      await timer.excluding("cache", async () => {
        clock.now += 40;
        timer.add({ embed: 15, vector: 25 });
      });
      clock.now += 1;
    });
    expect(timer.timings()).toEqual({ cache: 3, embed: 15, vector: 25 });
  });

  it("does not show a stage that has not finished", async () => {
    const clock = fakeClock();
    const timer = createTimer(clock.read);
    let seen: object | undefined;
    await timer.stage("hydrate", async () => {
      seen = timer.timings();
    });
    expect(seen).toEqual({});
    expect(timer.timings()).toEqual({ hydrate: 0 });
  });

  it("formats a Server-Timing header", () => {
    expect(serverTiming({ auth: 1.26, cache: 0, total: 12 })).toBe(
      "auth;dur=1.3, cache;dur=0.0, total;dur=12.0",
    );
  });
});

describe("the degradations collector", () => {
  it("records a retryable failure once, logs it, and lets the caller go on", async () => {
    const { logger, lines } = recordingLogger();
    const degradations = createDegradations(logger);
    expect(await degradations.attempt("keyword_unavailable", () => Promise.reject(unavailable()))).toBeNull();
    expect(await degradations.attempt("keyword_unavailable", () => Promise.reject(unavailable()))).toBeNull();
    expect(await degradations.attempt("keyword_unavailable", async () => "answered")).toBe("answered");
    degradations.add("rerank_unavailable");
    expect(degradations.list()).toEqual(["keyword_unavailable", "rerank_unavailable"]);
    expect(degradations.has("rerank_unavailable")).toBe(true);
    expect(lines[0]).toMatchObject({
      event: "search.degraded",
      fields: { reason: "keyword_unavailable", error: expect.stringContaining("503") },
    });
  });

  it("throws a failure that is the request's own instead of degrading", async () => {
    const degradations = createDegradations(quiet);
    const refused = new AppError("invalid_filter", "bad filter", { retryable: false });
    await expect(
      degradations.attempt("vector_index_unavailable", () => Promise.reject(refused)),
    ).rejects.toBe(refused);
    expect(degradations.list()).toEqual([]);
  });
});

describe("stages whose dependency's circuit is open", () => {
  it("the vector leg answers null with embedding_unavailable, and never queries the index", async () => {
    const guard = await openCircuit("workers-ai");
    const embedder = new FakeEmbedder();
    const index = new FakeIndex();
    const ctx = { timer: createTimer(fakeClock().read), degradations: createDegradations(quiet) };
    const ranked = await vectorLeg(
      { embedder: guarded(embedder, "workers-ai", guard, ["embed"]), index },
      ctx,
      { namespace: "ns", version: "default" },
      { query: "q" },
      10,
    );
    expect(ranked).toBeNull();
    expect(ctx.degradations.list()).toEqual(["embedding_unavailable"]);
    expect([embedder.calls, index.queries]).toEqual([0, 0]);
  });

  it("rerank keeps first-stage order with rerank_unavailable", async () => {
    const guard = await openCircuit("workers-ai");
    const calls: string[][] = [];
    const reranker: Reranker = {
      model: "@cf/baai/bge-reranker-base",
      rerank: async (_q, texts) => {
        calls.push(texts);
        return texts.map((_, i) => i);
      },
    };
    const candidates: Candidate[] = CHUNKS.map((chunk, i) => ({ chunk, score: 1 - i / 10 }));
    const ctx = { timer: createTimer(fakeClock().read), degradations: createDegradations(quiet) };
    const answer = await rerank(
      { reranker: guarded(reranker, "workers-ai", guard, ["rerank"]), logger: quiet },
      ctx,
      "q",
      candidates,
      50,
    );
    expect(answer).toEqual(candidates);
    expect(ctx.degradations.list()).toEqual(["rerank_unavailable"]);
    expect(calls).toEqual([]);
  });

  it("a search whose D1 circuit is open still answers, from the vector index, without text", async () => {
    const guard = await openCircuit("d1");
    const store = new FakeStore();
    const deps: SearchDeps = {
      embedder: new FakeEmbedder(),
      index: new FakeIndex(),
      store: guarded(store, "d1", guard),
      db: noDb,
      logger: quiet,
      guard,
    };
    const answer = await search(deps, "ns", vectorRequest);
    expect(answer.results.map((r) => [r.id, r.text, r.title, r.metadata])).toEqual([
      ["a", undefined, undefined, { lang: "en", rank: 0 }],
      ["b", undefined, undefined, { lang: "en", rank: 1 }],
      ["c", undefined, undefined, { lang: "en", rank: 2 }],
    ]);
    expect(answer.degraded).toEqual(["text_unavailable"]);
    expect(store.calls).toBe(0);
  });
});

describe("the search use case's timings", () => {
  function useCase(clock: ReturnType<typeof fakeClock>) {
    const embedder = new FakeEmbedder(clock);
    const deps: AnswerSearchDeps = {
      activeVersion: async () => defaultVersion(loadConfig({ BACKEND: "local" })),
      versionDeps: () => ({
        embedder,
        index: new FakeIndex(clock),
        store: new FakeStore(clock),
        db: noDb,
        logger: quiet,
      }),
      cache: {
        kv: env.KV,
        cacheApi: cacheApiLayer(null, null),
        settings: { resultTtlMs: 60_000, lruBytes: 1 << 20, generationTtlMs: 60_000, settleMs: 0 },
        logger: quiet,
        defer: () => undefined,
      },
      settings: DEFAULT_SEARCH_SETTINGS,
      clock: clock.read,
    };
    return { deps, embedder };
  }

  it("a miss shows the search's stages, and a cache stage without the search's time; a hit the cache stage only", async () => {
    const clock = fakeClock();
    const { deps, embedder } = useCase(clock);
    const ns = `stages-${crypto.randomUUID().slice(0, 8)}`;
    const missTimer = createTimer(clock.read);
    const miss = await answerSearch(deps, ns, vectorRequest, { bypassCache: false, timer: missTimer });
    expect(miss.outcome).toBe("miss");
    expect(missTimer.timings()).toEqual({ cache: 0, embed: 10, vector: 20, hydrate: 5 });
    expect(missTimer.elapsed()).toBe(35);

    const hitTimer = createTimer(clock.read);
    const hit = await answerSearch(deps, ns, vectorRequest, { bypassCache: false, timer: hitTimer });
    expect(hit.outcome).toBe("isolate");
    expect(hit.results).toEqual(miss.results);
    expect(hitTimer.timings()).toEqual({ cache: 0 });
    expect(embedder.calls).toBe(1);
  });
});

describe("facets alongside retrieval", () => {
  /**
   * A D1 that records each round trip ("batch of N" or "alone"), answers the facet statement
   * with `facetRows` and every other statement with no rows.
   */
  function recordingDb(facetRows: Record<string, unknown>[]) {
    const trips: string[] = [];
    const rowsOf = (sql: string) => (sql.includes("json_each") ? facetRows : []);
    const db = {
      prepare(sql: string) {
        const result = () => ({ results: rowsOf(sql), success: true, meta: {} });
        const statement = {
          sql,
          bind: () => statement,
          all: async () => {
            trips.push("alone");
            return result();
          },
          first: async () => {
            trips.push("alone");
            return null;
          },
          raw: async () => {
            trips.push("alone");
            return [];
          },
          run: async () => {
            trips.push("alone");
            return result();
          },
        };
        return statement;
      },
      batch: async (statements: { sql: string }[]) => {
        trips.push(`batch of ${statements.length}`);
        return statements.map((st) => ({ results: rowsOf(st.sql), success: true, meta: {} }));
      },
    } as unknown as D1Like;
    return { db, trips };
  }

  /** FakeIndex's matches, each with its metadata when asked for it (and `withMetadata`). */
  class IndexWithMetadata extends FakeIndex {
    constructor(private readonly withMetadata: boolean) {
      super();
    }
    override async query(_vector?: unknown, options?: QueryOptions): Promise<QueryResult> {
      const result = await super.query();
      if (!this.withMetadata || options?.returnMetadata === "none") return result;
      const matches = result.matches.map((m) => ({
        ...m,
        metadata: CHUNKS.find((c) => c.chunkId === m.id)?.metadata ?? {},
      }));
      return { count: matches.length, matches };
    }
  }

  const searchWith = (db: D1Like, index: VectorIndex, mode: SearchRequest["mode"]) =>
    search({ embedder: new FakeEmbedder(), index, store: new FakeStore(), db, logger: quiet }, "ns", {
      ...vectorRequest,
      mode,
      facets: { fields: ["lang"], limit: 10 },
    });

  it("keyword mode counts them in the keyword leg's round trip", async () => {
    const { db, trips } = recordingDb([
      { facet: -2, value: '[["fr"],["en"],["fr"]]' },
      { facet: -1, n: 3 },
    ]);
    const answer = await searchWith(db, new IndexWithMetadata(true), "keyword");
    expect(trips).toEqual(["batch of 2"]);
    expect(answer.facets).toEqual({
      lang: {
        values: [
          { value: "fr", count: 2 },
          { value: "en", count: 1 },
        ],
        otherCount: 0,
      },
    });
    expect(answer.facetScope).toBe("all-matches");
  });

  it("hybrid mode counts the keyword leg's documents with the candidates' metadata, each document once", async () => {
    // Document "a" matched by keyword: its values come from D1 ("fr"), not from its vector ("en").
    const { db, trips } = recordingDb([
      { facet: -2, value: '[["a","fr"]]' },
      { facet: -1, n: 1 },
    ]);
    const answer = await searchWith(db, new IndexWithMetadata(true), "hybrid");
    expect(trips).toEqual(["batch of 2"]);
    expect(answer.facets).toEqual({
      lang: {
        values: [
          { value: "en", count: 2 },
          { value: "fr", count: 1 },
        ],
        otherCount: 0,
      },
    });
  });

  it("hybrid mode counts with a statement of its own when the candidates came without metadata", async () => {
    const { db, trips } = recordingDb([
      { facet: -2, value: '[["en"]]' },
      { facet: -1, n: 0 },
    ]);
    const answer = await searchWith(db, new IndexWithMetadata(false), "hybrid");
    expect(trips).toEqual(["batch of 2", "alone"]);
    expect(answer.facets).toEqual({ lang: { values: [{ value: "en", count: 1 }], otherCount: 0 } });
  });

  it("hybrid mode counts with a statement of its own when the matches are too many for the Worker", async () => {
    const { db, trips } = recordingDb([{ facet: -1, n: 950 }]);
    await searchWith(db, new IndexWithMetadata(true), "hybrid");
    expect(trips).toEqual(["batch of 2", "alone"]);
  });

  it("vector mode counts its candidates from their metadata, with no D1 round trip", async () => {
    const { db, trips } = recordingDb([]);
    const answer = await searchWith(db, new IndexWithMetadata(true), "vector");
    expect(trips).toEqual([]);
    expect(answer.facetScope).toBe("candidates");
    expect(answer.facets).toEqual({ lang: { values: [{ value: "en", count: 3 }], otherCount: 0 } });
  });

  it("vector mode counts candidates without metadata with a statement of its own", async () => {
    const { db, trips } = recordingDb([
      { facet: -2, value: '[["en"],["en"]]' },
      { facet: -1, n: 0 },
    ]);
    const answer = await searchWith(db, new IndexWithMetadata(false), "vector");
    expect(trips).toEqual(["alone"]);
    expect(answer.facets).toEqual({ lang: { values: [{ value: "en", count: 2 }], otherCount: 0 } });
  });
});
