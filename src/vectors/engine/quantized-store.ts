// One namespace's vectors as int8 codes in a single contiguous buffer (the kernel's memory), with
// their ids and metadata beside it in JS. It answers the first pass of a query: the rows whose
// quantized score is among the best `count`, for the caller to rescore with exact float32 values.
//
// It also computes the exact scores of rescoring, with the kernel's float dot product: the query and
// one candidate's float values are copied into scratch areas, and each row keeps its float norm.
//
// Memory layout: [query as i16: 4 KiB][scores of one chunk: 16 KiB][query as f32: 6 KiB]
// [candidate as f32: 6 KiB][rows...], each row `stride` codes, its f32 scale and its f64 norm,
// padded to a multiple of 16 bytes. Rows are appended at the end and a removal moves the last row
// into the gap, so the rows stay dense. WebAssembly memory grows in place and never shrinks; an
// emptied namespace's store is dropped whole by its owner.

import { compareIds, norm } from "../exact-search";
import type { VectorMetadata } from "../vector-index";
import type { ScanKernel } from "./kernel";
import { quantize, strideFor } from "./quantize";

const QUERY_OFFSET = 0;
const QUERY_BYTES = 4096; // strideFor(1536) i16 codes
/** Rows scored per kernel call; their scores must fit the scratch area. */
const CHUNK_ROWS = 4096;
const SCORES_OFFSET = QUERY_OFFSET + QUERY_BYTES;
/** Float vectors for exact scores: up to 1536 f32 values each. */
const FLOAT_BYTES = 6144;
const EXACT_QUERY_OFFSET = SCORES_OFFSET + CHUNK_ROWS * 4;
const EXACT_VALUES_OFFSET = EXACT_QUERY_OFFSET + FLOAT_BYTES;
const ROWS_OFFSET = EXACT_VALUES_OFFSET + FLOAT_BYTES;
const PAGE_BYTES = 65536;
/** Row tail: the f32 scale at 0, the f64 norm at 8; 16 bytes keep every row 16-byte aligned. */
const ROW_TAIL_BYTES = 16;
const NORM_AT = 8;

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
  readonly rowBytes: number;
  /** Elements the float dot product runs over: the dimensions, rounded up to a multiple of 4. */
  private readonly dotCount: number;
  private view: { floats: Float32Array; doubles: Float64Array } | undefined;
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
    if (this.stride * 2 > QUERY_BYTES || dimensions * 4 > FLOAT_BYTES)
      throw new Error(`${dimensions} dimensions exceed the kernel's query area`);
    // The float areas past `dimensions` stay zero: they add nothing to a dot product.
    this.dotCount = Math.ceil(dimensions / 4) * 4;
    this.rowBytes = this.stride + ROW_TAIL_BYTES;
    this.reserve(0);
  }

  get size(): number {
    return this.ids.length;
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
    const offset = ROWS_OFFSET + row * this.rowBytes;
    const buffer = this.kernel.memory.buffer;
    const scale = quantize(values, new Int8Array(buffer, offset, this.stride));
    new Float32Array(buffer, offset + this.stride, 1)[0] = scale;
    new Float64Array(buffer, offset + this.stride + NORM_AT, 1)[0] = norm(values);
    this.metadata[row] = metadata;
  }

  /** Sets the query of the exact scores that follow (exactScore); `query` has the store's dimensions. */
  exactQuery(query: Float32Array): void {
    this.views().floats.set(query, EXACT_QUERY_OFFSET >> 2);
  }

  /**
   * Cosine of `values` (the float values of `row`) with the query given to exactQuery, whose norm is
   * `queryNorm`: bit-identical to exact search's score for them (cosineScore).
   */
  exactScore(row: number, values: Float32Array, queryNorm: number): number {
    const { floats, doubles } = this.views();
    floats.set(values, EXACT_VALUES_OFFSET >> 2);
    const rowNorm = doubles[(ROWS_OFFSET + row * this.rowBytes + this.stride + NORM_AT) >> 3] ?? 0;
    const denominator = queryNorm * rowNorm;
    if (denominator === 0) return 0;
    return this.kernel.dot(EXACT_QUERY_OFFSET, EXACT_VALUES_OFFSET, this.dotCount) / denominator;
  }

  /**
   * Views of the whole memory, made again only when it has grown: growing detaches the old
   * buffer, whose views then have length 0.
   */
  private views(): { floats: Float32Array; doubles: Float64Array } {
    if (this.view === undefined || this.view.floats.length === 0) {
      const buffer = this.kernel.memory.buffer;
      this.view = { floats: new Float32Array(buffer), doubles: new Float64Array(buffer) };
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
      const bytes = new Uint8Array(this.kernel.memory.buffer);
      const from = ROWS_OFFSET + last * this.rowBytes;
      bytes.copyWithin(ROWS_OFFSET + row * this.rowBytes, from, from + this.rowBytes);
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
    const queryScale = quantize(query, new Int16Array(this.kernel.memory.buffer, QUERY_OFFSET, this.stride));
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

  /** The quantized score of every row against the query in the kernel's memory, in a reused buffer. */
  private scoreAll(): Float32Array {
    const n = this.ids.length;
    if (this.scores.length < n) {
      const size = Math.max(n, this.scores.length + (this.scores.length >> 3));
      this.scores = new Float32Array(size);
      this.selectScratch = new Float32Array(size);
      this.pool = new Int32Array(size);
      this.poolScores = new Float32Array(size);
    }
    const { memory, scan } = this.kernel;
    for (let start = 0; start < n; start += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, n - start);
      scan(
        QUERY_OFFSET,
        ROWS_OFFSET + start * this.rowBytes,
        this.rowBytes,
        this.stride,
        rows,
        SCORES_OFFSET,
      );
      this.scores.set(new Float32Array(memory.buffer, SCORES_OFFSET, rows), start);
    }
    return this.scores;
  }

  /** Quantized scores of every row (for tests and diagnostics). */
  approximateScores(query: Float32Array): Float32Array {
    quantize(query, new Int16Array(this.kernel.memory.buffer, QUERY_OFFSET, this.stride));
    return this.scoreAll().slice(0, this.ids.length);
  }

  /** Grows the memory to hold `rows` rows; growth is geometric (1/8) to keep grow calls rare. */
  private reserve(rows: number): void {
    const memory = this.kernel.memory;
    const needed = ROWS_OFFSET + rows * this.rowBytes;
    const have = memory.buffer.byteLength;
    if (needed <= have) return;
    const target = Math.max(needed, have + (have >> 3));
    memory.grow(Math.ceil((target - have) / PAGE_BYTES));
  }
}
