// What the bench measures: server profiles (how a server is started), and scenarios (a request
// stream and the check every answer must pass), each bound to a profile. A new scenario is a new
// row in SCENARIOS; each profile's no-op baseline runs first so every figure has a same-server
// reference. Scenarios marked `direct` are measured a second time against the Worker's own socket
// behind wrangler's dev proxy (with that path's own no-op baseline).
import type { Vocabulary } from "./corpus.ts";
import { queryStream } from "./corpus.ts";
import type { BenchRequest, BenchResponse, Transport } from "./transport.ts";

export type ScenarioContext = { adminKey: string; namespace: string; vocabulary: Vocabulary; seed: number };
export type Scenario = {
  name: string;
  profile: string;
  description: string;
  dataset?: string;
  expectStatus?: number;
  requests: (ctx: ScenarioContext) => () => BenchRequest;
  check: (res: BenchResponse) => string | null;
  note?: (res: BenchResponse) => string | null;
  prepare?: (send: Transport["send"], ctx: ScenarioContext) => Promise<Record<string, unknown>>;
  groups: string[];
  direct?: boolean;
};
export type Profile = { server: "wrangler" | "trivial"; vars?: Record<string, string>; description: string };

/** The quickstart query: a realistic, stable request for the hit scenarios. */
export const HIT_QUERY = "how do plants turn sunlight into energy";

// Cached answers live an hour in the bench (instead of 60 s): an entry that expires in the middle
// of a window turns hits into misses, which measures a stampede, not the hit path.
const LONG_TTL = { RESULT_CACHE_TTL_SECONDS: "3600" };
// Warnings and errors only: wrangler dev relays every console line through its inspector to the
// terminal, a cost production does not pay, and seeding writes one info line per document.
const QUIET = { LOG_LEVEL: "warn" };

export const PROFILES: Record<string, Profile> = {
  trivial: { server: "trivial", description: "a trivial Node HTTP server (the client alone)" },
  default: {
    server: "wrangler",
    vars: { ...LONG_TTL, ...QUIET },
    description:
      "wrangler dev --local, default configuration but RESULT_CACHE_TTL_SECONDS=3600 and LOG_LEVEL=warn",
  },
  "no-lru": {
    server: "wrangler",
    vars: { ...LONG_TTL, ...QUIET, RESULT_CACHE_LRU_BYTES: "0" },
    description: "as default, with RESULT_CACHE_LRU_BYTES=0 (no isolate layer)",
  },
};

const auth = (ctx: ScenarioContext) => ({ authorization: `Bearer ${ctx.adminKey}` });
const searchPath = (ctx: ScenarioContext) => `/v1/namespaces/${ctx.namespace}/search`;

/**
 * Checks a search answer: the cache layer the scenario is about, the body's cache field, and no
 * degradation (a degraded answer measures a different path).
 */
function searchCheck(xCache: string, cache: "hit" | "miss") {
  const marker = `"cache":"${cache}"`;
  return (res: BenchResponse) => {
    if (res.xCache !== xCache) return `x-cache ${res.xCache ?? "(none)"}, expected ${xCache}`;
    if (!res.body.includes(marker)) return `body without ${marker}`;
    if (!res.body.includes('"degraded":[]')) return "degraded answer";
    return null;
  };
}

const emptyResults = (res: BenchResponse) => (res.body.startsWith('{"results":[]') ? "no results" : null);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Repeats a request until its answer comes from `layer` (the first is a miss that fills the cache;
 * answers computed right after a write are not stored, so that may take a moment).
 */
export async function primeUntil(
  send: Transport["send"],
  req: BenchRequest,
  layer: string | string[],
  timeoutMs: number = 30_000,
) {
  const layers = Array.isArray(layer) ? layer : [layer];
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    const res = await send(req);
    if (res.status !== 200)
      throw new Error(`priming ${req.path}: status ${res.status}: ${res.body.slice(0, 200)}`);
    if (res.xCache !== undefined && layers.includes(res.xCache))
      return { attempts: attempt, ms: Math.round(performance.now() - started) };
    if (performance.now() - started > timeoutMs) {
      throw new Error(
        `priming ${req.path}: still x-cache ${res.xCache ?? "(none)"} after ${attempt} attempts`,
      );
    }
    await sleep(200);
  }
}

/**
 * Waits until a namespace's last write has settled: a repeated search is answered from a cache
 * (answers computed within RESULT_CACHE_SETTLE_MS of a write are not stored).
 */
export function waitSettled(send: Transport["send"], ctx: ScenarioContext) {
  const req = fixedSearch({ query: "settle probe", mode: "keyword", topK: 1 })(ctx)();
  return primeUntil(send, req, ["isolate", "cache-api"], 60_000);
}

/**
 * A search with the same body on every request.
 */
function fixedSearch(body: Record<string, unknown>) {
  return (ctx: ScenarioContext) => {
    const req: BenchRequest = {
      method: "POST",
      path: searchPath(ctx),
      headers: auth(ctx),
      body: JSON.stringify(body),
    };
    return () => req;
  };
}

/**
 * Searches with a new query every request, result cache bypassed; `extra` joins every body.
 */
function variedSearch(mode: "keyword" | "vector" | "hybrid", extra: Record<string, unknown> = {}) {
  return (ctx: ScenarioContext) => {
    const next = queryStream(ctx.vocabulary, ctx.seed);
    const path = searchPath(ctx);
    const headers = auth(ctx);
    return () => ({
      method: "POST",
      path,
      headers,
      body: JSON.stringify({ query: next(), mode, cache: "bypass", ...extra }),
    });
  };
}

/**
 * @param [dataset] 1k: the default group; larger ones: "scale" (10k), "scale-100k"
 */
function missScenario(
  mode: "keyword" | "vector" | "hybrid",
  dataset: "1k" | "10k" | "100k" = "1k",
): Scenario {
  return {
    name: dataset === "1k" ? `miss-${mode}` : `miss-${mode}-${dataset}`,
    profile: "default",
    dataset,
    description: `${mode} search over ${dataset} chunks, a new query each time, cache: "bypass" (every query embedding is computed afresh)`,
    requests: variedSearch(mode),
    check: searchCheck("bypass", "miss"),
    note: emptyResults,
    groups: [dataset === "1k" ? "default" : dataset === "10k" ? "scale" : "scale-100k"],
  };
}

const hitIsolate: Scenario = {
  name: "hit-isolate",
  profile: "default",
  dataset: "1k",
  description: "search, the same query repeated: answered from the isolate LRU",
  requests: fixedSearch({ query: HIT_QUERY }),
  check: searchCheck("isolate", "hit"),
  prepare: (send, ctx) => primeUntil(send, fixedSearch({ query: HIT_QUERY })(ctx)(), "isolate"),
  groups: ["default"],
  direct: true,
};

export const SCENARIOS: Scenario[] = [
  {
    name: "client-ceiling",
    profile: "trivial",
    description: "POST answered with a fixed 12 KB body by a trivial Node server: the client's own limit",
    requests: () => {
      const req: BenchRequest = {
        method: "POST",
        path: "/payload",
        body: JSON.stringify({ query: HIT_QUERY }),
      };
      return () => req;
    },
    check: searchCheck("isolate", "hit"),
    groups: ["default"],
  },
  hitIsolate,
  missScenario("keyword"),
  missScenario("vector"),
  missScenario("hybrid"),
  {
    ...missScenario("hybrid"),
    name: "miss-hybrid-highlight",
    description:
      "as miss-hybrid, with highlight: true (a snippet and highlights per result); compare with miss-hybrid",
    requests: variedSearch("hybrid", { highlight: true }),
    check: (res) =>
      searchCheck("bypass", "miss")(res) ?? (res.body.includes('"highlights":[') ? null : "no highlights"),
  },
  {
    ...missScenario("hybrid"),
    name: "miss-hybrid-highlight-facets",
    description:
      "as miss-hybrid-highlight, with facets on category and year (the corpus's 8 categories, 76 years); " +
      "compare with miss-hybrid",
    requests: variedSearch("hybrid", { highlight: true, facets: ["category", "year"] }),
    check: (res) =>
      searchCheck("bypass", "miss")(res) ??
      (res.body.includes('"highlights":[') ? null : "no highlights") ??
      (res.body.includes('"facets":{"category":{"values":[') ? null : "no facets"),
  },
  {
    name: "hit-cache-api",
    profile: "no-lru",
    dataset: "1k",
    description: "search, the same query repeated, isolate layer off: answered from the Cache API",
    requests: fixedSearch({ query: HIT_QUERY }),
    check: searchCheck("cache-api", "hit"),
    prepare: (send, ctx) => primeUntil(send, fixedSearch({ query: HIT_QUERY })(ctx)(), "cache-api"),
    groups: ["default"],
    direct: true,
  },
  missScenario("keyword", "10k"),
  missScenario("vector", "10k"),
  missScenario("hybrid", "10k"),
  missScenario("keyword", "100k"),
  missScenario("vector", "100k"),
  missScenario("hybrid", "100k"),
  // Diagnostics: split the hit path's cost into middleware + auth, the route, and the payload.
  {
    name: "v1-not-found",
    profile: "default",
    description: "GET /v1/bench-probe with a valid key: the /v1 middleware chain and key check, then a 404",
    expectStatus: 404,
    requests: (ctx) => {
      const req: BenchRequest = { method: "GET", path: "/v1/bench-probe", headers: auth(ctx) };
      return () => req;
    },
    check: (res) => (res.body.includes('"code":"not_found"') ? null : "not a not_found problem"),
    groups: ["diagnostics"],
    direct: true,
  },
  {
    name: "v1-no-key",
    profile: "default",
    description: "GET /v1/bench-probe without a key: the middleware chain up to a 401",
    expectStatus: 401,
    requests: () => {
      const req: BenchRequest = { method: "GET", path: "/v1/bench-probe" };
      return () => req;
    },
    check: (res) => (res.body.includes('"code":"unauthorized"') ? null : "not an unauthorized problem"),
    groups: ["diagnostics"],
    direct: true,
  },
  {
    ...hitIsolate,
    name: "hit-isolate-small",
    description: "isolate hit with a small answer (topK 1, no text): the hit path without the payload",
    requests: fixedSearch({ query: HIT_QUERY, topK: 1, includeText: false }),
    prepare: (send, ctx) =>
      primeUntil(send, fixedSearch({ query: HIT_QUERY, topK: 1, includeText: false })(ctx)(), "isolate"),
    groups: ["diagnostics"],
  },
];

/**
 * The no-op baseline of a profile: GET /healthz.
 */
export function baselineScenario(profile: string): Scenario {
  return {
    name: "noop",
    profile,
    description: "GET /healthz: no auth, no bindings (the runtime's ceiling)",
    requests: () => {
      const req: BenchRequest = { method: "GET", path: "/healthz" };
      return () => req;
    },
    check: (res) => (res.body === '{"status":"ok"}' ? null : "unexpected body"),
    groups: [],
    direct: true,
  };
}

/**
 * Resolves --scenarios: names and group names ("default", "diagnostics", "all"), comma-separated.
 * @returns in table order
 */
export function selectScenarios(list: string): Scenario[] {
  const wanted = list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const known = new Set(["all", ...SCENARIOS.flatMap((s) => [s.name, ...s.groups])]);
  const unknown = wanted.filter((w) => !known.has(w));
  if (unknown.length > 0) {
    throw new Error(
      `unknown scenario ${unknown.join(", ")}; known: ${[...known].filter((k) => k !== "noop").join(", ")}`,
    );
  }
  return SCENARIOS.filter(
    (s) => wanted.includes("all") || wanted.includes(s.name) || s.groups.some((g) => wanted.includes(g)),
  );
}
