// One KV key written by one Durable Object, at most once per KV_SAME_KEY_WRITE_INTERVAL_MS however
// many callers ask (KV's one write per second per key, src/store/kv-limits.ts). Requests that
// arrive while a write waits for its turn share it; a request that arrives once a write has
// started gets the next one. The object is the key's only writer, so the pacing holds across
// every isolate and location. When the last write happened is kept in the object's storage, so a
// restarted object waits too.
import { KV_SAME_KEY_WRITE_INTERVAL_MS } from "../../src/store/kv-limits";

export interface WriteClock {
  /** When the key was last written (ms since the epoch); 0 when never. */
  get(): number;
  set(at: number): void;
}

export class PacedWrite {
  private requested = 0;
  private written = 0;
  private flushing: Promise<void> | null = null;

  constructor(
    /** Writes the key's current value (read when the write starts, so it covers every request). */
    private readonly write: () => Promise<void>,
    private readonly clock: WriteClock,
    private readonly intervalMs = KV_SAME_KEY_WRITE_INTERVAL_MS,
  ) {}

  /** Whether a request is still waiting for its write. */
  get pending(): boolean {
    return this.written < this.requested;
  }

  /**
   * Records a request without waiting for its write, which a later `request()` performs (the
   * object's alarm): until a write that starts after this call has finished, `pending` stays true.
   */
  note(): void {
    this.requested++;
  }

  /**
   * Resolves once a write that started after this call has finished; rejects when that write
   * failed. At most one write per interval, however many calls.
   */
  async request(): Promise<void> {
    const mine = ++this.requested;
    while (this.written < mine) {
      this.flushing ??= this.flush().finally(() => {
        this.flushing = null;
      });
      await this.flushing;
    }
  }

  private async flush(): Promise<void> {
    // The interval runs from the end of the last write, which is no earlier than when KV
    // received it, so two writes reach KV at least an interval apart.
    const wait = this.clock.get() + this.intervalMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const covers = this.requested;
    try {
      await this.write();
    } finally {
      this.clock.set(Date.now());
    }
    this.written = covers;
  }
}
