// Search answers through the result cache. The key carries namespace, active version, the
// namespace's write generation and the normalized request; degraded answers are never stored;
// a cache that fails is a miss. The answer says whether it was a hit and from which layer.
import type { Logger } from "../observe/logger";
import type { CacheApiLayer } from "./cache-api";
import { type Generation, readGeneration } from "./generation";
import { canonicalJson, normalizeQuery, resultCacheKey } from "./keys";
import { ByteLru } from "./lru";
import { type CachedAnswer, ResultCache } from "./result-cache";

export type CacheOutcome = "isolate" | "cache-api" | "miss" | "bypass";

export interface CacheSettings {
  resultTtlMs: number;
  lruBytes: number;
  generationTtlMs: number;
  /**
   * Answers computed this soon after the namespace's last write are not stored: the index
   * applies writes asynchronously, so they may not yet show the write.
   */
  settleMs: number;
}

export interface CachedSearchDeps {
  kv: KVNamespace;
  /** The Cache API layer for this request (inactive on *.workers.dev). */
  cacheApi: CacheApiLayer;
  settings: CacheSettings;
  logger: Logger;
  defer: (work: Promise<unknown>) => void;
  /** The namespace's write generation, when the caller started reading it already. */
  generation?: Promise<Generation | null>;
}

export interface Computed<T> {
  body: T;
  degraded: string[];
  /** The earliest expiry (epoch ms) among the answer's documents; a cached copy lives no longer. */
  expiresAt?: number | undefined;
}

// Isolate-lifetime result LRU, created with the configured budget on first use.
let isolateLru: ByteLru<CachedAnswer> | undefined;
function lru(bytes: number): ByteLru<CachedAnswer> {
  if (!isolateLru) isolateLru = new ByteLru<CachedAnswer>(bytes);
  return isolateLru;
}

/** Empties this isolate's result cache (tests; or after a configuration change). */
export function clearIsolateResultCache(): void {
  isolateLru?.clear();
}

/** The request fields an answer depends on, normalized: equal requests give equal keys. */
export function normalizedRequest(req: { query: string; filter?: unknown; [k: string]: unknown }) {
  const { query, filter, cache: _cache, ...rest } = req;
  return {
    ...rest,
    query: normalizeQuery(query),
    filter: filter === undefined ? null : JSON.parse(canonicalJson(filter)),
  };
}

export async function cachedSearch<T>(
  deps: CachedSearchDeps,
  scope: { namespace: string; version: string },
  request: Record<string, unknown>,
  bypass: boolean,
  compute: () => Promise<Computed<T>>,
): Promise<{ body: T; degraded: string[]; outcome: CacheOutcome }> {
  if (bypass) return { ...(await compute()), outcome: "bypass" };
  const generation = await (deps.generation ??
    readGeneration(deps.kv, scope.namespace, deps.settings.generationTtlMs, deps.logger));
  if (generation === null || deps.settings.resultTtlMs <= 0) return { ...(await compute()), outcome: "miss" };
  const key = await resultCacheKey({ ...scope, generation: generation.generation, request });
  const cache = new ResultCache({
    lru: lru(deps.settings.lruBytes),
    cacheApi: deps.cacheApi,
    ttlMs: deps.settings.resultTtlMs,
    logger: deps.logger,
  });
  const hit = await cache.get(key);
  if (hit) return { body: JSON.parse(hit.answer.body) as T, degraded: [], outcome: hit.layer };
  const computed = await compute();
  const settled = Date.now() - generation.writtenAt >= deps.settings.settleMs;
  if (settled && computed.degraded.length === 0) {
    const expiry = computed.expiresAt === undefined ? {} : { expiresAt: computed.expiresAt };
    deps.defer(cache.put(key, { body: JSON.stringify(computed.body), ...expiry }));
  }
  return { body: computed.body, degraded: computed.degraded, outcome: "miss" };
}
