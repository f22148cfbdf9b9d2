// The search use case: a namespace's active version searched through the result cache. The
// caller's timer gets the cache stage and, when the answer was computed, the search's stages.
import {
  type CachedSearchDeps,
  type CacheOutcome,
  cachedSearch,
  normalizedRequest,
} from "../cache/cached-search";
import { readGeneration } from "../cache/generation";
import type { VersionSpec } from "../versions/model";
import {
  type SearchDeps,
  type SearchRequest,
  type SearchResult,
  type SearchSettings,
  search,
} from "./search";
import type { Clock, Timer } from "./timer";

export interface AnswerSearchDeps {
  /** The namespace's active version. */
  activeVersion(namespace: string): Promise<VersionSpec>;
  /** What searching `version` of `namespace` reads: its embedder and index, D1, the reranker. */
  versionDeps(namespace: string, version: VersionSpec): Omit<SearchDeps, "settings" | "version" | "clock">;
  /** The result cache; the namespace's write generation is read through it. */
  cache: Omit<CachedSearchDeps, "generation">;
  /** How retrieval is tuned; part of the cache key. */
  settings: SearchSettings;
  clock: Clock;
}

export interface SearchAnswer {
  results: SearchResult[];
  version: string;
  /** Which cache layer answered, or why none did. */
  outcome: CacheOutcome;
  degraded: string[];
}

export async function answerSearch(
  deps: AnswerSearchDeps,
  namespace: string,
  req: SearchRequest,
  options: { bypassCache: boolean; timer: Timer },
): Promise<SearchAnswer> {
  const { cache } = deps;
  const { bypassCache, timer } = options;
  // One version answers the whole request: its vectors, chunks, keyword index and cache keys.
  // The write generation and the active version are independent KV reads (each cached in the
  // isolate): when both miss the isolate, they overlap instead of adding up.
  const generation = bypassCache
    ? undefined
    : readGeneration(cache.kv, namespace, cache.settings.generationTtlMs, cache.logger);
  const version = await deps.activeVersion(namespace);
  const searchDeps: SearchDeps = {
    ...deps.versionDeps(namespace, version),
    settings: deps.settings,
    version: version.id,
    clock: deps.clock,
  };
  const compute = async () => {
    const response = await search(searchDeps, namespace, req);
    timer.add(response.timings);
    return { body: { results: response.results, version: response.version }, degraded: response.degraded };
  };
  // The cache stage is the lookup (and, on a miss, the store) without the search it wraps.
  const answer = await timer.stage("cache", () =>
    cachedSearch(
      { ...cache, ...(generation ? { generation } : {}) },
      { namespace, version: version.id },
      cacheKeyRequest(req, deps.settings, searchDeps.embedder.model),
      bypassCache,
      () => timer.excluding("cache", compute),
    ),
  );
  return { ...answer.body, outcome: answer.outcome, degraded: answer.degraded };
}

/**
 * What a cached answer depends on besides namespace, version and generation: the request, the
 * retrieval settings (a configuration change never serves old answers) and the query model.
 */
function cacheKeyRequest(req: SearchRequest, settings: SearchSettings, model: string) {
  const { query, topK, filter, mode, rerank, groupBy, includeText, highlight } = req;
  // Highlight options only when asked for: keys of requests without them stay as they were.
  const shown = highlight ? { highlight } : {};
  return normalizedRequest({
    query,
    topK,
    filter,
    mode,
    rerank,
    groupBy,
    includeText,
    ...shown,
    settings,
    model,
  });
}
