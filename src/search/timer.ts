// Stage times of a search, for Server-Timing and the metrics point. Each stage is timed by the
// timer that runs it; nothing else writes the times.
import type { SearchStage } from "../observe/metrics";

/** Milliseconds on a monotonic scale (performance.now()). */
export type Clock = () => number;

/**
 * performance.now(). In a Worker it advances only across I/O, which is what a search's stages
 * wait on (https://developers.cloudflare.com/workers/runtime-apis/performance/).
 */
export const monotonicClock: Clock = () => performance.now();

export type StageTimings = Partial<Record<SearchStage, number>>;

export interface Timer {
  /** Runs `fn` as stage `name`; its time is recorded whether it answers or throws. */
  stage<T>(name: SearchStage, fn: () => Promise<T>): Promise<T>;
  /** The same for synchronous work. */
  stageSync<T>(name: SearchStage, fn: () => T): T;
  /** Runs `fn` inside stage `name` without its time counting towards that stage. */
  excluding<T>(name: SearchStage, fn: () => Promise<T>): Promise<T>;
  /** Records the time from the timer's origin to now as stage `name`. */
  mark(name: SearchStage): void;
  /** Records times measured elsewhere (a nested search's stages). */
  add(timings: StageTimings): void;
  /** Milliseconds since the timer's origin. */
  elapsed(): number;
  /**
   * Every recorded stage, in the order the stages started. A stage run twice reports its last
   * run (a hydration retried from the vector index reports the retry).
   */
  timings(): StageTimings;
}

/** A timer whose times count from `origin` (default: now), e.g. when the request arrived. */
export function createTimer(clock: Clock, origin: number = clock()): Timer {
  const recorded = new Map<SearchStage, number>();
  const excluded = new Map<SearchStage, number>();
  const order: SearchStage[] = [];
  const record = (name: SearchStage, ms: number) => {
    if (!order.includes(name)) order.push(name);
    recorded.set(name, Math.max(0, ms));
  };
  const begin = (name: SearchStage) => {
    if (!order.includes(name)) order.push(name);
    const started = clock();
    const excludedBefore = excluded.get(name) ?? 0;
    return () => record(name, clock() - started - ((excluded.get(name) ?? 0) - excludedBefore));
  };
  return {
    async stage(name, fn) {
      const end = begin(name);
      try {
        return await fn();
      } finally {
        end();
      }
    },
    stageSync(name, fn) {
      const end = begin(name);
      try {
        return fn();
      } finally {
        end();
      }
    },
    async excluding(name, fn) {
      const started = clock();
      try {
        return await fn();
      } finally {
        excluded.set(name, (excluded.get(name) ?? 0) + (clock() - started));
      }
    },
    mark: (name) => record(name, clock() - origin),
    add(timings) {
      for (const name of Object.keys(timings) as SearchStage[]) {
        const ms = timings[name];
        if (ms !== undefined) record(name, ms);
      }
    },
    elapsed: () => clock() - origin,
    timings() {
      const out: StageTimings = {};
      for (const name of order) {
        const ms = recorded.get(name);
        if (ms !== undefined) out[name] = ms;
      }
      return out;
    },
  };
}

/** A Server-Timing header value: `name;dur=ms` per entry, in order, to 0.1 ms. */
export function serverTiming(timings: Readonly<Record<string, number>>): string {
  return Object.entries(timings)
    .map(([name, ms]) => `${name};dur=${ms.toFixed(1)}`)
    .join(", ");
}
