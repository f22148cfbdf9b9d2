// The load generator's HTTP clients. "http" (node:http with a keep-alive Agent, one socket per
// in-flight request) spends a fifth to a third of the client CPU per request that "fetch" (undici
// behind the global fetch) does on loopback, so it is the default; "fetch" stays for comparison.
import http from "node:http";

/**
 * @typedef {{ method: string, path: string, headers?: Record<string, string>, body?: string }} BenchRequest
 * @typedef {{ status: number, xCache: string | undefined, serverTiming: string | undefined,
 *   body: string }} BenchResponse
 * @typedef {{ send: (req: BenchRequest) => Promise<BenchResponse>, close: () => void }} Transport
 */

export const TRANSPORTS = /** @type {const} */ (["http", "fetch"]);

/**
 * @param {"http" | "fetch"} kind
 * @param {{ baseUrl: string, concurrency: number, timeoutMs: number }} options
 * @returns {Transport}
 */
export function createTransport(kind, options) {
  return kind === "fetch" ? fetchTransport(options) : httpTransport(options);
}

/**
 * @param {BenchRequest} req
 * @returns {Record<string, string | number>}
 */
function headersOf(req) {
  /** @type {Record<string, string | number>} */
  const headers = { ...req.headers };
  if (req.body !== undefined) {
    headers["content-type"] = "application/json";
    // A known length keeps the request out of chunked encoding.
    headers["content-length"] = Buffer.byteLength(req.body);
  }
  return headers;
}

/** @param {{ baseUrl: string, concurrency: number, timeoutMs: number }} options */
function httpTransport({ baseUrl, concurrency, timeoutMs }) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: concurrency,
    maxFreeSockets: concurrency,
    scheduling: "lifo",
  });
  const host = url.hostname;
  const port = Number(url.port || 80);
  /**
   * @param {BenchRequest} req
   * @returns {Promise<BenchResponse>}
   */
  const send = (req) =>
    new Promise((resolve, reject) => {
      const request = http.request(
        { host, port, method: req.method, path: req.path, headers: headersOf(req), agent },
        (res) => {
          /** @type {Buffer[]} */
          const chunks = [];
          res.on("data", (chunk) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const xCache = res.headers["x-cache"];
            const timing = res.headers["server-timing"];
            resolve({
              status: res.statusCode ?? 0,
              xCache: Array.isArray(xCache) ? xCache.join(",") : xCache,
              serverTiming: Array.isArray(timing) ? timing.join(", ") : timing,
              body: chunks.length === 1 ? (chunks[0]?.toString() ?? "") : Buffer.concat(chunks).toString(),
            });
          });
        },
      );
      request.setTimeout(timeoutMs, () => request.destroy(new Error(`no response within ${timeoutMs} ms`)));
      request.on("error", reject);
      request.end(req.body);
    });
  return { send, close: () => agent.destroy() };
}

/** @param {{ baseUrl: string, concurrency: number, timeoutMs: number }} options */
function fetchTransport({ baseUrl, timeoutMs }) {
  return {
    send: async (/** @type {BenchRequest} */ req) => {
      const res = await fetch(`${baseUrl}${req.path}`, {
        method: req.method,
        headers: /** @type {Record<string, string>} */ (
          Object.fromEntries(Object.entries(headersOf(req)).map(([k, v]) => [k, String(v)]))
        ),
        body: req.body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      return {
        status: res.status,
        xCache: res.headers.get("x-cache") ?? undefined,
        serverTiming: res.headers.get("server-timing") ?? undefined,
        body: await res.text(),
      };
    },
    close: () => {},
  };
}
