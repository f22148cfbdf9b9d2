// The load generator's HTTP clients. "http" (node:http with a keep-alive Agent, one socket per
// in-flight request) spends a fifth to a third of the client CPU per request that "fetch" (undici
// behind the global fetch) does on loopback, so it is the default; "fetch" stays for comparison.
import http from "node:http";

export type BenchRequest = { method: string; path: string; headers?: Record<string, string>; body?: string };

export type BenchResponse = {
  status: number;
  xCache: string | undefined;
  serverTiming: string | undefined;
  /** x-cost-counters (search answers to admin keys): the cost counters as "name=value,...". */
  costCounters: string | undefined;
  body: string;
};

export type Transport = { send: (req: BenchRequest) => Promise<BenchResponse>; close: () => void };

export const TRANSPORTS = ["http", "fetch"] as const;

export function createTransport(
  kind: "http" | "fetch",
  options: { baseUrl: string; concurrency: number; timeoutMs: number },
): Transport {
  return kind === "fetch" ? fetchTransport(options) : httpTransport(options);
}

function headersOf(req: BenchRequest): Record<string, string | number> {
  const headers: Record<string, string | number> = { ...req.headers };
  if (req.body !== undefined) {
    headers["content-type"] = "application/json";
    // A known length keeps the request out of chunked encoding.
    headers["content-length"] = Buffer.byteLength(req.body);
  }
  return headers;
}

function httpTransport({
  baseUrl,
  concurrency,
  timeoutMs,
}: {
  baseUrl: string;
  concurrency: number;
  timeoutMs: number;
}) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: concurrency,
    maxFreeSockets: concurrency,
    scheduling: "lifo",
  });
  const host = url.hostname;
  const port = Number(url.port || 80);
  const send = (req: BenchRequest): Promise<BenchResponse> =>
    new Promise((resolve, reject) => {
      const request = http.request(
        { host, port, method: req.method, path: req.path, headers: headersOf(req), agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const xCache = res.headers["x-cache"];
            const timing = res.headers["server-timing"];
            const cost = res.headers["x-cost-counters"];
            resolve({
              status: res.statusCode ?? 0,
              xCache: Array.isArray(xCache) ? xCache.join(",") : xCache,
              serverTiming: Array.isArray(timing) ? timing.join(", ") : timing,
              costCounters: Array.isArray(cost) ? cost.join(",") : cost,
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

function fetchTransport({ baseUrl, timeoutMs }: { baseUrl: string; concurrency: number; timeoutMs: number }) {
  return {
    send: async (req: BenchRequest) => {
      const res = await fetch(`${baseUrl}${req.path}`, {
        method: req.method,
        headers: Object.fromEntries(Object.entries(headersOf(req)).map(([k, v]) => [k, String(v)])) as Record<
          string,
          string
        >,
        body: req.body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      return {
        status: res.status,
        xCache: res.headers.get("x-cache") ?? undefined,
        serverTiming: res.headers.get("server-timing") ?? undefined,
        costCounters: res.headers.get("x-cost-counters") ?? undefined,
        body: await res.text(),
      };
    },
    close: () => {},
  };
}
