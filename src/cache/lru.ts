// A least-recently-used map bounded by bytes (and entries), with per-entry expiry. Used for the
// isolate-level result cache, where a few large answers must not crowd out memory.

interface Entry<V> {
  value: V;
  bytes: number;
  expiresAt: number;
}

export class ByteLru<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private used = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxEntries = 10_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.used;
  }

  get(key: string, now = Date.now()): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.remove(key, entry);
      return undefined;
    }
    // Re-insert: Map iteration order is insertion order, so the oldest entry comes first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Stores the value unless it alone exceeds the budget; evicts least recently used entries. */
  set(key: string, value: V, bytes: number, ttlMs: number, now = Date.now()): boolean {
    const existing = this.entries.get(key);
    if (existing) this.remove(key, existing);
    if (bytes > this.maxBytes || ttlMs <= 0) return false;
    this.entries.set(key, { value, bytes, expiresAt: now + ttlMs });
    this.used += bytes;
    for (const [oldKey, oldEntry] of this.entries) {
      if (this.used <= this.maxBytes && this.entries.size <= this.maxEntries) break;
      this.remove(oldKey, oldEntry);
    }
    return true;
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry) this.remove(key, entry);
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }

  private remove(key: string, entry: Entry<V>): void {
    this.entries.delete(key);
    this.used -= entry.bytes;
  }
}
