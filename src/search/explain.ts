// What `explain` answers per result: where each leg ranked the result's chunk and with what
// score, the first-stage (fused) score and, when the reranker rescored it, the reranker's score.
// Built only for an explain request, from the leg rankings retrieval holds anyway and only for
// the page's results: a search without explain pays one branch.
import type { Ranked } from "./fusion";

/** A result's place in one leg's ranking: rank counts from 1, score is the leg's own. */
export interface LegScore {
  rank: number;
  score: number;
}

export interface ResultLegs {
  /** FTS5 bm25 (higher is better); null when the keyword leg did not find the chunk or did not run. */
  keyword: LegScore | null;
  /** Cosine similarity; null when the vector leg did not find the chunk or did not run. */
  vector: LegScore | null;
  /**
   * The first-stage score the ranking is ordered by: with both legs, the weighted reciprocal rank
   * fusion of their ranks (src/search/fusion.ts); with one leg, that leg's score.
   */
  fused: number;
  /** The reranker's score, on a result the reranker rescored. */
  rerank?: number;
}

/** The rankings fusion read, best first (null: the leg did not run or was unavailable). */
export interface LegRankings {
  keyword: readonly Ranked[] | null;
  vector: readonly Ranked[] | null;
}

/** A ranked candidate (hydrate.ts's Candidate), as far as its legs go. */
interface Scored {
  chunk: { chunkId: string };
  /** The current score: the reranker's when `fused` is set, the first-stage one otherwise. */
  score: number;
  fused?: number;
}

/** A function giving each candidate its legs. */
export type Explain = (candidate: Scored) => ResultLegs;

export function explainer(legs: LegRankings): Explain {
  const keyword = positions(legs.keyword);
  const vector = positions(legs.vector);
  return ({ chunk, score, fused }) => {
    const out: ResultLegs = {
      keyword: keyword?.get(chunk.chunkId) ?? null,
      vector: vector?.get(chunk.chunkId) ?? null,
      fused: fused ?? score,
    };
    if (fused !== undefined) out.rerank = score;
    return out;
  };
}

function positions(ranked: readonly Ranked[] | null): Map<string, LegScore> | null {
  if (ranked === null) return null;
  const out = new Map<string, LegScore>();
  ranked.forEach((r, i) => {
    out.set(r.id, { rank: i + 1, score: r.score });
  });
  return out;
}
