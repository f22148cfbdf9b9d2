// Exact cosine search over one namespace's vectors held in memory, used by the local index object.
// Rows live in fixed-size float32 blocks rather than one growing matrix: growing a single 60 MB
// array (20k x 768) would briefly need twice that, past the 128 MB isolate limit.

import type { VectorMetadata } from "./vector-index";

const BLOCK_ROWS = 512;

export interface ScoredRow {
  id: string;
  score: number;
  row: number;
}

/** Higher score first; equal scores by id, so results are stable across runs and backends. */
export function compareScored(a: { id: string; score: number }, b: { id: string; score: number }): number {
  if (a.score !== b.score) return b.score - a.score;
  return compareIds(a.id, b.id);
}

/** Ids in code-unit order: how every ranking here breaks ties between equal scores. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function norm(values: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    sum += v * v;
  }
  return Math.sqrt(sum);
}

/** Keeps the best `k` of a stream of scored rows, in order. */
export class TopK<T extends { id: string; score: number }> {
  readonly items: T[] = [];
  constructor(private readonly k: number) {}

  /** Whether a row with this score could still enter (lets callers skip work). */
  admits(score: number): boolean {
    const last = this.items[this.items.length - 1];
    return this.items.length < this.k || last === undefined || score >= last.score;
  }

  push(item: T): void {
    const items = this.items;
    if (items.length === this.k) {
      const last = items[items.length - 1];
      if (last === undefined || compareScored(item, last) >= 0) return;
      items.pop();
    }
    // After every item that ranks before it or equal (binary search: a rescoring pushes hundreds).
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const at = items[mid];
      if (at !== undefined && compareScored(at, item) <= 0) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, item);
  }
}

export class VectorBlockMatrix {
  private readonly blocks: Float32Array[] = [];
  private readonly ids: string[] = [];
  private readonly norms: number[] = [];
  private readonly metadata: (VectorMetadata | undefined)[] = [];
  private readonly rowOf = new Map<string, number>();

  constructor(readonly dimensions: number) {}

  get size(): number {
    return this.ids.length;
  }

  has(id: string): boolean {
    return this.rowOf.has(id);
  }

  set(id: string, values: Float32Array, metadata: VectorMetadata | undefined): void {
    if (values.length !== this.dimensions) {
      throw new Error(`vector ${id} has ${values.length} dimensions, the matrix ${this.dimensions}`);
    }
    let row = this.rowOf.get(id);
    if (row === undefined) {
      row = this.ids.length;
      if (row % BLOCK_ROWS === 0) this.blocks.push(new Float32Array(BLOCK_ROWS * this.dimensions));
      this.ids.push(id);
      this.norms.push(0);
      this.metadata.push(undefined);
      this.rowOf.set(id, row);
    }
    this.rowView(row).set(values);
    this.norms[row] = norm(values);
    this.metadata[row] = metadata;
  }

  /** Removes by moving the last row into the freed slot. */
  remove(id: string): boolean {
    const row = this.rowOf.get(id);
    if (row === undefined) return false;
    const last = this.ids.length - 1;
    if (row !== last) {
      const lastId = this.ids[last] ?? "";
      this.rowView(row).set(this.rowView(last));
      this.ids[row] = lastId;
      this.norms[row] = this.norms[last] ?? 0;
      this.metadata[row] = this.metadata[last];
      this.rowOf.set(lastId, row);
    }
    this.ids.pop();
    this.norms.pop();
    this.metadata.pop();
    this.rowOf.delete(id);
    if (this.ids.length % BLOCK_ROWS === 0) this.blocks.pop();
    return true;
  }

  values(row: number): Float32Array {
    return this.rowView(row).slice();
  }

  metadataAt(row: number): VectorMetadata | undefined {
    return this.metadata[row];
  }

  /**
   * Cosine similarity of every accepted row against `query`, keeping the best into `top`. A zero
   * vector on either side scores 0 rather than NaN.
   */
  search(
    query: Float32Array,
    top: TopK<ScoredRow>,
    accept?: (metadata: VectorMetadata | undefined) => boolean,
  ): void {
    const dims = this.dimensions;
    const queryNorm = norm(query);
    for (let row = 0; row < this.ids.length; row++) {
      if (accept !== undefined && !accept(this.metadata[row])) continue;
      const block = this.blocks[Math.floor(row / BLOCK_ROWS)];
      if (block === undefined) continue;
      const product = dot(query, 0, block, (row % BLOCK_ROWS) * dims, dims);
      const denominator = queryNorm * (this.norms[row] ?? 0);
      const score = denominator === 0 ? 0 : product / denominator;
      if (top.admits(score)) top.push({ id: this.ids[row] ?? "", score, row });
    }
  }

  private rowView(row: number): Float32Array {
    const block = this.blocks[Math.floor(row / BLOCK_ROWS)];
    if (block === undefined) throw new Error(`row ${row} is out of range`);
    const offset = (row % BLOCK_ROWS) * this.dimensions;
    return block.subarray(offset, offset + this.dimensions);
  }
}

/**
 * The dot product of `count` elements of `a` and `b` from the given offsets, in float64 with the
 * summation order of the WebAssembly kernel's dot (kernel.wat): four sums, sum i taking the
 * products at positions i mod 4, added as (s0 + s1) + (s2 + s3). Exact search and rescoring both
 * use this order, so a rescored candidate gets exactly the score exact search gives it.
 */
export function dot(
  a: Float32Array,
  aOffset: number,
  b: Float32Array,
  bOffset: number,
  count: number,
): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let d = 0;
  for (; d + 4 <= count; d += 4) {
    const i = aOffset + d;
    const j = bOffset + d;
    s0 += (a[i] ?? 0) * (b[j] ?? 0);
    s1 += (a[i + 1] ?? 0) * (b[j + 1] ?? 0);
    s2 += (a[i + 2] ?? 0) * (b[j + 2] ?? 0);
    s3 += (a[i + 3] ?? 0) * (b[j + 3] ?? 0);
  }
  if (d < count) s0 += (a[aOffset + d] ?? 0) * (b[bOffset + d] ?? 0);
  if (d + 1 < count) s1 += (a[aOffset + d + 1] ?? 0) * (b[bOffset + d + 1] ?? 0);
  if (d + 2 < count) s2 += (a[aOffset + d + 2] ?? 0) * (b[bOffset + d + 2] ?? 0);
  return s0 + s1 + (s2 + s3);
}

/**
 * Cosine similarity with the same arithmetic as VectorBlockMatrix.search (float32 inputs, float64
 * sums in the same order, the norm as norm() computes it), so a rescored candidate gets exactly
 * the score exact search gives it. A zero vector on either side scores 0.
 */
export function cosineScore(query: Float32Array, queryNorm: number, values: Float32Array): number {
  const denominator = queryNorm * norm(values);
  return denominator === 0 ? 0 : dot(query, 0, values, 0, query.length) / denominator;
}
