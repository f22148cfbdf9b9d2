// A search of one index version, as stages: retrieve candidates (vector, keyword or both fused),
// hydrate them from D1, filter and group by document, optionally rerank the head, cut to topK.
// Each stage is timed by the timer and says what it could not do through the degradations
// collector; both come back in the answer (`timings` for Server-Timing, `degraded`).
import type { Embedder } from "../embed/embedder";
import { AppError } from "../errors";
import type { Logger } from "../observe/logger";
import type { Reranker } from "../rerank/reranker";
import type { GuardContext } from "../resilience/guard";
import type { D1Like } from "../store/d1";
import type { DocumentStore } from "../store/documents";
import type { VectorIndex } from "../vectors/vector-index";
import { VECTORIZE_LIMITS } from "../vectors/vector-index";
import { DEFAULT_VERSION } from "../versions/model";
import { createDegradations } from "./degradations";
import { type Explain, explainer } from "./explain";
import { startFacets } from "./facets";
import { type Candidate, earliestExpiry, type HydrationPlan, hydrate } from "./hydrate";
import {
  DEFAULT_SEARCH_SETTINGS,
  MAX_RESULTS,
  type SearchRequest,
  type SearchResponse,
  type SearchResult,
  type SearchSettings,
} from "./request";
import { rerank } from "./rerank";
import { type RetrievalPlan, retrieve } from "./retrieve";
import { type HighlightOptions, type QueryMatch, queryMatch, snippetOf } from "./snippet";
import { type Clock, createTimer, monotonicClock } from "./timer";

export type { SearchMode } from "./request";
export {
  DEFAULT_SEARCH_SETTINGS,
  type SearchRequest,
  type SearchResponse,
  type SearchResult,
  type SearchSettings,
};

/** What searching one version reads; workers/services.ts builds it from the request's services. */
export interface SearchDeps {
  /** The version's embedder (query vectors). */
  embedder: Embedder;
  /** The version's vector index (vector leg; chunk descriptions when D1 is unavailable). */
  index: VectorIndex;
  /** Hydration. */
  store: Pick<DocumentStore, "hydrate">;
  /** Keyword retrieval. */
  db: D1Like;
  logger: Logger;
  /** Absent: rerank requests are answered unreranked, with "rerank_unavailable". */
  reranker?: Reranker;
  /** Breakers and retries for calls made here directly (keyword search over D1). */
  guard?: GuardContext;
  settings?: SearchSettings;
  /**
   * The version to search (its vectors, chunks and keyword index); the embedder and index must be
   * that version's. Defaults to the default version.
   */
  version?: string;
  /** Times the stages; performance.now() by default. */
  clock?: Clock;
}

/** How many chunk candidates to fetch for topK results: grouping by document needs spares. */
export function candidateCount(topK: number, groupBy: SearchRequest["groupBy"]): number {
  const wanted = groupBy === "document" ? Math.max(topK * 3, 20) : topK;
  return Math.min(VECTORIZE_LIMITS.maxTopK, wanted);
}

export async function search(
  deps: SearchDeps,
  namespace: string,
  req: SearchRequest,
): Promise<SearchResponse> {
  const settings = deps.settings ?? DEFAULT_SEARCH_SETTINGS;
  const scope = { namespace, version: deps.version ?? DEFAULT_VERSION };
  const ctx = {
    timer: createTimer(deps.clock ?? monotonicClock),
    degradations: createDegradations(deps.logger),
  };
  const { retrieval, hydration } = searchPlan(req, settings);
  const retrieveDeps = { ...deps, settings, titleWeight: settings.titleWeight };
  const facets = req.facets ? startFacets(retrieveDeps, ctx, scope, req, retrieval.perLeg) : null;
  const retrieved = await retrieve(retrieveDeps, ctx, {
    scope,
    req,
    plan: retrieval,
    ...(facets ? { facets: facets.retrieval } : {}),
  });
  if (retrieved === null) {
    throw new AppError("unavailable", "search is unavailable: no retrieval path answered", {
      retryable: true,
      extra: { retryAfter: 5, degraded: ctx.degradations.list() },
    });
  }
  // Facets read nothing hydration reads: both at once.
  const [hydrated, faceted] = await Promise.all([
    hydrate(deps, ctx, namespace, retrieved, req, hydration),
    facets ? facets.counts(retrieved) : null,
  ]);
  const candidates = req.rerank
    ? await rerank(deps, ctx, req.query, hydrated, settings.rerankCandidates)
    : hydrated;
  const highlight = req.highlight && { options: req.highlight, terms: queryMatch(req.query, req.prefix) };
  const offset = req.offset ?? 0;
  const page = candidates.slice(offset, offset + req.topK);
  const explain = req.explain && retrieved.legs ? explainer(retrieved.legs) : undefined;
  return {
    results: page.map((c) => toResult(c, req.includeText, highlight, explain)),
    version: scope.version,
    more: candidates.length > offset + req.topK,
    timings: ctx.timer.timings(),
    degraded: ctx.degradations.list(),
    ...faceted,
    ...earliestExpiry(candidates),
  };
}

/**
 * How deep each stage reads for this request. Retrieval reads as deep as the deepest page
 * (MAX_RESULTS), whatever the page: every page of a query is then a slice of one ranking, the one
 * a request for MAX_RESULTS answers. Hydration reads only as far as the page's end, and one result
 * further to tell whether another page follows.
 */
export function searchPlan(
  req: SearchRequest,
  settings: SearchSettings,
): { retrieval: RetrievalPlan; hydration: HydrationPlan } {
  const end = (req.offset ?? 0) + req.topK;
  const lookahead = end < MAX_RESULTS ? 1 : 0;
  // Enough results for the reranker to choose from, and enough chunks to fill them.
  const wanted = req.rerank ? Math.max(end + lookahead, settings.rerankCandidates) : end + lookahead;
  const perLeg = candidateCount(MAX_RESULTS, req.groupBy);
  const window = firstHydrateWindow(req.rerank ? wanted : end, req.groupBy);
  const keyword =
    req.mode === "hybrid" ? keywordDepth(window, perLeg, settings) : { limit: perLeg, withChunks: window };
  return {
    retrieval: { perLeg, keywordLimit: keyword.limit, withChunks: keyword.withChunks },
    hydration: { wanted, window },
  };
}

/**
 * Chunks hydrated first for `wanted` results. Grouping by document needs spares; a few more than
 * asked for covers chunks deleted since the legs ranked them, which would otherwise cost a second
 * round trip.
 */
function firstHydrateWindow(wanted: number, groupBy: SearchRequest["groupBy"]): number {
  return Math.max(candidateCount(wanted, groupBy), wanted + HYDRATE_SPARES);
}

const HYDRATE_SPARES = 5;

/**
 * How deep the keyword leg reads in hybrid mode, and how many of its best hits bring their chunk.
 * Ranks past keywordReach cannot enter the first hydration window: the leg stops there, every hit
 * with its chunk so that hydrating the window needs no D1 round trip of its own, and deeper ranks
 * are read only when that window does not fill the answer. When any rank can get there
 * (comparable weights), the leg reads `perLeg` hits and the window's bring their chunks:
 * vector-only candidates need the round trip anyway.
 */
export function keywordDepth(
  window: number,
  perLeg: number,
  settings: SearchSettings,
): { limit: number; withChunks: number } {
  const reach = keywordReach(window, settings);
  if (reach === null) return { limit: perLeg, withChunks: window };
  const limit = Math.min(perLeg, reach);
  return { limit, withChunks: limit };
}

/**
 * The deepest keyword rank that fusion can place in the first `window` places, or null when any
 * rank can get there (the vector leg's weight is comparable). Keyword rank r fuses to at most
 * kw/(k+r) + vw/(k+1), and when the keyword leg returns at least `window` hits the window's last
 * place scores at least kw/(k+window), which ranks past the bound never reach. Never below
 * `window`.
 */
export function keywordReach(window: number, settings: SearchSettings): number | null {
  const { rrfK: k, keywordWeight: kw, vectorWeight: vw } = settings;
  const margin = kw / (k + window) - vw / (k + 1);
  if (!(kw > 0) || !(margin > 0)) return null;
  return Math.max(window, Math.floor(kw / margin - k));
}

export function toResult(
  candidate: Candidate,
  includeText: boolean,
  highlight?: { options: HighlightOptions; terms: QueryMatch },
  explain?: Explain,
): SearchResult {
  const { chunk, score } = candidate;
  const result: SearchResult = { id: chunk.docId, chunkId: chunk.chunkId, score, metadata: chunk.metadata };
  if (chunk.title) result.title = chunk.title;
  // Without D1 (text_unavailable) chunks have no text to include.
  if (includeText && chunk.text !== "") {
    result.text = chunk.text;
    if (chunk.headings.length > 0) result.headings = chunk.headings;
  }
  // Snippets come from the hydrated text whether or not the text itself is answered.
  if (highlight) Object.assign(result, snippetOf(chunk.text, highlight.terms, highlight.options));
  if (explain) result.legs = explain(candidate);
  return result;
}
