// A query over one or more namespaces' quantized stores: the int8 pass picks candidates, which are
// rescored with their exact float32 values (fetched by the caller: from memory or SQLite in the index
// object) by the stores' kernels until no candidate left unscored could still enter the top K.

import { compareIds, norm, TopK } from "../exact-search";
import type { VectorMetadata } from "../vector-index";
import type { CandidateCursor, QuantizedStore } from "./quantized-store";
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

interface Candidate {
  namespace: string;
  store: QuantizedStore;
  row: number;
  /** Estimated cosine from the int8 pass; +Infinity for rows rescored without one. */
  approx: number;
}

/** Candidates for rescoring, handed out best estimate first. */
interface Feed {
  /** Appends the next (at most) `n` candidates to `into`, in any order. */
  take(n: number, into: Candidate[]): void;
  /** The estimate of the best candidate not handed out yet, or undefined when none is left. */
  best(): number | undefined;
}

/** A fixed list, already ranked. */
function listFeed(list: Candidate[]): Feed {
  let next = 0;
  return {
    take(n, into) {
      const end = Math.min(list.length, next + n);
      for (; next < end; next++) {
        const c = list[next];
        if (c !== undefined) into.push(c);
      }
    },
    best: () => list[next]?.approx,
  };
}

/** One store's int8 pass, selected batch by batch. */
function cursorFeed(namespace: string, store: QuantizedStore, cursor: CandidateCursor): Feed {
  return {
    take(n, into) {
      cursor.take(n, (row, approx) => {
        into.push({ namespace, store, row, approx });
      });
    },
    best: () => cursor.best(),
  };
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
  const feeds: Feed[] = [];
  for (const { namespace, store } of sources) {
    store.exactQuery(query);
    const whole = (mask?: Uint8Array) => {
      const list: Candidate[] = [];
      for (let row = 0; row < store.size; row++) {
        if (mask === undefined || mask[row] === 1)
          list.push({ namespace, store, row, approx: Number.POSITIVE_INFINITY });
      }
      return listFeed(list);
    };
    if (accept === undefined) {
      feeds.push(store.size <= batch ? whole() : cursorFeed(namespace, store, store.cursor(query, reserve)));
      continue;
    }
    const { mask, count } = store.select(accept);
    // A selection that small is rescored whole: exact, and no scan needed.
    feeds.push(
      count <= batch ? whole(mask) : cursorFeed(namespace, store, store.cursor(query, reserve, mask)),
    );
  }
  const feed = feeds.length === 1 && feeds[0] !== undefined ? feeds[0] : merged(feeds, reserve);

  const queryNorm = norm(query);
  const top = new TopK<SearchHit>(topK);
  let maxError = 0;
  let measured = 0;
  const step = Math.max(MIN_STEP, Math.ceil(batch / STEP_DIVISOR));
  let size = batch;
  const slice: Candidate[] = [];
  for (;;) {
    slice.length = 0;
    feed.take(size, slice);
    if (slice.length === 0) break;
    const ids = slice.map((c) => c.store.idAt(c.row));
    const values = fetchValues(ids);
    slice.forEach((c, i) => {
      const id = ids[i] ?? "";
      const v = values.get(id);
      // Gone since the scan (a write applied in between): not a match any more.
      if (v === undefined) return;
      const score = c.store.exactScore(c.row, v, queryNorm);
      if (Number.isFinite(c.approx)) {
        maxError = Math.max(maxError, Math.abs(score - c.approx));
        measured++;
      }
      if (top.admits(score)) {
        top.push({ id, namespace: c.namespace, store: c.store, row: c.row, score, values: v });
      }
    });
    const kth = top.items[topK - 1];
    const following = feed.best();
    if (following === undefined) break;
    // No estimate checked yet (only rows rescored whole so far): nothing bounds the error.
    if (kth !== undefined && measured > 0 && following + 2 * maxError < kth.score) break;
    size = step;
  }
  return top.items;
}

/** Several stores' candidates as one ranking: each store's best `reserve`, by estimate, then by id. */
function merged(feeds: Feed[], reserve: number): Feed {
  const all: Candidate[] = [];
  for (const feed of feeds) feed.take(reserve, all);
  const ranked = all
    .map((c) => ({ c, id: c.store.idAt(c.row) }))
    .sort((a, b) => b.c.approx - a.c.approx || compareIds(a.id, b.id));
  return listFeed(ranked.map((r) => r.c));
}
