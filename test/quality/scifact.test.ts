// Retrieval-quality regression: a fixed SciFact subset (test/fixtures/scifact) goes through the
// real pipeline (API -> queue -> consumer -> D1 and the local index), every judged query runs in
// each search mode, and nDCG@10 and Recall@100 must stay within TOLERANCE of the committed
// baseline. A drop past it fails; a gain past it asks for the baseline to be raised.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { mean, mrrAtK, ndcgAtK, parseQrels, recallAtK } from "../../scripts/lib/metrics.ts";
import { loadConfig } from "../../src/config";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import baseline from "../fixtures/scifact/baseline.json";
import corpusText from "../fixtures/scifact/corpus.jsonl?raw";
import qrelsText from "../fixtures/scifact/qrels-train.tsv?raw";
import queriesText from "../fixtures/scifact/queries-train.jsonl?raw";
import { api, freshNamespace, waitFor } from "../support";
import { searchApi } from "../support/search";

const TOLERANCE = 0.01;
const TOP_K = 100;
const CONCURRENCY = 8;
const MODES = ["keyword", "vector", "hybrid", "hybrid+rerank"] as const;
type Mode = (typeof MODES)[number];

interface Figures {
  queries: number;
  ndcgAt10: number;
  recallAt100: number;
  mrrAt10: number;
}

const lines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, string>);

const corpus = lines(corpusText).map((d) => ({
  id: String(d._id),
  title: d.title ?? "",
  text: d.text ?? "",
}));
const qrels = parseQrels(qrelsText);
const queries = lines(queriesText)
  .map((q) => ({ id: String(q._id), text: String(q.text), grades: qrels.get(String(q._id)) }))
  .filter((q): q is { id: string; text: string; grades: Map<string, number> } => q.grades !== undefined);
const expected = baseline as Record<Mode, Figures>;

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
}

async function evaluate(ns: string, mode: Mode): Promise<Figures & { degraded: number }> {
  const per = await mapLimited(queries, CONCURRENCY, async (q) => {
    const res = await searchApi(ns, {
      query: q.text,
      topK: TOP_K,
      mode: mode === "hybrid+rerank" ? "hybrid" : mode,
      rerank: mode === "hybrid+rerank",
      groupBy: "document",
      includeText: false,
      cache: "bypass",
    });
    expect(res.status, q.text).toBe(200);
    const ranked = res.body.results.map((r) => r.id);
    return {
      ndcg: ndcgAtK(ranked, q.grades, 10),
      recall: recallAtK(ranked, q.grades, 100),
      mrr: mrrAtK(ranked, q.grades, 10),
      degraded: res.body.degraded.length > 0,
    };
  });
  return {
    queries: per.length,
    ndcgAt10: mean(per.map((p) => p.ndcg)),
    recallAt100: mean(per.map((p) => p.recall)),
    mrrAt10: mean(per.map((p) => p.mrr)),
    degraded: per.filter((p) => p.degraded).length,
  };
}

const round = (x: number) => Number(x.toFixed(4));

describe("retrieval quality on the SciFact subset", () => {
  const ns = freshNamespace("scifact");
  const measured: Partial<Record<Mode, Figures>> = {};

  beforeAll(async () => {
    const res = await api("POST", `/v1/namespaces/${ns}/documents`, { documents: corpus });
    expect(res.status).toBe(202);
    await waitFor(
      "the subset to be indexed",
      async () => {
        const stats = await api<{ documents: number; pending: number; failed: number }>(
          "GET",
          `/v1/namespaces/${ns}`,
        );
        expect(stats.body.failed).toBe(0);
        return stats.body.pending === 0 && stats.body.documents === corpus.length;
      },
      90_000,
      250,
    );
    // Vector writes apply asynchronously (as on Vectorize): apply them all before measuring.
    await new LocalVectorIndexClient(env.LOCAL_INDEX, loadConfig(env).vectorizeIndexName).flush();
  }, 120_000);

  it("covers every judged query of the subset", () => {
    expect(queries.length).toBe(150);
    expect(corpus.length).toBe(750);
    for (const mode of MODES) expect(expected[mode]?.queries, mode).toBe(queries.length);
  });

  it.each(MODES)(
    "%s keeps nDCG@10 and Recall@100 within the tolerance of the baseline",
    async (mode) => {
      const figures = await evaluate(ns, mode);
      measured[mode] = {
        queries: figures.queries,
        ndcgAt10: round(figures.ndcgAt10),
        recallAt100: round(figures.recallAt100),
        mrrAt10: round(figures.mrrAt10),
      };
      // One line per mode, so a deliberate change can copy the new figures into baseline.json.
      console.log(`scifact-quality ${JSON.stringify({ [mode]: measured[mode] })}`);
      expect(figures.degraded, "answers marked degraded").toBe(0);
      const base = expected[mode];
      expect(figures.ndcgAt10, "nDCG@10 dropped").toBeGreaterThanOrEqual(base.ndcgAt10 - TOLERANCE);
      expect(figures.recallAt100, "Recall@100 dropped").toBeGreaterThanOrEqual(base.recallAt100 - TOLERANCE);
      expect(figures.ndcgAt10, "nDCG@10 rose: raise the baseline").toBeLessThanOrEqual(
        base.ndcgAt10 + TOLERANCE,
      );
      expect(figures.recallAt100, "Recall@100 rose: raise the baseline").toBeLessThanOrEqual(
        base.recallAt100 + TOLERANCE,
      );
    },
    60_000,
  );

  it("fuses at least as well as the better single leg, and reranking does not lose to fusion", () => {
    const { keyword, vector, hybrid } = measured;
    const reranked = measured["hybrid+rerank"];
    if (!keyword || !vector || !hybrid || !reranked) throw new Error("a mode did not run");
    expect(hybrid.ndcgAt10).toBeGreaterThanOrEqual(Math.max(keyword.ndcgAt10, vector.ndcgAt10) - TOLERANCE);
    expect(hybrid.recallAt100).toBeGreaterThanOrEqual(Math.max(keyword.recallAt100, vector.recallAt100));
    expect(reranked.ndcgAt10).toBeGreaterThanOrEqual(hybrid.ndcgAt10 - TOLERANCE);
  });
});
