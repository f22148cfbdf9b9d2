// HTTP client of the edgesearch v1 API for the Node-side scripts: bearer auth, per-attempt
// timeouts, retries that honour Retry-After, and problem+json errors turned into ApiError.

export const DEFAULT_BASE_URL = "http://localhost:8787";

/**
 * @typedef {string | number | boolean} MetadataValue
 * @typedef {{ id: string, text: string, title?: string, contentType?: string,
 *   metadata?: Record<string, MetadataValue> }} DocumentInput
 * @typedef {{ namespace: string, documents: number, chunks: number, pending: number, failed: number,
 *   activeVersion: unknown }} NamespaceStats
 * @typedef {{ id: string, status: "queued" | "indexed" | "failed" | "deleted", chunks: number,
 *   version: unknown, error?: string }} DocumentStatus
 * @typedef {{ query: string, topK?: number, filter?: Record<string, unknown>,
 *   mode?: "hybrid" | "vector" | "keyword", rerank?: boolean, groupBy?: "document" | "chunk",
 *   includeText?: boolean, cache?: "default" | "bypass" }} SearchRequest
 * @typedef {{ id: string, chunkId: string, score: number, title?: string, text?: string,
 *   metadata: Record<string, MetadataValue> }} SearchResult
 * @typedef {{ results: SearchResult[], version: unknown, cache: "hit" | "miss", degraded: string[] }} SearchResponse
 * @typedef {{ attempt: number, delayMs: number, reason: string }} RetryNotice
 * @typedef {{ retries?: number, anonymous?: boolean }} CallOptions
 * @typedef {{ body: unknown, lastAttemptMs: number, attempts: number, headers: Headers }} Timed
 */

/** An API call that failed for good: a 4xx, or a transient failure that outlived its retries. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {{ status: number, retryable: boolean, problem?: Record<string, unknown>, cause?: unknown }} details
   */
  constructor(message, details) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "ApiError";
    /** HTTP status; 0 when no response arrived (connection refused, timeout). */
    this.status = details.status;
    this.retryable = details.retryable;
    this.problem = details.problem;
  }
}

/**
 * Parses a Retry-After header (delta-seconds or an HTTP date) into milliseconds.
 * @param {string | null} value
 * @param {number} now
 * @returns {number | undefined}
 */
export function retryAfterMs(value, now = Date.now()) {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * @param {string} method
 * @param {string} path
 * @param {number} status
 * @param {Record<string, unknown> | undefined} problem
 * @param {string} fallback
 */
function describeFailure(method, path, status, problem, fallback) {
  const title = typeof problem?.title === "string" ? problem.title : fallback;
  const detail = typeof problem?.detail === "string" && problem.detail !== title ? `: ${problem.detail}` : "";
  const requestId = typeof problem?.requestId === "string" ? ` (requestId ${problem.requestId})` : "";
  return `${method} ${path} failed with ${status} ${title}${detail}${requestId}`;
}

/**
 * @param {string} text
 * @returns {Record<string, unknown> | undefined}
 */
function parseProblem(text) {
  try {
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) return parsed;
  } catch {
    // Not problem+json (a proxy's HTML error page, say): keep the start of it as the detail.
  }
  return text === "" ? undefined : { detail: text.slice(0, 300) };
}

/**
 * @param {{
 *   baseUrl?: string,
 *   apiKey?: string,
 *   timeoutMs?: number,
 *   maxRetries?: number,
 *   maxRateLimitWaits?: number,
 *   maxRetryAfterMs?: number,
 *   baseDelayMs?: number,
 *   maxDelayMs?: number,
 *   fetch?: typeof fetch,
 *   sleep?: (ms: number) => Promise<void>,
 *   random?: () => number,
 *   onRetry?: (notice: RetryNotice) => void,
 * }} [options]
 */
export function createClient(options = {}) {
  const baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 30_000;
  // Transient failures (5xx, network, timeouts) and explicit "come back later" answers (429/503
  // with Retry-After) have separate budgets: a rate-limited bulk run waits patiently, a broken
  // server fails fast.
  const maxRetries = options.maxRetries ?? 4;
  const maxRateLimitWaits = options.maxRateLimitWaits ?? 30;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 300_000;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 15_000;
  const doFetch = options.fetch ?? globalThis.fetch;
  const sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const onRetry = options.onRetry ?? (() => {});

  /** @type {Record<string, string>} */
  const baseHeaders = { accept: "application/json, application/problem+json" };
  if (options.apiKey) baseHeaders.authorization = `Bearer ${options.apiKey}`;

  /** @param {number} retry 0 for the first retry */
  const backoff = (retry) => {
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** retry);
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  };

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {CallOptions} [callOptions]
   * @returns {Promise<Timed>}
   */
  async function timedRequest(method, path, body, callOptions = {}) {
    const retryBudget = callOptions.retries ?? maxRetries;
    const url = `${baseUrl}${path}`;
    /** @type {Record<string, string>} */
    const headers = { ...baseHeaders };
    // Public endpoints answer anonymous callers too (readiness: its status alone).
    if (callOptions.anonymous) delete headers.authorization;
    let payload;
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let retries = 0;
    let waits = 0;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      /** @type {Response} */
      let response;
      /** @type {string} */
      let text;
      try {
        response = await doFetch(url, {
          method,
          headers,
          body: payload,
          signal: AbortSignal.timeout(timeoutMs),
        });
        // Inside the try: the timeout also covers the body, and a connection lost mid-body is retried.
        text = await response.text();
      } catch (err) {
        const timedOut = err instanceof Error && err.name === "TimeoutError";
        const reason = `${method} ${path}: ${
          timedOut
            ? `no response within ${timeoutMs} ms`
            : `${err instanceof Error ? err.message : String(err)}${describeCause(err)}`
        }`;
        if (retries >= retryBudget) {
          throw new ApiError(`${reason} (${attempt} attempts, ${url})`, {
            status: 0,
            retryable: true,
            cause: err,
          });
        }
        const delayMs = backoff(retries++);
        onRetry({ attempt, delayMs, reason });
        await sleep(delayMs);
        continue;
      }
      const lastAttemptMs = performance.now() - started;
      if (response.ok) {
        const headers = response.headers;
        if (text === "") return { body: null, lastAttemptMs, attempts: attempt, headers };
        try {
          return { body: JSON.parse(text), lastAttemptMs, attempts: attempt, headers };
        } catch (err) {
          throw new ApiError(`${method} ${path} returned ${response.status} with a body that is not JSON`, {
            status: response.status,
            retryable: false,
            cause: err,
          });
        }
      }
      const problem = parseProblem(text);
      const status = response.status;
      const message = describeFailure(method, path, status, problem, response.statusText || "error");
      const told =
        status === 429 || status === 503 ? retryAfterMs(response.headers.get("retry-after")) : undefined;
      if (told !== undefined) {
        if (told > maxRetryAfterMs || waits >= maxRateLimitWaits) {
          throw new ApiError(`${message}; gave up after ${attempt} attempts (Retry-After ${told / 1000} s)`, {
            status,
            retryable: true,
            problem,
          });
        }
        waits++;
        onRetry({ attempt, delayMs: told, reason: `${message} (Retry-After ${told / 1000} s)` });
        await sleep(told);
        continue;
      }
      if (status >= 500 || status === 429) {
        if (retries >= retryBudget) {
          throw new ApiError(`${message} (${attempt} attempts)`, { status, retryable: true, problem });
        }
        const delayMs = backoff(retries++);
        onRetry({ attempt, delayMs, reason: message });
        await sleep(delayMs);
        continue;
      }
      throw new ApiError(message, { status, retryable: false, problem });
    }
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {CallOptions} [callOptions]
   */
  async function request(method, path, body, callOptions) {
    return (await timedRequest(method, path, body, callOptions)).body;
  }

  /** @param {string} namespace */
  const nsPath = (namespace) => `/v1/namespaces/${encodeURIComponent(namespace)}`;
  /** @param {string} namespace @param {string} id */
  const docPath = (namespace, id) => `${nsPath(namespace)}/documents/${encodeURIComponent(id)}`;

  return {
    baseUrl,
    request,
    timedRequest,
    /** @param {CallOptions} [callOptions] */
    health: (callOptions) => request("GET", "/healthz", undefined, callOptions),
    /**
     * @param {string} namespace
     * @param {DocumentInput} doc
     * @returns {Promise<{ id: string, status: string }>}
     */
    putDocument: async (namespace, { id, ...rest }) =>
      /** @type {{ id: string, status: string }} */ (await request("PUT", docPath(namespace, id), rest)),
    /**
     * @param {string} namespace
     * @param {DocumentInput[]} documents
     * @returns {Promise<{ accepted: number, ids: string[] }>}
     */
    putDocuments: async (namespace, documents) =>
      /** @type {{ accepted: number, ids: string[] }} */ (
        await request("POST", `${nsPath(namespace)}/documents`, { documents })
      ),
    /**
     * Writes documents as R2 objects of the documents bucket (admin); notifications ingest them.
     * @param {string} namespace
     * @param {DocumentInput[]} documents
     * @returns {Promise<{ accepted: number, ids: string[] }>}
     */
    putObjects: async (namespace, documents) =>
      /** @type {{ accepted: number, ids: string[] }} */ (
        await request("POST", `${nsPath(namespace)}/objects`, { documents })
      ),
    /**
     * @param {string} namespace
     * @param {string} id
     * @returns {Promise<DocumentStatus>}
     */
    getDocument: async (namespace, id) =>
      /** @type {DocumentStatus} */ (await request("GET", docPath(namespace, id))),
    /** @param {string} namespace @param {string} id */
    deleteDocument: (namespace, id) => request("DELETE", docPath(namespace, id)),
    /** @param {string} namespace */
    deleteNamespace: (namespace) => request("DELETE", nsPath(namespace)),
    /**
     * @param {string} namespace
     * @returns {Promise<NamespaceStats>}
     */
    namespaceStats: async (namespace) => parseStats(await request("GET", nsPath(namespace))),
    /**
     * @param {string} namespace
     * @param {SearchRequest} body
     * @returns {Promise<SearchResponse>}
     */
    search: async (namespace, body) =>
      parseSearch(await request("POST", `${nsPath(namespace)}/search`, body)),
    /**
     * Search with the duration of the attempt that answered (retry waits excluded), the attempt
     * count and the response headers (X-Cache names the cache layer that answered).
     * @param {string} namespace
     * @param {SearchRequest} body
     * @returns {Promise<{ response: SearchResponse, lastAttemptMs: number, attempts: number, headers: Headers }>}
     */
    searchTimed: async (namespace, body) => {
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

/** @typedef {ReturnType<typeof createClient>} Client */

/** @param {unknown} err */
function describeCause(err) {
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error) {
    const code = "code" in cause && typeof cause.code === "string" ? cause.code : cause.message;
    return ` (${code})`;
  }
  return "";
}

/**
 * @param {unknown} body
 * @returns {NamespaceStats}
 */
function parseStats(body) {
  const stats = /** @type {Record<string, unknown>} */ (body ?? {});
  for (const field of ["documents", "chunks", "pending", "failed"]) {
    if (typeof stats[field] !== "number") {
      throw new ApiError(`namespace stats without a numeric "${field}": ${JSON.stringify(body)}`, {
        status: 200,
        retryable: false,
      });
    }
  }
  return /** @type {NamespaceStats} */ (stats);
}

/**
 * @param {unknown} body
 * @returns {SearchResponse}
 */
function parseSearch(body) {
  const res = /** @type {Record<string, unknown>} */ (body ?? {});
  if (!Array.isArray(res.results)) {
    throw new ApiError(`search response without a results array: ${JSON.stringify(body).slice(0, 200)}`, {
      status: 200,
      retryable: false,
    });
  }
  return /** @type {SearchResponse} */ ({
    ...res,
    degraded: Array.isArray(res.degraded) ? res.degraded : [],
  });
}

/**
 * Waits until the namespace has no queued documents and at least `expected` documents are indexed
 * or failed (a write is counted as pending from the moment it is accepted).
 * @param {Client} client
 * @param {string} namespace
 * @param {{ expected: number, timeoutMs: number, intervalMs?: number,
 *   onProgress?: (stats: NamespaceStats, elapsedMs: number) => void,
 *   sleep?: (ms: number) => Promise<void> }} options
 * @returns {Promise<NamespaceStats>}
 */
export async function waitForIndexing(client, namespace, options) {
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
 * @template T, R
 * @param {Iterable<T> | AsyncIterable<T>} items
 * @param {number} limit
 * @param {(item: T, index: number) => Promise<R>} fn
 * @returns {Promise<R[]>}
 */
export async function mapConcurrent(items, limit, fn) {
  const iterator =
    Symbol.asyncIterator in items
      ? items[Symbol.asyncIterator]()
      : /** @type {Iterable<T>} */ (items)[Symbol.iterator]();
  /** @type {R[]} */
  const results = [];
  let index = 0;
  let failed = false;
  /** @type {unknown} */
  let failure;
  /** @param {unknown} err */
  const fail = (err) => {
    if (!failed) {
      failed = true;
      failure = err;
    }
  };
  const worker = async () => {
    while (!failed) {
      /** @type {IteratorResult<T>} */
      let step;
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
