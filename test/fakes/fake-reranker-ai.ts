// A stand-in for the Workers AI binding running @cf/baai/bge-reranker-base in tests: it enforces
// the model's input contract ({query, contexts: [{text}], top_k?}), answers in its output shape
// ({response: [{id, score}]}, best first), records every call, and can be told to fail the next
// calls the ways the real service fails or to answer malformed rankings.
import { hang, inputError, upstreamError } from "./ai-errors";
export const RERANKER_MODEL = "@cf/baai/bge-reranker-base";

export type FakeRerankerFailure =
  /** 429, code 3040: out of capacity. */
  | "rate_limited"
  /** A 5xx from the inference backend. */
  | "server_error"
  /** A 400 input validation error (code 5006). */
  | "input_error"
  /** Never answers (until the caller aborts). */
  | "hang"
  /** Answers with an id past the last context. */
  | "id_out_of_range"
  /** Answers with one context twice and another not at all. */
  | "duplicate_id"
  /** Answers without the response field. */
  | "missing_response"
  /** Answers with a score that is not a number. */
  | "bad_score";

export interface FakeRerankerCall {
  model: string;
  query: string;
  contexts: string[];
  topK: number | undefined;
}

export interface FakeRerankerControls {
  readonly calls: FakeRerankerCall[];
  failNext(count: number, kind: FakeRerankerFailure): void;
}

/**
 * The fake's relevance: the share of the query's distinct words found in the context, so tests
 * can predict the order it answers in.
 */
export function fakeRelevance(query: string, context: string): number {
  const words = (s: string) => new Set(s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
  const q = words(query);
  const c = words(context);
  if (q.size === 0) return 0;
  let hits = 0;
  for (const w of q) if (c.has(w)) hits++;
  return hits / q.size;
}

export function createFakeRerankerAi(): Ai & FakeRerankerControls {
  const calls: FakeRerankerCall[] = [];
  const failures: FakeRerankerFailure[] = [];

  const run = async (
    model: string,
    inputs: unknown,
    options?: { signal?: AbortSignal },
  ): Promise<unknown> => {
    if (model !== RERANKER_MODEL) throw upstreamError(5007, `No such model ${model} or task`);
    const { query, contexts, topK } = validateInput(inputs);
    calls.push({ model, query, contexts, topK });
    const failure = failures.shift();
    switch (failure) {
      case "rate_limited":
        throw upstreamError(3040, "Capacity temporarily exceeded, please try again.");
      case "server_error":
        throw upstreamError(3043, "Internal server error");
      case "input_error":
        throw upstreamError(5006, "Input validation error: Type mismatch of '/contexts/0/text'");
      case "hang":
        return await hang(options?.signal);
      default:
        break;
    }
    const ranked = contexts
      .map((text, id) => ({ id, score: fakeRelevance(query, text) }))
      .sort((a, b) => b.score - a.score || a.id - b.id)
      .slice(0, topK ?? contexts.length);
    switch (failure) {
      case "id_out_of_range":
        return { response: [...ranked, { id: contexts.length, score: 0.5 }] };
      case "duplicate_id":
        return {
          response: ranked.map((r, i) => (i === ranked.length - 1 ? { ...r, id: ranked[0]?.id ?? 0 } : r)),
        };
      case "missing_response":
        return {};
      case "bad_score":
        return { response: ranked.map((r, i) => (i === 0 ? { id: r.id, score: "high" } : r)) };
      default:
        return { response: ranked };
    }
  };

  const fake = {
    run,
    calls,
    failNext(count: number, kind: FakeRerankerFailure) {
      for (let i = 0; i < count; i++) failures.push(kind);
    },
  };
  // The one place the fake poses as the binding: it implements run(), which is all we call.
  return fake as unknown as Ai & FakeRerankerControls;
}

// What the reranker accepts: a query string, at least one {text} context, an optional top_k.
function validateInput(inputs: unknown): { query: string; contexts: string[]; topK: number | undefined } {
  if (typeof inputs !== "object" || inputs === null)
    throw inputError("Type mismatch of '/', 'object' expected");
  const { query, contexts, top_k } = inputs as { query?: unknown; contexts?: unknown; top_k?: unknown };
  if (typeof query !== "string") throw inputError("Required properties missing: 'query'");
  if (!Array.isArray(contexts)) throw inputError("Required properties missing: 'contexts'");
  if (contexts.length === 0) throw inputError("Length of '/contexts' must be >= 1");
  const texts: string[] = [];
  for (const [i, c] of contexts.entries()) {
    const text = typeof c === "object" && c !== null ? (c as { text?: unknown }).text : undefined;
    if (typeof text !== "string")
      throw inputError(`Type mismatch of '/contexts/${i}/text', 'string' expected`);
    texts.push(text);
  }
  if (top_k !== undefined && (typeof top_k !== "number" || !Number.isInteger(top_k) || top_k < 1)) {
    throw inputError("Value of '/top_k' must be an integer >= 1");
  }
  return { query, contexts: texts, topK: top_k };
}
