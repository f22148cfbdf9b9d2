// The isolate side of the circuit breakers. Each isolate keeps the last known state per
// dependency (refreshed in the background every few seconds) and counts outcomes, flushed to the
// breaker object in batches through `defer` (ctx.waitUntil): a search never waits on the object.
import { AppError, isRetryable } from "../errors";
import type { Dependency } from "./faults";

export type BreakerState = "closed" | "open" | "half-open";

export interface OutcomeCounts {
  ok: number;
  fail: number;
}

export interface BreakerSnapshot {
  state: BreakerState;
  /** When an open breaker lets probes through again (ms), or null. */
  retryAt: number | null;
  window: OutcomeCounts;
  opens: number;
  transitions: number;
}

export interface BreakerSettings {
  windowMs: number;
  minimumVolume: number;
  failureRate: number;
  coolDownMs: number;
  halfOpenSuccesses: number;
}

export const BREAKER_SETTINGS: BreakerSettings = {
  windowMs: 30_000,
  minimumVolume: 20,
  failureRate: 0.5,
  coolDownMs: 15_000,
  halfOpenSuccesses: 3,
};

/** How the isolate talks to the breaker objects. */
export interface BreakerBackend {
  /** `name` is the dependency, or "<scope>:<dependency>" for an isolated set of breakers. */
  report(name: string, counts: OutcomeCounts): Promise<BreakerSnapshot>;
  snapshot(name: string): Promise<BreakerSnapshot>;
}

export interface BreakerClientOptions {
  /** How long a state read from the object is trusted. */
  stateTtlMs: number;
  /**
   * Flush outcomes this long after the last flush, or sooner once a batch holding a failure has
   * this many: failures reach the object quickly, while successes alone wait for the interval
   * (one report per dependency per second instead of one every few calls under load).
   */
  flushEvery: number;
  flushIntervalMs: number;
  /** Calls an isolate lets through per state period while half-open. */
  probesPerPeriod: number;
}

export const BREAKER_CLIENT: BreakerClientOptions = {
  stateTtlMs: 3000,
  flushEvery: 10,
  flushIntervalMs: 1000,
  probesPerPeriod: 2,
};

interface Local {
  snapshot: BreakerSnapshot | null;
  fetchedAt: number;
  refreshing: boolean;
  pending: OutcomeCounts;
  lastFlush: number;
  probes: number;
}

export class BreakerClient {
  private readonly local = new Map<string, Local>();

  constructor(
    private readonly options: BreakerClientOptions = BREAKER_CLIENT,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a call to `dep` may go ahead now; refreshes a stale state in the background. */
  allow(dep: string, backend: BreakerBackend, defer: (p: Promise<unknown>) => void): boolean {
    const l = this.entry(dep);
    const now = this.now();
    if (!l.refreshing && now - l.fetchedAt >= this.options.stateTtlMs) {
      l.refreshing = true;
      defer(
        backend
          .snapshot(dep)
          .then((s) => this.update(dep, s))
          .catch(() => undefined)
          .finally(() => {
            l.refreshing = false;
          }),
      );
    }
    const s = l.snapshot;
    if (!s || s.state === "closed") return true;
    const probing = s.state === "half-open" || (s.retryAt !== null && now >= s.retryAt);
    if (probing && l.probes < this.options.probesPerPeriod) {
      l.probes += 1;
      return true;
    }
    return false;
  }

  /** Counts an outcome; flushes the batch through `defer` when it is due. */
  record(dep: string, ok: boolean, backend: BreakerBackend, defer: (p: Promise<unknown>) => void): void {
    const l = this.entry(dep);
    if (ok) l.pending.ok += 1;
    else l.pending.fail += 1;
    const now = this.now();
    const size = l.pending.ok + l.pending.fail;
    // A half-open breaker decides on few calls: report probes at once.
    const probing = l.snapshot !== null && l.snapshot.state !== "closed";
    const failing = l.pending.fail > 0 && size >= this.options.flushEvery;
    if (failing || now - l.lastFlush >= this.options.flushIntervalMs || probing) {
      const counts = l.pending;
      l.pending = { ok: 0, fail: 0 };
      l.lastFlush = now;
      defer(
        backend
          .report(dep, counts)
          .then((s) => this.update(dep, s))
          .catch(() => undefined),
      );
    }
  }

  state(dep: string): BreakerSnapshot | null {
    return this.entry(dep).snapshot;
  }

  private update(dep: string, s: BreakerSnapshot): void {
    const l = this.entry(dep);
    l.snapshot = s;
    l.fetchedAt = this.now();
    l.probes = 0;
  }

  private entry(dep: string): Local {
    let l = this.local.get(dep);
    if (!l) {
      l = {
        snapshot: null,
        fetchedAt: 0,
        refreshing: false,
        pending: { ok: 0, fail: 0 },
        lastFlush: this.now(),
        probes: 0,
      };
      this.local.set(dep, l);
    }
    return l;
  }
}

// Isolate-lifetime: one client per isolate, shared by all requests.
export const isolateBreakers = new BreakerClient();

/** A failure that says nothing about the dependency's health (a 4xx) counts as a success. */
export function countsAsFailure(err: unknown): boolean {
  return isRetryable(err);
}

export function openCircuitError(dep: Dependency, snapshot: BreakerSnapshot | null): AppError {
  const retryAfter = snapshot?.retryAt ? Math.max(1, Math.ceil((snapshot.retryAt - Date.now()) / 1000)) : 5;
  return new AppError("unavailable", `${dep} is unavailable (circuit open)`, {
    retryable: true,
    extra: { dependency: dep, retryAfter },
  });
}
