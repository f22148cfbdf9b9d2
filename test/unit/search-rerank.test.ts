// search() with reranking: the reranker reorders the head of the first-stage ranking, and a
// reranker that fails or is missing leaves the first-stage answer, marked degraded.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Embedder } from "../../src/embed/embedder";
import { AppError } from "../../src/errors";
import { createLogger } from "../../src/observe/logger";
import type { Reranker } from "../../src/rerank/reranker";
import {
  DEFAULT_SEARCH_SETTINGS,
  type SearchDeps,
  type SearchRequest,
  search,
} from "../../src/search/search";
import { DocumentStore } from "../../src/store/documents";
import type { VectorIndex } from "../../src/vectors/vector-index";
import { freshNamespace, seedDocuments } from "../support";

const store = new DocumentStore(env.DB);
const logger = createLogger("error", {}, () => undefined);
// Keyword searches never touch the embedder or the vector index.
const unused = new Proxy(
  {},
  {
    get() {
      throw new Error("not used by keyword search");
    },
  },
);

// First-stage (BM25) order for "comet": c0 (most mentions, shortest) ... c4 (one mention, longest).
const DOCS = [
  { id: "c0", title: "Comets", text: "comet comet comet comet" },
  { id: "c1", title: "Tails", text: "comet comet comet and its tail" },
  { id: "c2", title: "Orbits", text: "comet comet with an orbit around the sun" },
  { id: "c3", title: "Ice", text: "a comet is made of ice and dust and rock" },
  { id: "c4", title: "History", text: "one comet appears in old chronicles of many kingdoms and cities" },
];

async function seed(): Promise<string> {
  const ns = freshNamespace("rr");
  await seedDocuments(
    store,
    ns,
    DOCS.map((d) => ({ id: d.id, title: d.title, texts: [d.text] })),
  );
  return ns;
}

/**
 * Ranks texts by their position in `order` (ids of the documents, best first), answering after
 * `delayMs` like a model would.
 */
class ScriptedReranker implements Reranker {
  readonly model = "scripted";
  readonly seen: string[][] = [];
  constructor(
    private readonly order: string[],
    private readonly delayMs = 0,
  ) {}
  async rerank(_query: string, texts: string[]): Promise<number[]> {
    this.seen.push(texts);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return texts.map((t) => {
      const rank = this.order.findIndex((id) => t.startsWith(DOCS.find((d) => d.id === id)?.title ?? "?"));
      return rank === -1 ? 0 : 100 - rank;
    });
  }
}

class FailingReranker implements Reranker {
  readonly model = "failing";
  async rerank(): Promise<number[]> {
    throw new AppError("rate_limited", "Workers AI rate limited", { retryable: true });
  }
}

function deps(reranker: Reranker | undefined, rerankCandidates = 50): SearchDeps {
  return {
    embedder: unused as Embedder,
    index: unused as VectorIndex,
    store,
    db: env.DB,
    logger,
    reranker,
    settings: { ...DEFAULT_SEARCH_SETTINGS, rerankCandidates },
  };
}

const request = (rerank: boolean, topK = 5): SearchRequest => ({
  query: "comet",
  topK,
  mode: "keyword",
  groupBy: "document",
  includeText: false,
  rerank,
});

describe("search with reranking", () => {
  it("answers in the reranker's order, with its scores, reading title and text", async () => {
    const ns = await seed();
    const plain = await search(deps(undefined), ns, request(false));
    expect(plain.results.map((r) => r.id)).toEqual(["c0", "c1", "c2", "c3", "c4"]);

    expect(plain.timings).not.toHaveProperty("rerank");

    const reranker = new ScriptedReranker(["c4", "c2", "c0", "c1", "c3"], 40);
    const res = await search(deps(reranker), ns, request(true));
    expect(res.results.map((r) => r.id)).toEqual(["c4", "c2", "c0", "c1", "c3"]);
    expect(res.results.map((r) => r.score)).toEqual([100, 99, 98, 97, 96]);
    expect(res.degraded).toEqual([]);
    // The rerank stage's time (Server-Timing) covers the reranker's answer: at least its delay.
    expect(res.timings.rerank).toBeGreaterThanOrEqual(40);
    expect(reranker.seen[0]?.[0]).toBe("Comets\ncomet comet comet comet");
  });

  it("reranks only the first RERANK_CANDIDATES results; the rest follow in first-stage order", async () => {
    const ns = await seed();
    const reranker = new ScriptedReranker(["c4", "c3", "c2", "c1", "c0"]);
    const res = await search(deps(reranker, 2), ns, request(true));
    expect(reranker.seen[0]).toHaveLength(2);
    expect(res.results.map((r) => r.id)).toEqual(["c1", "c0", "c2", "c3", "c4"]);
  });

  it("gives the reranker RERANK_CANDIDATES candidates even when fewer results are asked for", async () => {
    const ns = await seed();
    const reranker = new ScriptedReranker(["c4", "c3", "c2", "c1", "c0"]);
    const res = await search(deps(reranker), ns, request(true, 2));
    expect(reranker.seen[0]).toHaveLength(5);
    expect(res.results.map((r) => r.id)).toEqual(["c4", "c3"]);
  });

  it.each([
    ["fails", new FailingReranker()],
    ["is not configured", undefined],
  ])("answers unreranked with rerank_unavailable when the reranker %s", async (_, reranker) => {
    const ns = await seed();
    const res = await search(deps(reranker), ns, request(true));
    expect(res.results.map((r) => r.id)).toEqual(["c0", "c1", "c2", "c3", "c4"]);
    expect(res.degraded).toEqual(["rerank_unavailable"]);
  });
});
