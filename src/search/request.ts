// What a search asks for and answers, and how retrieval is tuned: the types every search stage
// (retrieve, hydrate, rerank) and the search use case share.
import type { FacetValues } from "../store/facets";
import { DEFAULT_TITLE_WEIGHT } from "../store/keyword-rank";
import type { Metadata } from "../validation";
import { type MetadataFilter, VECTORIZE_LIMITS } from "../vectors/vector-index";
import type { ResultLegs } from "./explain";
import type { HighlightOptions, Snippet } from "./snippet";
import type { StageTimings } from "./timer";

export type SearchMode = "hybrid" | "vector" | "keyword";

/**
 * The deepest result a search reaches, over all its pages: a leg brings at most Vectorize's
 * topK without values or metadata (100, VECTORIZE_LIMITS.maxTopK), so no ranking is deeper.
 */
export const MAX_RESULTS = VECTORIZE_LIMITS.maxTopK;

export interface SearchRequest {
  query: string;
  /** Results on the page. */
  topK: number;
  /** Results of the ranking before the page (0: the first page); offset + topK <= MAX_RESULTS. */
  offset?: number;
  filter?: MetadataFilter;
  mode: SearchMode;
  groupBy: "document" | "chunk";
  includeText: boolean;
  /** Reorder the first-stage head with the reranker. */
  rerank?: boolean;
  /** Give each result a snippet with the query's words marked. */
  highlight?: HighlightOptions;
  /** Count documents per value of these fields (src/search/facets.ts). */
  facets?: FacetRequest;
  /** Match the query's last word as a prefix in the keyword leg (as-you-type search). */
  prefix?: boolean;
  /** Give each result its legs' ranks and scores (src/search/explain.ts); the ranking is the same. */
  explain?: boolean;
}

export interface FacetRequest {
  /** Filterable metadata fields, each once. */
  fields: string[];
  /** Values answered per field. */
  limit: number;
}

/** Field -> its most frequent values. */
export type Facets = Record<string, FacetValues>;

/**
 * What the counts cover: every keyword match (with the vector candidates in hybrid mode), the
 * best FACET_LIMITS.maxMatches of them when the query matched more, or the vector candidates.
 */
export type FacetScope = "all-matches" | "best-matches" | "candidates";

export interface SearchResult {
  id: string;
  chunkId: string;
  score: number;
  title?: string;
  text?: string;
  headings?: string[];
  metadata: Metadata;
  snippet?: Snippet["snippet"];
  highlights?: Snippet["highlights"];
  snippetTruncated?: Snippet["snippetTruncated"];
  snippetHtml?: string;
  /** With explain. */
  legs?: ResultLegs;
}

export interface SearchResponse {
  results: SearchResult[];
  version: string;
  /** Whether the ranking holds results after this page. */
  more: boolean;
  timings: StageTimings;
  /** Why the answer is less than was asked for, e.g. "rerank_unavailable". */
  degraded: string[];
  /** When facets were asked for and could be counted. */
  facets?: Facets;
  facetScope?: FacetScope;
  /** The earliest expiry (epoch ms) among the answer's documents: a cached copy lives no longer. */
  expiresAt?: number;
}

/** How retrieval is tuned (config vars HYBRID_* and RERANK_CANDIDATES). */
export interface SearchSettings {
  /** Reciprocal rank fusion's k. */
  rrfK: number;
  /** Weights of the vector and keyword rankings in hybrid fusion. */
  vectorWeight: number;
  keywordWeight: number;
  /** First-stage results the reranker reorders; the rest follow in first-stage order. */
  rerankCandidates: number;
  /** bm25() weight of a title match in the keyword leg (a body match weighs 1). */
  titleWeight: number;
}

export const DEFAULT_SEARCH_SETTINGS: SearchSettings = {
  rrfK: 60,
  vectorWeight: 1,
  keywordWeight: 1,
  rerankCandidates: 50,
  titleWeight: DEFAULT_TITLE_WEIGHT,
};
