// A query over one or more namespaces' quantized stores: the int8 pass picks candidates, which are
// rescored with their exact float32 values (fetched by the caller: from memory or SQLite in the index
// object) by the stores' kernels until no candidate left unscored could still enter the top K.

import { norm, TopK } from "../exact-search";
import type { VectorMetadata } from "../vector-index";
import type { QuantizedStore } from "./quantized-store";
import { candidateCount } from "./rescore";

export interface SearchSource {
  namespace: string;
  store: QuantizedStore;
}

export interface SearchHit {
  id: string;
  namespace: string;
  store: QuantizedStore;
  row: number;
  score: number;
  values: Float32Array;
}

interface Pending {
  id: string;
  namespace: string;
  store: QuantizedStore;
  row: number;
  /** Estimated cosine from the int8 pass; +Infinity for rows rescored without one. */
  approx: number;
}

/** How many more candidates than the first batch the int8 pass keeps in reserve. */
const RESERVE_FACTOR = 4;
/**
 * Batches after the first are this share of it. The search stops at the first batch boundary past
 * the point where no later candidate can enter, so small steps stop close to it: over the vectors
 * of the bench's 10k x 768 namespace (`npm run bench -- --scenarios scale`), a leg of 100 rescored
 * 439 candidates when each batch doubled, and 188 at the median (264 at most) in steps of a quarter.
 */
const STEP_DIVISOR = 4;
const MIN_STEP = 16;

/**
 * The best `topK` rows of `sources` by exact cosine against `query`, among those whose metadata
 * `accept` takes, best first (ties by id). `fetchValues` returns the float32 values of the ids asked.
 *
 * Candidates are rescored best estimate first, in batches. After each batch the largest gap seen
 * between an estimate and its exact score bounds the error of the rest: when the next estimate,
 * raised by twice that gap, is below the K-th exact score, no later candidate can enter and the
 * search stops. Near-duplicate vectors (scores closer than int8's ~1e-3) thus get more candidates
 * than well-spread ones, up to the reserve the scan kept.
 */
export function searchStores(
  query: Float32Array,
  topK: number,
  sources: readonly SearchSource[],
  accept: ((metadata: VectorMetadata | undefined) => boolean) | undefined,
  fetchValues: (ids: readonly string[]) => Map<string, Float32Array>,
): SearchHit[] {
  const batch = candidateCount(topK);
  const reserve = batch * RESERVE_FACTOR;
  const pending: Pending[] = [];
  for (const { namespace, store } of sources) {
    store.exactQuery(query);
    const add = (row: number, approx: number) => {
      pending.push({ id: store.idAt(row), namespace, store, row, approx });
    };
    if (accept === undefined) {
      if (store.size <= batch) for (let row = 0; row < store.size; row++) add(row, Number.POSITIVE_INFINITY);
      else for (const c of store.candidates(query, reserve)) add(c.row, c.approx);
      continue;
    }
    const { mask, count } = store.select(accept);
    // A selection that small is rescored whole: exact, and no scan needed.
    if (count <= batch) {
      for (let row = 0; row < mask.length; row++) if (mask[row] === 1) add(row, Number.POSITIVE_INFINITY);
    } else {
      for (const c of store.candidates(query, reserve, mask)) add(c.row, c.approx);
    }
  }
  // Stable: equal estimates keep each store's order, which already ranks them by id.
  pending.sort((a, b) => b.approx - a.approx);

  const queryNorm = norm(query);
  const top = new TopK<SearchHit>(topK);
  let maxError = 0;
  let measured = 0;
  let next = 0;
  const step = Math.max(MIN_STEP, Math.ceil(batch / STEP_DIVISOR));
  let size = batch;
  while (next < pending.length) {
    const slice = pending.slice(next, next + size);
    next += slice.length;
    const values = fetchValues(slice.map((c) => c.id));
    for (const c of slice) {
      const v = values.get(c.id);
      // Gone since the scan (a write applied in between): not a match any more.
      if (v === undefined) continue;
      const score = c.store.exactScore(c.row, v, queryNorm);
      if (Number.isFinite(c.approx)) {
        maxError = Math.max(maxError, Math.abs(score - c.approx));
        measured++;
      }
      if (top.admits(score)) {
        top.push({ id: c.id, namespace: c.namespace, store: c.store, row: c.row, score, values: v });
      }
    }
    const kth = top.items[topK - 1];
    const following = pending[next];
    if (following === undefined) break;
    // No estimate checked yet (only rows rescored whole so far): nothing bounds the error.
    if (kth !== undefined && measured > 0 && following.approx + 2 * maxError < kth.score) break;
    size = step;
  }
  return top.items;
}
