// Retries with exponential backoff and full jitter inside a deadline budget. Only errors marked
// retryable are retried (429, 5xx, timeouts; never a 4xx), each attempt has a timeout, and no
// attempt starts that the remaining budget cannot cover.
import { AppError, isRetryable } from "../errors";

/** A request's time budget: each stage gets what is left. */
export class Deadline {
  private readonly at: number;
  constructor(budgetMs: number, now = Date.now()) {
    this.at = now + budgetMs;
  }
  remaining(now = Date.now()): number {
    return Math.max(0, this.at - now);
  }
  expired(now = Date.now()): boolean {
    return this.remaining(now) <= 0;
  }
}

export interface RetryOptions {
  /** Total attempts, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Timeout of one attempt (capped by the deadline's remaining time). */
  timeoutMs: number;
  deadline?: Deadline;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called before each retry, e.g. to log or count it. */
  onRetry?: (attempt: number, err: unknown, delayMs: number) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Full jitter: a uniform delay between 0 and the exponential ceiling (AWS architecture blog). */
export function jitteredDelay(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

/** Runs fn with a timeout; the signal lets fn abort its own work. */
export async function withTimeout<T>(
  ms: number,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new AppError("timeout", `${what} timed out after ${ms} ms`, { retryable: true }));
    }, ms);
  });
  try {
    return await Promise.race([fn(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function withRetry<T>(
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
  opts: RetryOptions,
): Promise<T> {
  const sleep = opts.sleep ?? defaultSleep;
  let lastError: unknown;
  for (let attempt = 0; attempt < opts.attempts; attempt++) {
    const left = opts.deadline ? opts.deadline.remaining() : Number.POSITIVE_INFINITY;
    if (left <= 0) break;
    try {
      return await withTimeout(Math.min(opts.timeoutMs, left), what, fn);
    } catch (err) {
      lastError = err;
      if (!isRetryable(err) || attempt === opts.attempts - 1) throw err;
      const delay = jitteredDelay(attempt, opts.baseDelayMs, opts.maxDelayMs, opts.random);
      if (opts.deadline && opts.deadline.remaining() <= delay) break;
      opts.onRetry?.(attempt + 1, err, delay);
      await sleep(delay);
    }
  }
  throw new AppError("timeout", `${what}: deadline exceeded`, { retryable: true, cause: lastError });
}
