// The Reranker interface: a second stage that reorders a search's top candidates by reading the
// query together with each candidate's text. Workers AI's cross-encoder in production, a lexical
// stand-in offline; callers never know which one they hold.

export interface Reranker {
  /** Model id, e.g. "@cf/baai/bge-reranker-base". */
  readonly model: string;
  /**
   * One relevance score per text, in input order; higher is more relevant. Scores compare only
   * within one call. Texts arrive in first-stage order, best first, which a reranker may use as
   * a prior. Throws AppError (retryable for 429/5xx/timeouts).
   */
  rerank(query: string, texts: string[]): Promise<number[]>;
}

/** The Workers AI reranking models we support. */
export const RERANK_MODELS = ["@cf/baai/bge-reranker-base"] as const;
export type RerankModel = (typeof RERANK_MODELS)[number];
