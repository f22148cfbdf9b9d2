// One namespace's vectors as int8 codes in a single contiguous buffer (the kernel's memory), with
// their ids and metadata beside it in JS. It answers the first pass of a query: the rows whose
// quantized score is among the best `count`, for the caller to rescore with exact float32 values.
//
// It also computes the exact scores of rescoring, with the kernel's float dot product: the query and
// one candidate's float values are copied into scratch areas, and each row keeps its float norm.
//
// Memory layout: [query's non-zero dimension pairs: 6 KiB][scores of one chunk: 16 KiB]
// [query as f32: 6 KiB][candidate as f32: 6 KiB][blocks...]. A block holds 32 rows: their codes
// dimension pair by dimension pair (kernel.wat), then their 32 f32 scales and 32 f64 norms. Rows
// are appended at the end and a removal moves the last row into the gap, so the rows stay dense.
// WebAssembly memory grows in place and never shrinks; an emptied namespace's store is dropped
// whole by its owner.

import { compareIds, norm } from "../exact-search";
import type { VectorMetadata } from "../vector-index";
import { BLOCK_ROWS, type ScanKernel } from "./kernel";
import { quantize, strideFor } from "./quantize";

const PAIRS_OFFSET = 0;
/** The query's non-zero pairs, 8 bytes each: up to strideFor(1536) / 2 of them. */
const PAIRS_BYTES = 6144;
/** Bytes of one dimension pair's codes in a block: 2 per row. */
const PAIR_BYTES = 2 * BLOCK_ROWS;
/** Rows scored per kernel call, a multiple of BLOCK_ROWS; their scores must fit the scratch area. */
const CHUNK_ROWS = 4096;
const SCORES_OFFSET = PAIRS_OFFSET + PAIRS_BYTES;
/** Float vectors for exact scores: up to 1536 f32 values each. */
const FLOAT_BYTES = 6144;
const EXACT_QUERY_OFFSET = SCORES_OFFSET + CHUNK_ROWS * 4;
const EXACT_VALUES_OFFSET = EXACT_QUERY_OFFSET + FLOAT_BYTES;
const BLOCKS_OFFSET = EXACT_VALUES_OFFSET + FLOAT_BYTES;
const PAGE_BYTES = 65536;
/**
 * Queries with at most this share of their dimension pairs non-zero are scanned over those pairs
 * only (kernel.wat's scanSparse), and with at most this share of their dimensions non-zero, their
 * exact scores read only those dimensions of each candidate. Over 10,000 x 768 rows not in the
 * CPU's caches, in Node: 34 pairs took 0.19 ms, 94 pairs 0.39 ms, 165 pairs 0.65 ms, and every
 * pair in order (kernel.wat's scan) 0.41 ms.
 */
const SPARSE_SHARE = 0.25;
/** Block tail: the rows' f32 scales, then their f64 norms. */
const TAIL_BYTES = BLOCK_ROWS * (4 + 8);

/** Rows whose k-th best score bounds the cut from below before the whole scan is searched. */
const PREFIX_ROWS = 4096;

/**
 * The k-th largest of the first `n` values of `values` (1 <= k <= n), by quickselect in place:
 * the values are reordered.
 */
function kthLargest(values: Float32Array, n: number, k: number): number {
  // The k-th largest is the (n - k)-th smallest (0-based) in ascending order.
  const target = n - k;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    // Median of three as the pivot, then Hoare's partition.
    const mid = (lo + hi) >> 1;
    const a = values[lo] ?? 0;
    const b = values[mid] ?? 0;
    const c = values[hi] ?? 0;
    const pivot = Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((values[i] ?? 0) < pivot) i++;
      while ((values[j] ?? 0) > pivot) j--;
      if (i <= j) {
        const t = values[i] ?? 0;
        values[i] = values[j] ?? 0;
        values[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return values[target] ?? 0;
}

/** A row picked by the int8 pass, with its estimated cosine similarity to the query. */
export interface ApproximateMatch {
  row: number;
  approx: number;
}

/**
 * The rows of one int8 pass, handed out best first in batches: `take(n)` gives the next n rows by
 * quantized score (ties by id, as exact search breaks them), in no particular order within the
 * batch, and `best()` the estimate of the best row left. It holds only the rows at or above a floor
 * under the limit-th best score, so each batch is a selection among those few, and rows that are
 * never asked for are never sorted.
 */
export class CandidateCursor {
  /** Rows [taken, size) of the pool are still to hand out. */
  private taken = 0;

  constructor(
    private readonly ids: readonly string[],
    private readonly rows: Int32Array,
    private readonly scores: Float32Array,
    private readonly scratch: Float32Array,
    private readonly size: number,
    /** How many rows may still be handed out. */
    private left: number,
    /** Turns a quantized score into an estimated cosine. */
    private readonly scale: number,
  ) {}

  /** The estimated cosine of the best row not handed out yet, or undefined when none is left. */
  best(): number | undefined {
    if (this.left === 0 || this.taken >= this.size) return undefined;
    const scores = this.scores;
    let best = Number.NEGATIVE_INFINITY;
    for (let i = this.taken; i < this.size; i++) {
      const score = scores[i] ?? 0;
      if (score > best) best = score;
    }
    return best * this.scale;
  }

  /** Hands the next (at most) `n` best rows to `into`, with their estimated cosine; returns how many. */
  take(n: number, into: (row: number, approx: number) => void): number {
    const start = this.taken;
    const end = this.size;
    const m = Math.min(n, this.left, end - start);
    if (m <= 0) return 0;
    const rows = this.rows;
    const scores = this.scores;
    let next = start + m;
    if (next < end) {
      // The m-th best score left; every row above it goes, and rows equal to it fill the rest by id.
      const scratch = this.scratch;
      scratch.set(scores.subarray(start, end));
      const threshold = kthLargest(scratch, end - start, m);
      next = start;
      for (let i = start; i < end; i++) {
        if ((scores[i] ?? 0) > threshold) this.swap(i, next++);
      }
      const need = start + m - next;
      if (need > 0) {
        let tied: number[] = [];
        for (let i = next; i < end; i++) if (scores[i] === threshold) tied.push(i);
        if (tied.length > need) {
          const ids = this.ids;
          tied.sort((a, b) => compareIds(ids[rows[a] ?? 0] ?? "", ids[rows[b] ?? 0] ?? ""));
          tied = tied.slice(0, need).sort((a, b) => a - b);
        }
        // Ascending positions, each at or after `next`: a swap never moves a row still to come.
        for (const i of tied) this.swap(i, next++);
      }
    }
    for (let i = start; i < next; i++) into(rows[i] ?? 0, (scores[i] ?? 0) * this.scale);
    this.taken = next;
    this.left -= next - start;
    return next - start;
  }

  private swap(i: number, j: number): void {
    if (i === j) return;
    const rows = this.rows;
    const scores = this.scores;
    const row = rows[i] ?? 0;
    const score = scores[i] ?? 0;
    rows[i] = rows[j] ?? 0;
    scores[i] = scores[j] ?? 0;
    rows[j] = row;
    scores[j] = score;
  }
}

export class QuantizedStore {
  readonly stride: number;
  /** Bytes of a block of BLOCK_ROWS rows: codes, scales, norms. */
  readonly blockBytes: number;
  /** Offset of the scales in a block; the norms follow them. */
  private readonly scalesAt: number;
  /** Elements the float dot product runs over: the dimensions, rounded up to a multiple of 4. */
  private readonly dotCount: number;
  private view:
    | { bytes: Int8Array; floats: Float32Array; doubles: Float64Array; words: Int32Array }
    | undefined;
  /** One vector's codes before they are spread over its block, and the query's. */
  private readonly rowCodes: Int8Array;
  private readonly queryCodes: Int16Array;
  /** The exact query's non-zero dimensions and values, and how many (-1: dense, scored by the kernel). */
  private readonly queryDims: Int32Array;
  private readonly queryValues: Float32Array;
  private queryNonZero = -1;
  /** Per-query scratch of candidates(): every row's score, the selection's working copy and rows. */
  private scores = new Float32Array(0);
  private selectScratch = new Float32Array(0);
  private pool = new Int32Array(0);
  private poolScores = new Float32Array(0);
  private readonly ids: string[] = [];
  private readonly metadata: (VectorMetadata | undefined)[] = [];
  private readonly rowOf = new Map<string, number>();

  constructor(
    readonly dimensions: number,
    private readonly kernel: ScanKernel,
  ) {
    this.stride = strideFor(dimensions);
    if ((this.stride / 2) * 8 > PAIRS_BYTES || dimensions * 4 > FLOAT_BYTES)
      throw new Error(`${dimensions} dimensions exceed the kernel's query area`);
    // The float areas past `dimensions` stay zero: they add nothing to a dot product.
    this.dotCount = Math.ceil(dimensions / 4) * 4;
    this.scalesAt = (this.stride / 2) * PAIR_BYTES;
    this.blockBytes = this.scalesAt + TAIL_BYTES;
    this.rowCodes = new Int8Array(this.stride);
    this.queryCodes = new Int16Array(this.stride);
    this.queryDims = new Int32Array(dimensions);
    this.queryValues = new Float32Array(dimensions);
    this.reserve(0);
  }

  get size(): number {
    return this.ids.length;
  }

  /** Buffer bytes per row: its codes, scale and norm. */
  get rowBytes(): number {
    return this.blockBytes / BLOCK_ROWS;
  }

  get kernelKind(): ScanKernel["kind"] {
    return this.kernel.kind;
  }

  /** Bytes of the contiguous buffer (codes, scales and scratch), as allocated. */
  get bufferBytes(): number {
    return this.kernel.memory.buffer.byteLength;
  }

  has(id: string): boolean {
    return this.rowOf.has(id);
  }

  rowOfId(id: string): number | undefined {
    return this.rowOf.get(id);
  }

  idAt(row: number): string {
    return this.ids[row] ?? "";
  }

  metadataAt(row: number): VectorMetadata | undefined {
    return this.metadata[row];
  }

  set(id: string, values: Float32Array, metadata: VectorMetadata | undefined): void {
    if (values.length !== this.dimensions) {
      throw new Error(`vector ${id} has ${values.length} dimensions, the store ${this.dimensions}`);
    }
    let row = this.rowOf.get(id);
    if (row === undefined) {
      row = this.ids.length;
      this.reserve(row + 1);
      this.ids.push(id);
      this.metadata.push(undefined);
      this.rowOf.set(id, row);
    }
    const codes = this.rowCodes;
    const scale = quantize(values, codes);
    const { bytes, floats, doubles } = this.views();
    const at = this.codesAt(row);
    for (let d = 0, p = at; d < this.stride; d += 2, p += PAIR_BYTES) {
      bytes[p] = codes[d] ?? 0;
      bytes[p + 1] = codes[d + 1] ?? 0;
    }
    floats[this.scaleAt(row) >> 2] = scale;
    doubles[this.normAt(row) >> 3] = norm(values);
    this.metadata[row] = metadata;
  }

  /** Byte offset of the block holding `row`. */
  private blockOf(row: number): number {
    return BLOCKS_OFFSET + Math.floor(row / BLOCK_ROWS) * this.blockBytes;
  }

  /** Byte offset of the codes of `row`'s first dimension pair; the next pairs are PAIR_BYTES apart. */
  private codesAt(row: number): number {
    return this.blockOf(row) + (row % BLOCK_ROWS) * 2;
  }

  private scaleAt(row: number): number {
    return this.blockOf(row) + this.scalesAt + (row % BLOCK_ROWS) * 4;
  }

  private normAt(row: number): number {
    return this.blockOf(row) + this.scalesAt + BLOCK_ROWS * 4 + (row % BLOCK_ROWS) * 8;
  }

  /** Sets the query of the exact scores that follow (exactScore); `query` has the store's dimensions. */
  exactQuery(query: Float32Array): void {
    this.views().floats.set(query, EXACT_QUERY_OFFSET >> 2);
    let count = 0;
    for (let d = 0; d < query.length; d++) {
      if (query[d] !== 0) {
        this.queryValues[count] = query[d] ?? 0;
        this.queryDims[count++] = d;
      }
    }
    this.queryNonZero = count <= query.length * SPARSE_SHARE ? count : -1;
  }

  /**
   * Cosine of `values` (the float values of `row`) with the query given to exactQuery, whose norm is
   * `queryNorm`: bit-identical to exact search's score for them (cosineScore). For a sparse query
   * only its non-zero dimensions are read: the others add +0 to dot()'s sums, which changes none.
   */
  exactScore(row: number, values: Float32Array, queryNorm: number): number {
    const { floats, doubles } = this.views();
    const denominator = queryNorm * (doubles[this.normAt(row) >> 3] ?? 0);
    if (denominator === 0) return 0;
    const count = this.queryNonZero;
    if (count < 0) {
      floats.set(values, EXACT_VALUES_OFFSET >> 2);
      return this.kernel.dot(EXACT_QUERY_OFFSET, EXACT_VALUES_OFFSET, this.dotCount) / denominator;
    }
    // dot()'s four sums (dimension d goes to sum d mod 4), each in ascending order of d.
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    const dims = this.queryDims;
    const q = this.queryValues;
    for (let k = 0; k < count; k++) {
      const d = dims[k] ?? 0;
      const product = (q[k] ?? 0) * (values[d] ?? 0);
      const lane = d & 3;
      if (lane === 0) s0 += product;
      else if (lane === 1) s1 += product;
      else if (lane === 2) s2 += product;
      else s3 += product;
    }
    return (s0 + s1 + (s2 + s3)) / denominator;
  }

  /**
   * Views of the whole memory, made again only when it has grown: growing detaches the old
   * buffer, whose views then have length 0.
   */
  private views(): { bytes: Int8Array; floats: Float32Array; doubles: Float64Array; words: Int32Array } {
    if (this.view === undefined || this.view.floats.length === 0) {
      const buffer = this.kernel.memory.buffer;
      this.view = {
        bytes: new Int8Array(buffer),
        floats: new Float32Array(buffer),
        doubles: new Float64Array(buffer),
        words: new Int32Array(buffer),
      };
    }
    return this.view;
  }

  /** Removes by moving the last row into the freed slot. */
  remove(id: string): boolean {
    const row = this.rowOf.get(id);
    if (row === undefined) return false;
    const last = this.ids.length - 1;
    if (row !== last) {
      const lastId = this.ids[last] ?? "";
      const { bytes, floats, doubles } = this.views();
      const from = this.codesAt(last);
      const to = this.codesAt(row);
      for (let p = 0; p < this.scalesAt; p += PAIR_BYTES) {
        bytes[to + p] = bytes[from + p] ?? 0;
        bytes[to + p + 1] = bytes[from + p + 1] ?? 0;
      }
      floats[this.scaleAt(row) >> 2] = floats[this.scaleAt(last) >> 2] ?? 0;
      doubles[this.normAt(row) >> 3] = doubles[this.normAt(last) >> 3] ?? 0;
      this.ids[row] = lastId;
      this.metadata[row] = this.metadata[last];
      this.rowOf.set(lastId, row);
    }
    this.ids.pop();
    this.metadata.pop();
    this.rowOf.delete(id);
    return true;
  }

  /** Rows whose metadata `accept` takes, as a mask, and how many. */
  select(accept: (metadata: VectorMetadata | undefined) => boolean): { mask: Uint8Array; count: number } {
    const mask = new Uint8Array(this.ids.length);
    let count = 0;
    for (let row = 0; row < this.ids.length; row++) {
      if (accept(this.metadata[row])) {
        mask[row] = 1;
        count++;
      }
    }
    return { mask, count };
  }

  /**
   * The `count` rows with the best quantized scores against `query`, best first, among the rows of
   * `mask` when given, with their estimated cosine. Equal scores rank by id, so a tie at the cut
   * keeps the rows exact search would.
   */
  candidates(query: Float32Array, count: number, mask?: Uint8Array): ApproximateMatch[] {
    const out: ApproximateMatch[] = [];
    this.cursor(query, count, mask).take(count, (row, approx) => {
      out.push({ row, approx });
    });
    const ids = this.ids;
    return out.sort((a, b) => b.approx - a.approx || compareIds(ids[a.row] ?? "", ids[b.row] ?? ""));
  }

  /**
   * The int8 pass of `query` over the rows of `mask` (all when absent), for handing out at most
   * `limit` rows best first in batches (see CandidateCursor). The cursor reads this store's scratch
   * buffers: it is valid until the store's next scan.
   */
  cursor(query: Float32Array, limit: number, mask?: Uint8Array): CandidateCursor {
    const n = this.ids.length;
    if (limit <= 0 || n === 0)
      return new CandidateCursor(this.ids, this.pool, this.poolScores, this.selectScratch, 0, 0, 0);
    const queryScale = quantize(query, this.queryCodes);
    const scores = this.scoreAll();
    let eligible = n;
    if (mask !== undefined) {
      for (let row = 0; row < n; row++) {
        if (mask[row] === 0) {
          scores[row] = Number.NEGATIVE_INFINITY;
          eligible--;
        }
      }
    }
    const k = Math.min(limit, eligible);
    // A floor under the k-th best score: the k-th best of a prefix holding k eligible rows (a
    // subset's k-th best is never above the whole's). Only rows at or above it can be among the
    // best k, so the cursor selects among them: a pass over all rows, then selections over few.
    const scratch = this.selectScratch;
    const prefix = Math.min(n, Math.max(PREFIX_ROWS, 8 * k));
    let floor = Number.NEGATIVE_INFINITY;
    let prefixEligible = 0;
    for (let row = 0; row < prefix; row++) {
      const score = scores[row] ?? 0;
      if (score > Number.NEGATIVE_INFINITY) scratch[prefixEligible++] = score;
    }
    if (k > 0 && prefixEligible >= k) floor = kthLargest(scratch, prefixEligible, k);
    const pool = this.pool;
    const poolScores = this.poolScores;
    let size = 0;
    for (let row = 0; row < n; row++) {
      const score = scores[row] ?? 0;
      if (score >= floor && score > Number.NEGATIVE_INFINITY) {
        pool[size] = row;
        poolScores[size] = score;
        size++;
      }
    }
    return new CandidateCursor(this.ids, pool, poolScores, scratch, size, k, queryScale);
  }

  /**
   * The quantized score of every row against the query's codes (queryCodes), in a reused buffer. A
   * query with few non-zero dimension pairs (the local embedder's short queries have a few dozen of
   * 384) is scanned pair by pair over just those; any other reads every pair, block by block.
   */
  private scoreAll(): Float32Array {
    const n = this.ids.length;
    if (this.scores.length < n) {
      const size = Math.max(n, this.scores.length + (this.scores.length >> 3));
      this.scores = new Float32Array(size);
      this.selectScratch = new Float32Array(size);
      this.pool = new Int32Array(size);
      this.poolScores = new Float32Array(size);
    }
    const { memory } = this.kernel;
    let listed = this.listPairs(true);
    const sparse = listed <= (this.stride / 2) * SPARSE_SHARE;
    if (!sparse) listed = this.listPairs(false);
    const scan = sparse ? this.kernel.scanSparse : this.kernel.scan;
    for (let start = 0; start < n; start += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, n - start);
      scan(
        PAIRS_OFFSET,
        listed,
        BLOCKS_OFFSET + (start / BLOCK_ROWS) * this.blockBytes,
        this.blockBytes,
        this.scalesAt,
        Math.ceil(rows / BLOCK_ROWS),
        SCORES_OFFSET,
      );
      this.scores.set(new Float32Array(memory.buffer, SCORES_OFFSET, rows), start);
    }
    return this.scores;
  }

  /**
   * Writes the query's dimension pairs (queryCodes) to the kernel's pair list, only the non-zero
   * ones when `nonZeroOnly`; returns how many.
   */
  private listPairs(nonZeroOnly: boolean): number {
    const words = this.views().words;
    const codes = this.queryCodes;
    let listed = 0;
    for (let d = 0; d < this.stride; d += 2) {
      const even = codes[d] ?? 0;
      const odd = codes[d + 1] ?? 0;
      if (nonZeroOnly && even === 0 && odd === 0) continue;
      words[(PAIRS_OFFSET >> 2) + 2 * listed] = (d / 2) * PAIR_BYTES;
      words[(PAIRS_OFFSET >> 2) + 2 * listed + 1] = (even & 0xffff) | (odd << 16);
      listed++;
    }
    return listed;
  }

  /** Quantized scores of every row (for tests and diagnostics). */
  approximateScores(query: Float32Array): Float32Array {
    quantize(query, this.queryCodes);
    return this.scoreAll().slice(0, this.ids.length);
  }

  /** Grows the memory to hold `rows` rows; growth is geometric (1/8) to keep grow calls rare. */
  private reserve(rows: number): void {
    const memory = this.kernel.memory;
    const needed = BLOCKS_OFFSET + Math.ceil(rows / BLOCK_ROWS) * this.blockBytes;
    const have = memory.buffer.byteLength;
    if (needed <= have) return;
    const target = Math.max(needed, have + (have >> 3));
    memory.grow(Math.ceil((target - have) / PAGE_BYTES));
  }
}
