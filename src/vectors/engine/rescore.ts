// The second pass of a quantized query: exact cosine scores, from float32 values, for the
// candidates the int8 scan picked, so the scores a query returns are those of exact search.

import { cosineScore, norm, TopK } from "../exact-search";

/**
 * How many candidates the int8 pass hands to rescoring first for `topK` results (searchStores asks
 * for more when the scores it sees are too close to call). Per-vector int8 codes move a cosine by
 * about 1e-3: on seeded clustered 100k x 384 and x 768 data (scripts/bench/index-micro.ts) recall@10
 * was 1.0 from 16 candidates, and from 24 with clusters three times tighter. Rescoring reads each
 * candidate's float32 values from SQLite, the part of a query that grows with this number: a
 * hybrid search's leg asks for 100, and rescoring four times that was most of its cost. Half as
 * many again (at least 32 more) was exact on the same data for topK 100 (recall@100 1.0 from 128),
 * and searchStores' error bound asks for more when scores are close.
 */
export function candidateCount(topK: number): number {
  return topK + Math.max(Math.ceil(topK / 2), 32);
}

/**
 * The best `topK` of a fixed list of `candidates` by exact cosine against `query`, best first (ties by id).
 * Candidates whose values are unknown (gone since the scan) are skipped.
 */
export function rescore<T extends { id: string }>(
  query: Float32Array,
  candidates: readonly T[],
  valuesOf: (candidate: T) => Float32Array | undefined,
  topK: number,
): (T & { score: number; values: Float32Array })[] {
  const queryNorm = norm(query);
  const top = new TopK<T & { score: number; values: Float32Array }>(topK);
  for (const candidate of candidates) {
    const values = valuesOf(candidate);
    if (values === undefined) continue;
    const score = cosineScore(query, queryNorm, values);
    if (top.admits(score)) top.push({ ...candidate, score, values });
  }
  return top.items;
}
