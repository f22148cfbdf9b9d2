// Workers AI reranker adapter: sends the query and the candidates' texts to a cross-encoder
// (@cf/baai/bge-reranker-base), validates the answer and maps binding failures onto AppError.
import { z } from "zod";
import { runModel } from "../embed/workers-ai";
import { AppError } from "../errors";
import type { Reranker } from "./reranker";

export interface WorkersAiRerankerOptions {
  ai: Ai;
  model: string;
  /** A call still running after this fails with a retryable timeout: search answers unreranked. */
  timeoutMs?: number;
}

// Reranking sits on the query path: better an unreranked answer than a slow one.
const DEFAULT_TIMEOUT_MS = 5_000;

// zod 4's number() already refuses NaN and +-Infinity.
const responseSchema = z.object({
  response: z.array(z.object({ id: z.number().int().nonnegative(), score: z.number() })),
});

export class WorkersAiReranker implements Reranker {
  readonly model: string;
  private readonly ai: Ai;
  private readonly timeoutMs: number;

  constructor(options: WorkersAiRerankerOptions) {
    this.ai = options.ai;
    this.model = options.model;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async rerank(query: string, texts: string[]): Promise<number[]> {
    if (texts.length === 0) return [];
    // top_k: every context back, so each candidate gets a score. The timeout and what it does
    // and does not stop: runModel (embed/workers-ai.ts).
    const inputs = { query, contexts: texts.map((text) => ({ text })), top_k: texts.length };
    const raw = await runModel(this.ai, this.model, inputs, this.timeoutMs, "Workers AI reranker");
    return parseScores(raw, texts.length);
  }
}

/** Scores in context order from `{response: [{id, score}]}`; every context exactly once. */
export function parseScores(raw: unknown, expected: number): number[] {
  const parsed = responseSchema.safeParse(raw);
  if (!parsed.success) {
    throw malformed(`response does not match {response: [{id, score}]}: ${parsed.error.issues[0]?.message}`);
  }
  const scores = new Array<number | undefined>(expected).fill(undefined);
  for (const { id, score } of parsed.data.response) {
    if (id >= expected) throw malformed(`id ${id} is out of range for ${expected} contexts`);
    if (scores[id] !== undefined) throw malformed(`id ${id} is scored twice`);
    scores[id] = score;
  }
  const missing = scores.indexOf(undefined);
  if (missing !== -1) throw malformed(`context ${missing} has no score`);
  return scores.map((s) => s ?? 0);
}

function malformed(detail: string): AppError {
  return new AppError("upstream_failed", `Workers AI returned a malformed ranking: ${detail}`, {
    retryable: true,
  });
}
