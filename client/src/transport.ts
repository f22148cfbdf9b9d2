// Sends one call with bearer auth, a timeout per attempt and the retry budgets: 429/503 answers
// (after their Retry-After, seconds or an HTTP date, or exponential backoff with full jitter), and
// for idempotent calls also 500/502/504 and lost connections. Uses only fetch, AbortSignal, URL
// and timers, so it runs in Workers, browsers and Node alike.
import { ApiError, describeFailure, describeNetworkFailure, parseProblem } from "./errors.ts";

export const DEFAULT_BASE_URL = "http://localhost:8787";

/** The fetch the client calls: the global one, or another (a Worker's own, a test's fake). */
export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export type RetryNotice = { attempt: number; delayMs: number; reason: string };

export type ClientOptions = {
  baseUrl?: string;
  apiKey?: string;
  /** Each attempt's limit, body included; default 30 s. */
  timeoutMs?: number;
  /** Attempts per call for failures (5xx, network, 429/503 without Retry-After); default 5. */
  maxAttempts?: number;
  /** Waits per call the service asked for with Retry-After on 429/503; default 30. */
  maxRateLimitWaits?: number;
  /** A Retry-After longer than this fails the call at once; default 5 minutes. */
  maxRetryAfterMs?: number;
  /** Backoff before retry n (from 0) is random in [0, min(maxDelayMs, baseDelayMs * 2^n)). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  fetch?: FetchFn;
  sleep?: Sleep;
  random?: () => number;
  onRetry?: (notice: RetryNotice) => void;
};

export type CallOptions = {
  /** Aborts the call, retry waits included; the call rejects with the signal's reason. */
  signal?: AbortSignal;
  timeoutMs?: number;
  maxAttempts?: number;
  /** Send no Authorization header (public endpoints such as /readyz). */
  anonymous?: boolean;
  /** Whether a lost connection or a 5xx may be retried; default: GET, PUT, DELETE and HEAD are. */
  idempotent?: boolean;
};

/** A success answer with how it was reached. */
export type Answer = {
  data: unknown;
  status: number;
  headers: Headers;
  attempts: number;
  /** Duration of the attempt that answered, retry waits excluded. */
  lastAttemptMs: number;
};

const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "PUT", "DELETE"]);
const TRANSIENT_STATUSES = new Set([500, 502, 504]);

const now = () => performance.now();

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export const defaultSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** Parses a Retry-After header (delta-seconds or an HTTP date, RFC 9110 10.2.3) into milliseconds. */
export function retryAfterMs(value: string | null, at: number = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - at);
}

/** A request body sent as the bytes given under their own content type (a PDF, a Word file). */
export class FileBody {
  readonly data: Uint8Array<ArrayBuffer>;
  readonly contentType: string;

  constructor(data: Uint8Array<ArrayBuffer>, contentType: string) {
    this.data = data;
    this.contentType = contentType;
  }
}

export class Transport {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  // Failures and explicit "come back later" answers (429/503 with Retry-After) have separate
  // budgets: a rate-limited bulk run waits patiently, a broken server fails fast.
  readonly maxAttempts: number;
  readonly maxRateLimitWaits: number;
  readonly maxRetryAfterMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly doFetch: FetchFn;
  readonly sleep: Sleep;
  readonly random: () => number;
  readonly onRetry: (notice: RetryNotice) => void;
  readonly apiKey: string | undefined;

  constructor(options: ClientOptions) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.maxRateLimitWaits = options.maxRateLimitWaits ?? 30;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 300_000;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 15_000;
    // Called unbound: a fetch kept as a method of this object would get the wrong `this`.
    this.doFetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.onRetry = options.onRetry ?? (() => {});
    this.apiKey = options.apiKey;
  }

  /** Full jitter: uniformly random below the exponential ceiling. @param retry 0 for the first retry */
  backoff(retry: number) {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** retry);
    return Math.round(this.random() * ceiling);
  }

  headers(hasBody: boolean, options: CallOptions) {
    const headers: Record<string, string> = { accept: "application/json, application/problem+json" };
    if (this.apiKey && !options.anonymous) headers.authorization = `Bearer ${this.apiKey}`;
    if (hasBody) headers["content-type"] = "application/json";
    return headers;
  }

  /** @param body JSON to send, or a FileBody sent as its bytes */
  async send(
    method: string,
    path: string,
    body: unknown,
    options: CallOptions = {},
    read: "json" | "text" = "json",
  ): Promise<Answer> {
    const call = `${method} ${path}`;
    const url = `${this.baseUrl}${path}`;
    const payload =
      body instanceof FileBody ? body.data : body === undefined ? undefined : JSON.stringify(body);
    const headers = this.headers(payload !== undefined, options);
    if (body instanceof FileBody) headers["content-type"] = body.contentType;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const maxAttempts = Math.max(1, options.maxAttempts ?? this.maxAttempts);
    const idempotent = options.idempotent ?? IDEMPOTENT_METHODS.has(method);
    const pause = async (notice: RetryNotice) => {
      this.onRetry(notice);
      await this.sleep(notice.delayMs, options.signal);
    };
    let retries = 0;
    let waits = 0;
    for (let attempt = 1; ; attempt++) {
      options.signal?.throwIfAborted();
      const started = now();
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      let response: Response;
      let text: string;
      try {
        response = await this.doFetch(url, { method, headers, body: payload, signal });
        // Inside the try: the timeout also covers the body, and a connection lost mid-body is retried.
        text = await response.text();
      } catch (err) {
        // The caller's own abort is not a failure to retry or describe: it ends the call as asked.
        if (options.signal?.aborted) throw options.signal.reason;
        const timedOut = timeout.aborted;
        const reason = `${call}: ${describeNetworkFailure(timedOut ? timeout.reason : err, timeoutMs)}`;
        if (!idempotent || attempt >= maxAttempts) {
          const note = idempotent ? `${attempt} attempts` : "not retried: the call is not idempotent";
          throw new ApiError(`${reason} (${note}, ${url})`, {
            status: 0,
            retryable: true,
            timedOut,
            attempts: attempt,
            cause: err,
          });
        }
        await pause({ attempt, delayMs: this.backoff(retries++), reason });
        continue;
      }
      const lastAttemptMs = now() - started;
      const { status } = response;
      if (response.ok) {
        const data = read === "text" ? text : parseJson(call, status, text);
        return { data, status, headers: response.headers, attempts: attempt, lastAttemptMs };
      }
      const problem = parseProblem(text);
      const message = describeFailure(call, status, problem, response.statusText || "error");
      const fail = (note: string, retryable: boolean) =>
        new ApiError(`${message}${note}`, { status, retryable, problem, attempts: attempt });
      const refused = status === 429 || status === 503;
      const told = refused ? retryAfterMs(response.headers.get("retry-after")) : undefined;
      if (told !== undefined) {
        if (told > this.maxRetryAfterMs || waits >= this.maxRateLimitWaits) {
          throw fail(`; gave up after ${attempt} attempts (Retry-After ${told / 1000} s)`, true);
        }
        waits++;
        await pause({ attempt, delayMs: told, reason: `${message} (Retry-After ${told / 1000} s)` });
        continue;
      }
      // A 429/503 refused the call, so any call may be repeated; other 5xx only idempotent ones.
      if (refused || (idempotent && TRANSIENT_STATUSES.has(status))) {
        if (attempt >= maxAttempts) throw fail(` (${attempt} attempts)`, true);
        await pause({ attempt, delayMs: this.backoff(retries++), reason: message });
        continue;
      }
      throw fail("", status >= 500);
    }
  }
}

/** A 2xx body: JSON, or null when empty. */
function parseJson(call: string, status: number, text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(`${call} returned ${status} with a body that is not JSON`, {
      status,
      retryable: false,
      cause: err,
    });
  }
}
