// The search use case: a namespace's active version searched through the result cache. The
// caller's timer gets the cache stage and, when the answer was computed, the search's stages.
import {
  type CachedSearchDeps,
  type CacheOutcome,
  cachedSearch,
  normalizedRequest,
} from "../cache/cached-search";
import { type Generation, readGeneration } from "../cache/generation";
import type { VersionSpec } from "../versions/model";
import { openPage } from "./pages";
import type { FacetScope, Facets } from "./request";
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
  /** Signs and verifies cursors; absent or null: no cursor is issued, and one sent is refused. */
  cursorKey?: () => Promise<CryptoKey | null>;
  /** Wall-clock time (ms) for cursor expiry; Date.now by default. */
  now?: () => number;
}

export interface SearchAnswer {
  results: SearchResult[];
  version: string;
  /** The ranking position of the first result (0 on the first page). */
  offset?: number;
  /** Which cache layer answered, or why none did. */
  outcome: CacheOutcome;
  degraded: string[];
  /** The next page's cursor, when the ranking holds more results. */
  nextCursor?: string;
  /** On the first page, when facets were asked for (and could be counted). */
  facets?: Facets;
  facetScope?: FacetScope;
}

export interface AnswerOptions {
  bypassCache: boolean;
  timer: Timer;
  /** The cursor of the page to answer (absent: the first page). */
  cursor?: string;
  /** The version to search instead of the active one (an experiment's candidate). */
  version?: VersionSpec;
  /**
   * The namespace's write generation, when its read was started before the search (beside the
   * experiment's read of the version pointer); absent: read here.
   */
  generation?: Promise<Generation | null>;
}

/** What the cache stores for a page; cursors are made per answer (they expire). */
interface PageBody {
  results: SearchResult[];
  version: string;
  more: boolean;
  facets?: Facets;
  facetScope?: FacetScope;
}

/** What a search of `version` runs on: its embedder, index and store, the settings and the clock. */
export function versionSearchDeps(
  deps: AnswerSearchDeps,
  namespace: string,
  version: VersionSpec,
): SearchDeps {
  return {
    ...deps.versionDeps(namespace, version),
    settings: deps.settings,
    version: version.id,
    clock: deps.clock,
  };
}

/** The namespace's write generation, through the isolate cache (never throws: null when unknown). */
export function namespaceGeneration(
  deps: Pick<AnswerSearchDeps, "cache">,
  namespace: string,
): Promise<Generation | null> {
  const { kv, settings, logger } = deps.cache;
  return readGeneration(kv, namespace, settings.generationTtlMs, logger);
}

export async function answerSearch(
  deps: AnswerSearchDeps,
  namespace: string,
  req: SearchRequest,
  options: AnswerOptions,
): Promise<SearchAnswer> {
  const { cache } = deps;
  const { bypassCache, timer } = options;
  // One version answers the whole request: its vectors, chunks, keyword index and cache keys.
  // The write generation and the active version are independent KV reads (each cached in the
  // isolate): when both miss the isolate, they overlap instead of adding up. Cursors need the
  // generation even when the cache is bypassed.
  const generation = options.generation ?? namespaceGeneration(deps, namespace);
  const version = options.version ?? (await deps.activeVersion(namespace));
  const searchDeps = versionSearchDeps(deps, namespace, version);
  const paging = await openPage(deps, namespace, req, {
    version: version.id,
    generation: await generation,
    model: searchDeps.embedder.model,
    cursor: options.cursor,
  });
  // Facets are the same for every page of a query: counted and answered on the first one only.
  const { facets, ...rest } = req;
  const page: SearchRequest = {
    ...rest,
    offset: paging.offset,
    ...(paging.offset === 0 && facets ? { facets } : {}),
  };
  const compute = async () => {
    const response = await search(searchDeps, namespace, page);
    timer.add(response.timings);
    const body: PageBody = { results: response.results, version: response.version, more: response.more };
    if (response.facets) Object.assign(body, { facets: response.facets, facetScope: response.facetScope });
    return { body, degraded: response.degraded, expiresAt: response.expiresAt };
  };
  // The cache stage is the lookup (and, on a miss, the store) without the search it wraps.
  const answer = await timer.stage("cache", () =>
    cachedSearch<PageBody>(
      { ...cache, generation },
      { namespace, version: version.id },
      cacheKeyRequest(page, deps.settings, searchDeps.embedder.model),
      bypassCache,
      () => timer.excluding("cache", compute),
    ),
  );
  const { more, ...body } = answer.body;
  const nextCursor = more ? await paging.next(page.topK) : undefined;
  return {
    ...body,
    offset: paging.offset,
    outcome: answer.outcome,
    degraded: answer.degraded,
    ...(nextCursor ? { nextCursor } : {}),
  };
}

/**
 * What a cached answer depends on besides namespace, version and generation: the request, the
 * retrieval settings (a configuration change never serves old answers) and the query model.
 */
function cacheKeyRequest(req: SearchRequest, settings: SearchSettings, model: string) {
  const { query, topK, offset, filter, mode, rerank, groupBy, includeText, highlight, facets, prefix } = req;
  // Highlight and facet options and prefix only when asked for: keys of requests without them stay as they were.
  const shown = {
    ...(highlight ? { highlight } : {}),
    ...(facets ? { facets } : {}),
    ...(prefix ? { prefix: true } : {}),
  };
  return normalizedRequest({
    query,
    topK,
    // The page's position: always present, so keys of answers cached before pages existed
    // (which cannot say whether more follow) are never read.
    offset: offset ?? 0,
    filter,
    mode,
    rerank,
    groupBy,
    includeText,
    ...shown,
    // An explained answer holds each result's legs: its own key. Undefined is left out of the key
    // (canonicalJson), so keys without explain stay as they were.
    explain: req.explain ? true : undefined,
    settings,
    model,
  });
}
