// Reranking: a cross-encoder reorders the head of the first-stage ranking. Without a reranker,
// or without chunk text to show it, the answer keeps first-stage order and says
// rerank_unavailable.
import { errorMessage } from "../errors";
import type { Logger } from "../observe/logger";
import type { Reranker } from "../rerank/reranker";
import { RERANK_UNAVAILABLE, TEXT_UNAVAILABLE } from "./degradations";
import type { Candidate } from "./hydrate";
import type { StageContext } from "./retrieve";

export interface RerankDeps {
  /** Absent: rerank requests are answered unreranked, with "rerank_unavailable". */
  reranker?: Reranker;
  logger: Logger;
}

/** The candidates in the reranker's order for their first `depth`, or as they came when it cannot. */
export async function rerank(
  deps: RerankDeps,
  ctx: StageContext,
  query: string,
  candidates: Candidate[],
  depth: number,
): Promise<Candidate[]> {
  // Chunks described from the vector index have no text for the reranker to read.
  const reranked =
    deps.reranker && !ctx.degradations.has(TEXT_UNAVAILABLE)
      ? await rerankHead(deps.reranker, deps.logger, ctx, query, candidates, depth)
      : null;
  if (reranked === null) ctx.degradations.add(RERANK_UNAVAILABLE);
  return reranked ?? candidates;
}

/**
 * The first `depth` candidates in the reranker's order (its scores replace theirs, which they keep
 * as `fused`), the rest after them unchanged; null when the reranker failed.
 */
async function rerankHead(
  reranker: Reranker,
  logger: Logger,
  ctx: StageContext,
  query: string,
  candidates: Candidate[],
  depth: number,
): Promise<Candidate[] | null> {
  const head = candidates.slice(0, depth);
  if (head.length === 0) return candidates;
  try {
    const scores = await ctx.timer.stage("rerank", () => reranker.rerank(query, head.map(rerankText)));
    const rescored = head.map((c, i) => ({ candidate: c, score: scores[i] ?? Number.NEGATIVE_INFINITY, i }));
    // Equal scores keep first-stage order.
    rescored.sort((a, b) => b.score - a.score || a.i - b.i);
    return [
      ...rescored.map(({ candidate, score }) => ({ chunk: candidate.chunk, score, fused: candidate.score })),
      ...candidates.slice(depth),
    ];
  } catch (err) {
    logger.warn("search.rerank_failed", { model: reranker.model, error: errorMessage(err) });
    return null;
  }
}

/** What the reranker reads of a chunk: the document's title, then the chunk's text. */
export function rerankText(candidate: Candidate): string {
  const { title, text } = candidate.chunk;
  return title ? `${title}\n${text}` : text;
}
