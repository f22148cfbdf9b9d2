// HTTP client of the edgesearch v1 API for the Node-side scripts: bearer auth, per-attempt
// timeouts, retries that honour Retry-After, and problem+json errors turned into ApiError.

export const DEFAULT_BASE_URL = "http://localhost:8787";

export type MetadataValue = string | number | boolean;

export type DocumentInput = {
  id: string;
  text: string;
  title?: string;
  contentType?: string;
  metadata?: Record<string, MetadataValue>;
};

export type NamespaceStats = {
  namespace: string;
  documents: number;
  chunks: number;
  pending: number;
  failed: number;
  activeVersion: unknown;
};

export type DocumentStatus = {
  id: string;
  status: "queued" | "indexed" | "failed" | "deleted";
  chunks: number;
  version: unknown;
  error?: string;
};

export type SearchRequest = {
  query: string;
  topK?: number;
  filter?: Record<string, unknown>;
  mode?: "hybrid" | "vector" | "keyword";
  rerank?: boolean;
  groupBy?: "document" | "chunk";
  includeText?: boolean;
  cache?: "default" | "bypass";
};

export type SearchResult = {
  id: string;
  chunkId: string;
  score: number;
  title?: string;
  text?: string;
  metadata: Record<string, MetadataValue>;
};

export type SearchResponse = {
  results: SearchResult[];
  version: unknown;
  cache: "hit" | "miss";
  degraded: string[];
};

export type RetryNotice = { attempt: number; delayMs: number; reason: string };

export type CallOptions = { retries?: number; anonymous?: boolean };

/** The fetch the client calls: the global one, or a Worker's own in the tests. */
export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export type Timed = { body: unknown; lastAttemptMs: number; attempts: number; headers: Headers };

/** An API call that failed for good: a 4xx, or a transient failure that outlived its retries. */
export class ApiError extends Error {
  /** HTTP status; 0 when no response arrived (connection refused, timeout). */
  readonly status: number;
  readonly retryable: boolean;
  readonly problem: Record<string, unknown> | undefined;

  constructor(
    message: string,
    details: { status: number; retryable: boolean; problem?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "ApiError";
    this.status = details.status;
    this.retryable = details.retryable;
    this.problem = details.problem;
  }
}

/**
 * Parses a Retry-After header (delta-seconds or an HTTP date) into milliseconds.
 */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describeFailure(
  method: string,
  path: string,
  status: number,
  problem: Record<string, unknown> | undefined,
  fallback: string,
) {
  const title = typeof problem?.title === "string" ? problem.title : fallback;
  const detail = typeof problem?.detail === "string" && problem.detail !== title ? `: ${problem.detail}` : "";
  const requestId = typeof problem?.requestId === "string" ? ` (requestId ${problem.requestId})` : "";
  return `${method} ${path} failed with ${status} ${title}${detail}${requestId}`;
}

function parseProblem(text: string): Record<string, unknown> | undefined {
  try {
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) return parsed;
  } catch {
    // Not problem+json (a proxy's HTML error page, say): keep the start of it as the detail.
  }
  return text === "" ? undefined : { detail: text.slice(0, 300) };
}

export type ClientOptions = {
  baseUrl?: string;
  apiKey?: string;
  timeoutMs?: number;
  maxRetries?: number;
  maxRateLimitWaits?: number;
  maxRetryAfterMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  fetch?: FetchFn;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onRetry?: (notice: RetryNotice) => void;
};

/** Requests with auth, per-attempt timeouts and the retry budgets; answers are parsed JSON. */
class Transport {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  // Transient failures (5xx, network, timeouts) and explicit "come back later" answers (429/503
  // with Retry-After) have separate budgets: a rate-limited bulk run waits patiently, a broken
  // server fails fast.
  readonly maxRetries: number;
  readonly maxRateLimitWaits: number;
  readonly maxRetryAfterMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly doFetch: FetchFn;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  readonly onRetry: (notice: RetryNotice) => void;
  readonly baseHeaders: Record<string, string>;

  constructor(options: ClientOptions) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetries = options.maxRetries ?? 4;
    this.maxRateLimitWaits = options.maxRateLimitWaits ?? 30;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 300_000;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 15_000;
    this.doFetch = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.onRetry = options.onRetry ?? (() => {});
    this.baseHeaders = { accept: "application/json, application/problem+json" };
    if (options.apiKey) this.baseHeaders.authorization = `Bearer ${options.apiKey}`;
  }

  /** @param retry 0 for the first retry */
  backoff(retry: number) {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** retry);
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  async pause(notice: RetryNotice) {
    this.onRetry(notice);
    await this.sleep(notice.delayMs);
  }

  requestParts(body: unknown, callOptions: CallOptions) {
    const headers: Record<string, string> = { ...this.baseHeaders };
    // Public endpoints answer anonymous callers too (readiness: its status alone).
    if (callOptions.anonymous) delete headers.authorization;
    if (body === undefined) return { headers, payload: undefined };
    headers["content-type"] = "application/json";
    return { headers, payload: JSON.stringify(body) };
  }

  async timedRequest(
    method: string,
    path: string,
    body?: unknown,
    callOptions: CallOptions = {},
  ): Promise<Timed> {
    const retryBudget = callOptions.retries ?? this.maxRetries;
    const url = `${this.baseUrl}${path}`;
    const { headers, payload } = this.requestParts(body, callOptions);
    let retries = 0;
    let waits = 0;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      let response: Response;
      let text: string;
      try {
        response = await this.doFetch(url, {
          method,
          headers,
          body: payload,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        // Inside the try: the timeout also covers the body, and a connection lost mid-body is retried.
        text = await response.text();
      } catch (err) {
        const reason = `${method} ${path}: ${describeNetworkFailure(err, this.timeoutMs)}`;
        if (retries >= retryBudget) {
          throw new ApiError(`${reason} (${attempt} attempts, ${url})`, {
            status: 0,
            retryable: true,
            cause: err,
          });
        }
        const delayMs = this.backoff(retries++);
        await this.pause({ attempt, delayMs, reason });
        continue;
      }
      const lastAttemptMs = performance.now() - started;
      if (response.ok) {
        return {
          body: parseOkBody(method, path, response, text),
          lastAttemptMs,
          attempts: attempt,
          headers: response.headers,
        };
      }
      const problem = parseProblem(text);
      const status = response.status;
      const message = describeFailure(method, path, status, problem, response.statusText || "error");
      const told =
        status === 429 || status === 503 ? retryAfterMs(response.headers.get("retry-after")) : undefined;
      if (told !== undefined) {
        if (told > this.maxRetryAfterMs || waits >= this.maxRateLimitWaits) {
          throw new ApiError(`${message}; gave up after ${attempt} attempts (Retry-After ${told / 1000} s)`, {
            status,
            retryable: true,
            problem,
          });
        }
        waits++;
        await this.pause({ attempt, delayMs: told, reason: `${message} (Retry-After ${told / 1000} s)` });
        continue;
      }
      if (status >= 500 || status === 429) {
        if (retries >= retryBudget) {
          throw new ApiError(`${message} (${attempt} attempts)`, { status, retryable: true, problem });
        }
        const delayMs = this.backoff(retries++);
        await this.pause({ attempt, delayMs, reason: message });
        continue;
      }
      throw new ApiError(message, { status, retryable: false, problem });
    }
  }

  async request(method: string, path: string, body?: unknown, callOptions: CallOptions = {}) {
    return (await this.timedRequest(method, path, body, callOptions)).body;
  }
}

/** The client of the v1 API: one method per call the scripts make, over a Transport. */
export function createClient(options: ClientOptions = {}) {
  const transport = new Transport(options);
  const { baseUrl } = transport;
  const request = (method: string, path: string, body?: unknown, callOptions: CallOptions = {}) =>
    transport.request(method, path, body, callOptions);
  const timedRequest = (method: string, path: string, body?: unknown, callOptions: CallOptions = {}) =>
    transport.timedRequest(method, path, body, callOptions);
  const nsPath = (namespace: string) => `/v1/namespaces/${encodeURIComponent(namespace)}`;

  const docPath = (namespace: string, id: string) =>
    `${nsPath(namespace)}/documents/${encodeURIComponent(id)}`;

  return {
    baseUrl,
    request,
    timedRequest,
    health: (callOptions: CallOptions = {}) => request("GET", "/healthz", undefined, callOptions),
    putDocument: async (
      namespace: string,
      { id, ...rest }: DocumentInput,
    ): Promise<{ id: string; status: string }> =>
      (await request("PUT", docPath(namespace, id), rest)) as { id: string; status: string },
    putDocuments: async (
      namespace: string,
      documents: DocumentInput[],
    ): Promise<{ accepted: number; ids: string[] }> =>
      (await request("POST", `${nsPath(namespace)}/documents`, { documents })) as {
        accepted: number;
        ids: string[];
      },
    /**
     * Writes documents as R2 objects of the documents bucket (admin); notifications ingest them.
     */
    putObjects: async (
      namespace: string,
      documents: DocumentInput[],
    ): Promise<{ accepted: number; ids: string[] }> =>
      (await request("POST", `${nsPath(namespace)}/objects`, { documents })) as {
        accepted: number;
        ids: string[];
      },
    getDocument: async (namespace: string, id: string): Promise<DocumentStatus> =>
      (await request("GET", docPath(namespace, id))) as DocumentStatus,

    deleteDocument: (namespace: string, id: string) => request("DELETE", docPath(namespace, id)),
    deleteNamespace: (namespace: string) => request("DELETE", nsPath(namespace)),
    namespaceStats: async (namespace: string): Promise<NamespaceStats> =>
      parseStats(await request("GET", nsPath(namespace))),
    search: async (namespace: string, body: SearchRequest): Promise<SearchResponse> =>
      parseSearch(await request("POST", `${nsPath(namespace)}/search`, body)),
    /**
     * Search with the duration of the attempt that answered (retry waits excluded), the attempt
     * count and the response headers (X-Cache names the cache layer that answered).
     */
    searchTimed: async (
      namespace: string,
      body: SearchRequest,
    ): Promise<{ response: SearchResponse; lastAttemptMs: number; attempts: number; headers: Headers }> => {
      const timed = await timedRequest("POST", `${nsPath(namespace)}/search`, body);
      return {
        response: parseSearch(timed.body),
        lastAttemptMs: timed.lastAttemptMs,
        attempts: timed.attempts,
        headers: timed.headers,
      };
    },
  };
}

export type Client = ReturnType<typeof createClient>;

/** Why an attempt got no response: its timeout, or the network error and its cause. */
function describeNetworkFailure(err: unknown, timeoutMs: number) {
  if (err instanceof Error && err.name === "TimeoutError") return `no response within ${timeoutMs} ms`;
  return `${err instanceof Error ? err.message : String(err)}${describeCause(err)}`;
}

/** A 2xx body: JSON, or null when empty. */
function parseOkBody(method: string, path: string, response: Response, text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(`${method} ${path} returned ${response.status} with a body that is not JSON`, {
      status: response.status,
      retryable: false,
      cause: err,
    });
  }
}

function describeCause(err: unknown) {
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error) {
    const code = "code" in cause && typeof cause.code === "string" ? cause.code : cause.message;
    return ` (${code})`;
  }
  return "";
}

function parseStats(body: unknown): NamespaceStats {
  const stats = (body ?? {}) as Record<string, unknown>;
  for (const field of ["documents", "chunks", "pending", "failed"]) {
    if (typeof stats[field] !== "number") {
      throw new ApiError(`namespace stats without a numeric "${field}": ${JSON.stringify(body)}`, {
        status: 200,
        retryable: false,
      });
    }
  }
  return stats as NamespaceStats;
}

function parseSearch(body: unknown): SearchResponse {
  const res = (body ?? {}) as Record<string, unknown>;
  if (!Array.isArray(res.results)) {
    throw new ApiError(`search response without a results array: ${JSON.stringify(body).slice(0, 200)}`, {
      status: 200,
      retryable: false,
    });
  }
  return {
    ...res,
    degraded: Array.isArray(res.degraded) ? res.degraded : [],
  } as SearchResponse;
}

/**
 * Waits until the namespace has no queued documents and at least `expected` documents are indexed
 * or failed (a write is counted as pending from the moment it is accepted).
 */
export async function waitForIndexing(
  client: Client,
  namespace: string,
  options: {
    expected: number;
    timeoutMs: number;
    intervalMs?: number;
    onProgress?: (stats: NamespaceStats, elapsedMs: number) => void;
    sleep?: (ms: number) => Promise<void>;
  },
): Promise<NamespaceStats> {
  const intervalMs = options.intervalMs ?? 1000;
  const sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const started = performance.now();
  for (;;) {
    const stats = await client.namespaceStats(namespace);
    const elapsedMs = performance.now() - started;
    options.onProgress?.(stats, elapsedMs);
    if (stats.pending === 0 && stats.documents + stats.failed >= options.expected) return stats;
    if (elapsedMs >= options.timeoutMs) {
      throw new ApiError(
        `namespace "${namespace}" still has ${stats.pending} pending documents after ${Math.round(elapsedMs / 1000)} s ` +
          `(${stats.documents} indexed, ${stats.failed} failed, ${options.expected} expected)`,
        { status: 0, retryable: true },
      );
    }
    await sleep(intervalMs);
  }
}

/**
 * Runs fn over the items of a (possibly async, possibly lazy) iterable with at most `limit` calls in
 * flight, returning the results in input order. The first failure stops new calls and is rethrown
 * once the calls in flight have settled.
 */
export async function mapConcurrent<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const iterator =
    Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]();
  const results: R[] = [];
  let index = 0;
  let failed = false;
  let failure: unknown;
  const fail = (err: unknown) => {
    if (!failed) {
      failed = true;
      failure = err;
    }
  };
  const worker = async () => {
    while (!failed) {
      let step: IteratorResult<T>;
      try {
        // Async generators queue concurrent next() calls, so workers can share one iterator.
        step = await iterator.next();
      } catch (err) {
        fail(err);
        return;
      }
      if (step.done || failed) return;
      const i = index++;
      try {
        results[i] = await fn(step.value, i);
      } catch (err) {
        fail(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failed) throw failure;
  return results;
}
