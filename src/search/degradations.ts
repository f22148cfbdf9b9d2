// What a search could not do. A failing dependency degrades the answer instead of failing it
// (README, "Failure handling"): the stage that met the failure records why here, and the answer
// lists the reasons in `degraded`.
import { errorMessage, isRetryable } from "../errors";
import type { Logger } from "../observe/logger";

export const RERANK_UNAVAILABLE = "rerank_unavailable";
export const EMBEDDING_UNAVAILABLE = "embedding_unavailable";
export const VECTOR_UNAVAILABLE = "vector_index_unavailable";
export const KEYWORD_UNAVAILABLE = "keyword_unavailable";
export const TEXT_UNAVAILABLE = "text_unavailable";
export const FACETS_UNAVAILABLE = "facets_unavailable";

export type Degradation =
  | typeof RERANK_UNAVAILABLE
  | typeof EMBEDDING_UNAVAILABLE
  | typeof VECTOR_UNAVAILABLE
  | typeof KEYWORD_UNAVAILABLE
  | typeof TEXT_UNAVAILABLE
  | typeof FACETS_UNAVAILABLE;

export interface Degradations {
  /** Records that the answer lacks what `reason` names; with a cause, logs it. */
  add(reason: Degradation, cause?: unknown): void;
  /**
   * A dependency failed: when it is unavailable (a retryable error: down, rate limited, circuit
   * open) records `reason` and logs the error; any other error is the request's own and is thrown.
   */
  absorb(reason: Degradation, err: unknown): void;
  /**
   * Runs `fn`. When its dependency is unavailable (a retryable error: down, rate limited,
   * circuit open) records `reason` and answers null; any other error is the request's own and
   * is thrown.
   */
  attempt<T>(reason: Degradation, fn: () => Promise<T>): Promise<T | null>;
  has(reason: Degradation): boolean;
  /** Each reason once, in the order met. */
  list(): Degradation[];
}

export function createDegradations(logger: Logger): Degradations {
  const reasons: Degradation[] = [];
  const add = (reason: Degradation, cause?: unknown) => {
    if (cause !== undefined) logger.warn("search.degraded", { reason, error: errorMessage(cause) });
    if (!reasons.includes(reason)) reasons.push(reason);
  };
  const absorb = (reason: Degradation, err: unknown) => {
    if (!isRetryable(err)) throw err;
    add(reason, err);
  };
  return {
    add,
    absorb,
    async attempt(reason, fn) {
      try {
        return await fn();
      } catch (err) {
        absorb(reason, err);
        return null;
      }
    },
    has: (reason) => reasons.includes(reason),
    list: () => [...reasons],
  };
}
