// The steps of `npm run verify`, in order. Each takes the run's context, returns its one-line
// result, and throws (ScriptError with the reason, or ApiError) when its expectation fails.

import type { Client, NamespaceStats, SearchRequest, SearchResult } from "../../client/src/index.ts";
import { ApiError } from "../../client/src/index.ts";
import { ScriptError } from "./args.ts";

export const MODES = ["keyword", "vector", "hybrid"] as const;

/**
 * RESULT_CACHE_SETTLE_MS defaults (src/config.ts): answers computed this soon after a namespace's
 * last write are not cached, 1 s with the local index and 10 s on Vectorize. A deployment that
 * configures more only makes the cache step poll longer.
 */
const SETTLE_MS = { local: 1000, cloudflare: 10_000 };
/**
 * How long a deleted canary may still show in answers: another isolate trusts its cached write
 * generation for GENERATION_CACHE_TTL_MS (2 s by default) before it sees the delete.
 */
const DELETE_GRACE_MS = 10_000;
const TOP_K = 10;

export type RunState = {
  backend: string;
  written: boolean;
  deleted: boolean;
  indexedAt: number;
  canaryChunks: number;
  before?: NamespaceStats;
  during?: NamespaceStats;
};

export type Context = {
  client: Client;
  namespace: string;
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
  canary: ReturnType<typeof makeCanary>;
  state: RunState;
};

function randomHex(bytes: number) {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/**
 * The canary: a unique id, a word that occurs in no other document, and a filterable metadata
 * value of its own.
 */
export function makeCanary(filterField: string) {
  const suffix = `${Date.now().toString(36)}-${randomHex(4)}`;
  // Letters and digits only: one token for the keyword index's tokenizer (FTS5 unicode61).
  const token = `canary${randomHex(6)}`;
  const label = `verify-${suffix}`;
  return {
    id: label,
    token,
    label,
    filterField,
    document: {
      title: "edgesearch deployment check",
      text:
        `Deployment check document ${token}. Written by npm run verify to follow one document ` +
        `through indexing, search and deletion; ${token} appears in no other document.`,
      metadata: { [filterField]: label, source: "edgesearch-verify" },
    },
  };
}

/**
 * Calls `probe` until it returns a value, backing off from 250 ms to 2 s, for at most `timeoutMs`;
 * then fails with what the last attempt saw.
 */
async function poll<T>(
  timeoutMs: number,
  probe: (attempt: number) => Promise<{ done: true; value: T } | { done: false; why: string }>,
  sleep: (ms: number) => Promise<void>,
): Promise<{ value: T; attempts: number }> {
  const started = Date.now();
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    const outcome = await probe(attempt);
    if (outcome.done) return { value: outcome.value, attempts: attempt };
    const elapsed = Date.now() - started;
    if (elapsed + delay > timeoutMs) {
      throw new ScriptError(`${outcome.why} (after ${attempt} attempts in ${(elapsed / 1000).toFixed(1)} s)`);
    }
    await sleep(delay);
    delay = Math.min(2000, delay * 2);
  }
}

const ordinal = (n: number) => `${n}${n === 1 ? "st" : n === 2 ? "nd" : n === 3 ? "rd" : "th"}`;

const search = (ctx: Context, body: SearchRequest) =>
  ctx.client.searchTimed(ctx.namespace, { topK: TOP_K, includeText: false, ...body });

/**
 * The canary's rank in the results, from 1; 0 when absent.
 */
const rankOf = (ctx: Context, results: SearchResult[]) =>
  results.findIndex((r) => r.id === ctx.canary.id) + 1;

/**
 * GET /healthz, then /readyz: ready or degraded (what is degraded is printed); notes the backend.
 */
async function health(ctx: Context): Promise<string> {
  const { client, state } = ctx;
  try {
    await client.health({ maxAttempts: 2 });
  } catch (err) {
    if (err instanceof ApiError && err.status === 0) {
      throw new ScriptError(
        `cannot reach ${client.baseUrl}: is the service (or \`npm run dev\`) running? (${err.message})`,
      );
    }
    throw err;
  }
  let ready: Record<string, unknown>;
  const readiness = async (anonymous: boolean) =>
    (await client.request("GET", "/readyz", undefined, { maxAttempts: 2, anonymous })) as Record<
      string,
      unknown
    >;
  try {
    // Details come with an admin key; a key /readyz refuses (401) gets the public status alone,
    // and the step that first needs the key reports it.
    ready = await readiness(false).catch((err) => {
      if (err instanceof ApiError && err.status === 401) return readiness(true);
      throw err;
    });
  } catch (err) {
    const checks = err instanceof ApiError ? err.problem?.checks : undefined;
    if (checks && typeof checks === "object") {
      const failing = Object.entries(checks)
        .filter(([, c]) => c && typeof c === "object" && !c.ok)
        .map(([name, c]) => `${name} (${c.error ?? "failed"})`);
      throw new ScriptError(`readyz: not ready, failing: ${failing.join(", ") || "unknown"}`);
    }
    throw err;
  }
  state.backend = typeof ready.backend === "string" ? ready.backend : state.backend;
  const notes = [];
  const breakers = (ready.breakers ?? {}) as Record<string, string>;
  const open = Object.entries(breakers).filter(
    ([, breaker]) => breaker === "open" || breaker === "half-open",
  );
  if (open.length > 0)
    notes.push(`circuit open: ${open.map(([dep, breaker]) => `${dep} ${breaker}`).join(", ")}`);
  const indexHealth = (ready.indexHealth ?? null) as { state?: string; problems?: string[] } | null;
  if (indexHealth?.state === "fail" || indexHealth?.state === "warn") {
    notes.push(`index health ${indexHealth.state}: ${(indexHealth.problems ?? []).join(", ")}`);
  }
  return `healthz ok; readyz ${String(ready.status)} (backend ${state.backend})${notes.length ? `; degraded: ${notes.join("; ")}` : ""}`;
}

/**
 * Counts the namespace, then writes the canary.
 */
async function ingest(ctx: Context): Promise<string> {
  const { client, namespace, canary, state } = ctx;
  state.before = await client.namespaceStats(namespace);
  const accepted = await client.putDocument(namespace, { id: canary.id, ...canary.document });
  state.written = true;
  if (accepted.status !== "queued")
    throw new ScriptError(`PUT answered status "${accepted.status}", expected "queued"`);
  return `${canary.id} accepted (${accepted.status}); namespace held ${state.before.documents} documents`;
}

/**
 * Waits until the canary is indexed; a failed document ends the run with its error.
 */
async function indexed(ctx: Context): Promise<string> {
  const { client, namespace, timeoutMs, sleep, canary, state } = ctx;
  const { value, attempts } = await poll(
    timeoutMs,
    async () => {
      const status = await client.getDocument(namespace, canary.id);
      if (status.status === "failed")
        throw new ScriptError(`indexing failed: ${status.error ?? "no reason given"}`);
      if (status.status === "indexed") return { done: true, value: status };
      // A queued document that failed an attempt keeps the attempt's error until it succeeds.
      const last = status.error ? ` (last attempt: ${status.error})` : "";
      return { done: false, why: `still ${status.status}${last}` };
    },
    sleep,
  );
  state.indexedAt = Date.now();
  state.canaryChunks = value.chunks;
  state.during = await client.namespaceStats(namespace);
  return `indexed, ${value.chunks} chunk${value.chunks === 1 ? "" : "s"}, after ${attempts} status checks`;
}

/**
 * The canary ranks first for its word (keyword, hybrid) or is among the results (vector).
 */
async function searchMode(ctx: Context, mode: (typeof MODES)[number]): Promise<string> {
  const { timeoutMs, sleep, canary } = ctx;
  // Vectorize applies writes after accepting them ("Actual mutations are processed async",
  // VectorizeAsyncMutation in workers/worker-configuration.d.ts), so a search is retried.
  // It bypasses the result cache: an answer from before the vectors were visible must not
  // be stored and served back to the next attempt. The cache has its own step.
  const { value, attempts } = await poll(
    timeoutMs,
    async () => {
      const { data: response } = await search(ctx, { query: canary.token, mode, cache: "bypass" });
      const rank = rankOf(ctx, response.results);
      const degraded = response.degraded.length ? `; degraded: ${response.degraded.join(", ")}` : "";
      const wanted = mode === "vector" ? rank > 0 : rank === 1;
      if (wanted) return { done: true, value: { rank, count: response.results.length, degraded } };
      return {
        done: false,
        why: `canary ${rank > 0 ? `${ordinal(rank)}` : "absent"} of ${response.results.length} results, expected ${mode === "vector" ? "among them" : "first"}${degraded}`,
      };
    },
    sleep,
  );
  return `canary ${ordinal(value.rank)} of ${value.count}${attempts > 1 ? ` (after ${attempts} searches)` : ""}${value.degraded}`;
}

/**
 * A filter on the canary's own value finds only it, in every mode; another value does not find it.
 */
async function searchFilter(ctx: Context): Promise<string> {
  const { timeoutMs, sleep, canary } = ctx;
  const filter = { [canary.filterField]: canary.label };
  const { attempts } = await poll(
    timeoutMs,
    async () => {
      for (const mode of MODES) {
        const { data: response } = await search(ctx, { query: canary.token, mode, filter, cache: "bypass" });
        const others = response.results.filter((r) => r.id !== canary.id).map((r) => r.id);
        if (others.length > 0)
          throw new ScriptError(`${mode}: filter let through ${others.slice(0, 3).join(", ")}`);
        if (response.results.length === 0) return { done: false, why: `${mode}: no results with the filter` };
      }
      return { done: true, value: true };
    },
    sleep,
  );
  const other = { [canary.filterField]: `${canary.label}-other` };
  const { data: response } = await search(ctx, {
    query: canary.token,
    mode: "hybrid",
    filter: other,
    cache: "bypass",
  });
  if (rankOf(ctx, response.results) > 0)
    throw new ScriptError(`a filter on another ${canary.filterField} still found the canary`);
  return `${canary.filterField}=${canary.label}: only the canary in ${MODES.join(", ")}${attempts > 1 ? ` (after ${attempts} rounds)` : ""}; another value: not found`;
}

/**
 * The same search, repeated after the settle time, is answered from the result cache.
 */
async function cacheHit(ctx: Context): Promise<string> {
  const { client, timeoutMs, sleep, canary, state } = ctx;
  // The first search after the settle time is stored; the same search again is a hit. On a
  // deployment the repeat may reach another isolate, so a miss is retried.
  const settleMs = SETTLE_MS[state.backend === "local" ? "local" : "cloudflare"];
  const wait = state.indexedAt + settleMs + 250 - Date.now();
  if (wait > 0) await sleep(wait);
  const body = { query: canary.token, mode: "hybrid" as const };
  const { value, attempts } = await poll(
    timeoutMs,
    async () => {
      const { data: response, headers } = await search(ctx, body);
      if (response.cache === "hit") return { done: true, value: headers.get("x-cache") ?? "unknown layer" };
      if (response.degraded.length > 0) {
        throw new ScriptError(
          `answers are degraded (${response.degraded.join(", ")}), and degraded answers are never cached`,
        );
      }
      return {
        done: false,
        why: `the repeated search was a ${response.cache} (X-Cache ${headers.get("x-cache")})`,
      };
    },
    sleep,
  );
  // "any *.workers.dev deployments will have no impact" on the Cache API
  // (developers.cloudflare.com/workers/runtime-apis/cache/): only the isolate layer hits there.
  const host = new URL(client.baseUrl).hostname;
  const note =
    value === "isolate" && host.endsWith(".workers.dev")
      ? " (the Cache API layer is inert on *.workers.dev)"
      : "";
  return `hit from ${value} on search ${attempts}, ${Math.max(0, Math.round(wait))} ms settle wait${note}`;
}

/**
 * Deletes the canary: its status says so and no search mode finds it any more.
 */
async function deleteCanary(ctx: Context): Promise<string> {
  const { client, namespace, timeoutMs, sleep, canary, state } = ctx;
  await client.deleteDocument(namespace, canary.id);
  state.deleted = true;
  let status: string;
  try {
    status = (await client.getDocument(namespace, canary.id)).status;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    status = "404";
  }
  if (status !== "deleted" && status !== "404")
    throw new ScriptError(`status after DELETE is "${status}", expected "deleted"`);
  const { attempts } = await poll(
    Math.min(timeoutMs, DELETE_GRACE_MS),
    async () => {
      for (const mode of MODES) {
        const { data: response } = await search(ctx, { query: canary.token, mode });
        const rank = rankOf(ctx, response.results);
        if (rank > 0)
          return {
            done: false,
            why: `${mode} search still answers the canary (${ordinal(rank)}, cache ${response.cache})`,
          };
      }
      return { done: true, value: true };
    },
    sleep,
  );
  return `status ${status}; gone from ${MODES.join(", ")} search${attempts > 1 ? ` (after ${attempts} rounds)` : ""}`;
}

/**
 * The namespace counted the canary while it was indexed and is back where it was.
 */
async function stats(ctx: Context): Promise<string> {
  const { client, namespace, state } = ctx;
  const after = await client.namespaceStats(namespace);
  if (!state.before || !state.during) throw new ScriptError("no earlier counts to compare with");
  const problems = [];
  if (state.during.documents !== state.before.documents + 1)
    problems.push(
      `documents while indexed ${state.during.documents}, expected ${state.before.documents + 1}`,
    );
  if (state.during.chunks !== state.before.chunks + state.canaryChunks)
    problems.push(
      `chunks while indexed ${state.during.chunks}, expected ${state.before.chunks + state.canaryChunks}`,
    );
  if (after.documents !== state.before.documents)
    problems.push(`documents after delete ${after.documents}, expected ${state.before.documents}`);
  if (after.chunks !== state.before.chunks)
    problems.push(`chunks after delete ${after.chunks}, expected ${state.before.chunks}`);
  if (after.failed !== state.before.failed)
    problems.push(`failed ${after.failed}, expected ${state.before.failed}`);
  if (problems.length > 0)
    throw new ScriptError(
      `GET /v1/namespaces/${namespace}: ${problems.join("; ")} (does something else write to it?)`,
    );
  return `documents ${state.before.documents} -> ${state.during.documents} -> ${after.documents}, chunks ${state.before.chunks} -> ${state.during.chunks} -> ${after.chunks}, pending ${after.pending}, failed ${after.failed}`;
}

export const STEPS: { name: string; run: (ctx: Context) => Promise<string> }[] = [
  { name: "health", run: health },
  { name: "ingest", run: ingest },
  { name: "indexed", run: indexed },
  ...MODES.map((mode) => ({
    name: `search ${mode}`,
    run: (ctx: Context) => searchMode(ctx, mode),
  })),
  { name: "search filter", run: searchFilter },
  { name: "cache", run: cacheHit },
  { name: "delete", run: deleteCanary },
  { name: "stats", run: stats },
];
