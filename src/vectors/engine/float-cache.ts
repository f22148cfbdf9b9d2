// Float32 values kept in an index object's memory for exact rescoring, up to a byte budget; values
// beyond it stay in SQLite only. Rescoring a query's candidates from SQLite costs a row read per
// candidate (a hybrid search's leg rescoring 150 of them spent most of its time there), while the
// int8 codes the scan needs are a fifth of the floats' size: small indexes keep both in memory,
// large ones the codes and as many floats as the budget allows.
//
// Entries are never stale: the owner offers every value it writes and deletes every id it removes,
// and clears the cache with its stores when a write rolls back.

export class FloatCache {
  private readonly values = new Map<string, Float32Array>();
  private used = 0;

  constructor(readonly budgetBytes: number) {}

  get(id: string): Float32Array | undefined {
    return this.values.get(id);
  }

  /** Keeps `values` for `id` when the budget allows; a previous entry for `id` goes either way. */
  offer(id: string, values: Float32Array): void {
    this.delete(id);
    if (this.used + values.byteLength > this.budgetBytes) return;
    this.values.set(id, values);
    this.used += values.byteLength;
  }

  delete(id: string): void {
    const previous = this.values.get(id);
    if (previous === undefined) return;
    this.values.delete(id);
    this.used -= previous.byteLength;
  }

  clear(): void {
    this.values.clear();
    this.used = 0;
  }

  get size(): number {
    return this.values.size;
  }

  /** Bytes of float values held. */
  get bytes(): number {
    return this.used;
  }
}
