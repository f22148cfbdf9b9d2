// The rerankers: the Workers AI adapter against a fake binding that holds it to the model's
// contract, and the local lexical stand-in.
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import { bm25OverCandidates, LocalReranker } from "../../src/rerank/local";
import { WorkersAiReranker } from "../../src/rerank/workers-ai";
import {
  createFakeRerankerAi,
  type FakeRerankerFailure,
  fakeRelevance,
  RERANKER_MODEL,
} from "../fakes/fake-reranker-ai";

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

const CONTEXTS = [
  "Kelp forests shelter fish.",
  "Sea otters eat sea urchins that graze kelp.",
  "Rivers carry sediment.",
  "Otters crack shellfish on their bellies.",
];
const QUERY = "what do sea otters eat";

describe("WorkersAiReranker", () => {
  it("sends the query and every context, and returns the scores in context order", async () => {
    const ai = createFakeRerankerAi();
    const scores = await new WorkersAiReranker({ ai, model: RERANKER_MODEL }).rerank(QUERY, CONTEXTS);
    expect(ai.calls).toEqual([{ model: RERANKER_MODEL, query: QUERY, contexts: CONTEXTS, topK: 4 }]);
    // The model answers best first; the adapter puts each score back at its context's index.
    expect(scores).toEqual(CONTEXTS.map((c) => fakeRelevance(QUERY, c)));
    expect(scores[1]).toBeGreaterThan(scores[0] ?? 1);
  });

  it("does not call the model for no candidates", async () => {
    const ai = createFakeRerankerAi();
    expect(await new WorkersAiReranker({ ai, model: RERANKER_MODEL }).rerank(QUERY, [])).toEqual([]);
    expect(ai.calls).toHaveLength(0);
  });

  it.each<[FakeRerankerFailure, string, boolean]>([
    ["rate_limited", "rate_limited", true],
    ["server_error", "upstream_failed", true],
    ["input_error", "bad_request", false],
    ["hang", "timeout", true],
  ])("maps a %s failure to %s (retryable: %s)", async (failure, code, retryable) => {
    const ai = createFakeRerankerAi();
    ai.failNext(1, failure);
    const reranker = new WorkersAiReranker({ ai, model: RERANKER_MODEL, timeoutMs: 50 });
    const err = await rejection(reranker.rerank(QUERY, CONTEXTS));
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
  });

  it.each<FakeRerankerFailure>(["id_out_of_range", "duplicate_id", "missing_response", "bad_score"])(
    "rejects a malformed ranking (%s) as a retryable upstream failure",
    async (failure) => {
      const ai = createFakeRerankerAi();
      ai.failNext(1, failure);
      const err = await rejection(
        new WorkersAiReranker({ ai, model: RERANKER_MODEL }).rerank(QUERY, CONTEXTS),
      );
      expect(err.code).toBe("upstream_failed");
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/malformed/);
    },
  );
});

describe("LocalReranker", () => {
  it("lifts the candidate that holds every query word above a weaker one ranked first", async () => {
    const texts = ["alpha", "alpha beta gamma", "alpha beta", "beta gamma", "gamma"];
    // BM25 over these five puts #1 first, #2 and #3 next (tied: first-stage order), then #0
    // and #4 (one word each, equal IDF and length). Fused with the first-stage ranks (k = 60,
    // lexical weight 0.5): #1 = 1/62 + 0.5/61 = 0.024326, #0 = 1/61 + 0.5/64 = 0.024206,
    // #2 = 1/63 + 0.5/62 = 0.023938, #3 = 1/64 + 0.5/63 = 0.023562, #4 = 1/65 + 0.5/65 = 0.023077.
    const scores = await new LocalReranker({ model: RERANKER_MODEL }).rerank("alpha beta gamma", texts);
    const order = scores.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s);
    expect(order.map((o) => o.i)).toEqual([1, 0, 2, 3, 4]);
    expect(scores[1]).toBeCloseTo(1 / 62 + 0.5 / 61, 12);
    expect(scores[0]).toBeCloseTo(1 / 61 + 0.5 / 64, 12);
  });

  it("scores with stemmed words and ignores function words", () => {
    const [running, unrelated] = bm25OverCandidates("the runners were running", [
      "A runner runs.",
      "The and of were.",
    ]);
    expect(running).toBeGreaterThan(0);
    expect(unrelated).toBe(0);
  });
});
