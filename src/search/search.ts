// A search request end to end: retrieve candidates (vector, keyword or both fused), hydrate
// them from D1, filter and group by document, optionally rerank the head, cut to topK. Stage
// timings come back for Server-Timing; what could not be done comes back in `degraded`.
import type { Embedder } from "../embed/embedder";
import { AppError, errorMessage, isRetryable } from "../errors";
import type { Logger } from "../observe/logger";
import type { Reranker } from "../rerank/reranker";
import { type GuardContext, guardedCall } from "../resilience/guard";
import type { D1Like } from "../store/d1";
import type { DocumentStore, HydratedChunk } from "../store/documents";
import { keywordSearch } from "../store/keyword";
import { DOC_ID_FIELD, type Metadata } from "../validation";
import { matchesFilter } from "../vectors/filter";
import { getVectors } from "../vectors/paging";
import type { MetadataFilter, VectorIndex } from "../vectors/vector-index";
import { VECTORIZE_LIMITS } from "../vectors/vector-index";
import { DEFAULT_VERSION, vectorNamespace } from "../versions/model";
import { type Ranked, reciprocalRankFusion } from "./fusion";

export type SearchMode = "hybrid" | "vector" | "keyword";

export interface SearchRequest {
  query: string;
  topK: number;
  filter?: MetadataFilter;
  mode: SearchMode;
  groupBy: "document" | "chunk";
  includeText: boolean;
  /** Reorder the first-stage head with the reranker. */
  rerank?: boolean;
}

export interface SearchResult {
  id: string;
  chunkId: string;
  score: number;
  title?: string;
  text?: string;
  headings?: string[];
  metadata: Metadata;
}

export interface SearchResponse {
  results: SearchResult[];
  version: string;
  timings: Record<string, number>;
  /** Why the answer is less than was asked for, e.g. "rerank_unavailable". */
  degraded: string[];
}

/** How retrieval is tuned (config vars HYBRID_* and RERANK_CANDIDATES). */
export interface SearchSettings {
  /** Reciprocal rank fusion's k. */
  rrfK: number;
  /** Weights of the vector and keyword rankings in hybrid fusion. */
  vectorWeight: number;
  keywordWeight: number;
  /**
   * Chunks each leg brings to hybrid fusion, whatever topK is: a document ranked 40th by both
   * legs can beat one ranked 5th by one leg only, and a user's top 10 must not depend on whether
   * they asked for 10 or 100.
   */
  fusionCandidates: number;
  /** First-stage results the reranker reorders; the rest follow in first-stage order. */
  rerankCandidates: number;
}

export const DEFAULT_SEARCH_SETTINGS: SearchSettings = {
  rrfK: 60,
  vectorWeight: 1,
  keywordWeight: 1,
  fusionCandidates: 100,
  rerankCandidates: 50,
};

export interface SearchDeps {
  embedder: Embedder;
  index: VectorIndex;
  store: DocumentStore;
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
}

export const RERANK_UNAVAILABLE = "rerank_unavailable";
export const EMBEDDING_UNAVAILABLE = "embedding_unavailable";
export const VECTOR_UNAVAILABLE = "vector_index_unavailable";
export const KEYWORD_UNAVAILABLE = "keyword_unavailable";
export const TEXT_UNAVAILABLE = "text_unavailable";

/** Keyword retrieval, through the D1 breaker and retries when the caller provides them. */
function keyword(
  deps: SearchDeps,
  namespace: string,
  query: string,
  limit: number,
  filter: MetadataFilter | undefined,
  hydrate: number,
) {
  const call = () =>
    keywordSearch(deps.db, namespace, query, limit, filter, deps.version ?? DEFAULT_VERSION, hydrate);
  return deps.guard ? guardedCall("d1", "keywordSearch", deps.guard, call) : call();
}

/**
 * Chunks described from the vector index alone, for when D1 cannot hydrate: the document id
 * and metadata ride on every vector; text and titles do not.
 */
async function hydrateFromIndex(index: VectorIndex, ids: string[]): Promise<Map<string, HydratedChunk>> {
  const out = new Map<string, HydratedChunk>();
  for (const v of await getVectors(index, ids)) {
    const { [DOC_ID_FIELD]: docId, ...metadata } = v.metadata ?? {};
    if (typeof docId !== "string") continue;
    out.set(v.id, { chunkId: v.id, docId, index: -1, title: null, headings: [], text: "", metadata });
  }
  return out;
}

/** How many chunk candidates to fetch for topK results: grouping by document needs spares. */
export function candidateCount(topK: number, groupBy: SearchRequest["groupBy"]): number {
  const wanted = groupBy === "document" ? Math.max(topK * 3, 20) : topK;
  return Math.min(VECTORIZE_LIMITS.maxTopK, wanted);
}

/** A result before it is cut to the response shape: the hydrated chunk and its current score. */
interface Candidate {
  chunk: HydratedChunk;
  score: number;
}

export async function search(
  deps: SearchDeps,
  namespace: string,
  req: SearchRequest,
): Promise<SearchResponse> {
  const settings = deps.settings ?? DEFAULT_SEARCH_SETTINGS;
  const version = deps.version ?? DEFAULT_VERSION;
  const timings: Record<string, number> = {};
  const degraded: string[] = [];
  const timed = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[stage] = performance.now() - t0;
    }
  };
  // Enough results for the reranker to choose from, and enough chunks to fill them.
  const wanted = req.rerank ? Math.max(req.topK, settings.rerankCandidates) : req.topK;
  let perLeg = candidateCount(wanted, req.groupBy);
  if (req.mode === "hybrid") {
    perLeg = Math.max(perLeg, Math.min(settings.fusionCandidates, VECTORIZE_LIMITS.maxTopK));
  }

  // A failing dependency degrades the answer instead of failing it (README, "Failure handling"): each
  // leg returns null when its dependency is unavailable, and says why in `degraded`.
  const unavailable = (reason: string, err: unknown): null => {
    if (!isRetryable(err)) throw err;
    degraded.push(reason);
    deps.logger.warn("search.degraded", { reason, error: errorMessage(err) });
    return null;
  };
  const vectorLeg = async (): Promise<Ranked[] | null> => {
    let vector: Float32Array | undefined;
    try {
      [vector] = await timed("embed", () => deps.embedder.embed([req.query], "query"));
    } catch (err) {
      return unavailable(EMBEDDING_UNAVAILABLE, err);
    }
    if (!vector) return [];
    const query = vector;
    try {
      const vectorNs = await vectorNamespace(namespace, version);
      const result = await timed("vector", () =>
        deps.index.query(query, {
          topK: perLeg,
          namespace: vectorNs,
          filter: req.filter,
          returnMetadata: "none",
        }),
      );
      return result.matches;
    } catch (err) {
      return unavailable(VECTOR_UNAVAILABLE, err);
    }
  };
  // Chunks the keyword leg brought with its best hits: hydration skips them.
  const prehydrated = new Map<string, HydratedChunk>();
  const window = firstHydrateWindow(wanted, req.groupBy);
  const { limit: keywordLimit, withChunks } =
    req.mode === "hybrid" ? keywordDepth(window, perLeg, settings) : { limit: perLeg, withChunks: window };
  const keywordLeg = async (limit: number): Promise<Ranked[] | null> => {
    try {
      const hits = await timed("keyword", () =>
        keyword(deps, namespace, req.query, limit, req.filter, withChunks),
      );
      for (const h of hits) if (h.chunk) prehydrated.set(h.chunkId, h.chunk);
      return hits.map((h) => ({ id: h.chunkId, score: h.score }));
    } catch (err) {
      return unavailable(KEYWORD_UNAVAILABLE, err);
    }
  };

  const fuse = (vector: Ranked[] | null, keyword: Ranked[] | null): Ranked[] | null => {
    const t0 = performance.now();
    try {
      if (vector === null) return keyword;
      if (keyword === null) return vector;
      return reciprocalRankFusion([vector, keyword], {
        k: settings.rrfK,
        weights: [settings.vectorWeight, settings.keywordWeight],
      });
    } finally {
      timings.fuse = performance.now() - t0;
    }
  };

  let ranked: Ranked[] | null;
  /**
   * Set when the keyword leg stopped at keywordLimit with hits to spare: ranks with the whole leg
   * (and keeps that ranking in `ranked` for the fallback below).
   */
  let rankWhole: (() => Promise<Ranked[]>) | undefined;
  if (req.mode === "vector") ranked = (await vectorLeg()) ?? (await keywordLeg(perLeg));
  else if (req.mode === "keyword") ranked = (await keywordLeg(perLeg)) ?? (await vectorLeg());
  else {
    // A leg weighted 0 cannot change the fusion: skip its work.
    const [vector, keyword] = await Promise.all([
      settings.vectorWeight > 0 ? vectorLeg() : [],
      settings.keywordWeight > 0 ? keywordLeg(keywordLimit) : [],
    ]);
    ranked = fuse(vector, keyword);
    if (keyword !== null && keywordLimit < perLeg && keyword.length === keywordLimit) {
      // If the whole leg cannot be read, the cut one still ranks what it holds.
      rankWhole = async () => {
        ranked = fuse(vector, (await keywordLeg(perLeg)) ?? keyword) ?? keyword;
        return ranked;
      };
    }
  }
  if (ranked === null) {
    throw new AppError("unavailable", "search is unavailable: no retrieval path answered", {
      retryable: true,
      extra: { retryAfter: 5, degraded },
    });
  }

  let candidates: Candidate[];
  try {
    const fused = ranked;
    candidates = await timed("hydrate", () =>
      hydrateRanked(deps.store, namespace, fused, req, wanted, window, prehydrated, rankWhole),
    );
  } catch (err) {
    unavailable(TEXT_UNAVAILABLE, err);
    const ids = ranked.slice(0, wanted * 2).map((r) => r.id);
    const chunks = await timed("hydrate", () => hydrateFromIndex(deps.index, ids));
    candidates = collect(ranked, chunks, req, wanted);
  }
  if (req.rerank && degraded.includes(TEXT_UNAVAILABLE)) degraded.push(RERANK_UNAVAILABLE);
  else if (req.rerank) {
    const reranked = await rerankHead(deps, req.query, candidates, settings.rerankCandidates, timings);
    if (reranked) candidates = reranked;
    else degraded.push(RERANK_UNAVAILABLE);
  }
  const results = candidates.slice(0, req.topK).map((c) => toResult(c, req.includeText));
  return { results, version, timings, degraded };
}

/**
 * The first `depth` candidates in the reranker's order (its scores replace theirs), the rest
 * after them unchanged; null when there is no reranker or it failed, so the caller answers in
 * first-stage order and says so.
 */
async function rerankHead(
  deps: SearchDeps,
  query: string,
  candidates: Candidate[],
  depth: number,
  timings: Record<string, number>,
): Promise<Candidate[] | null> {
  const reranker = deps.reranker;
  if (!reranker) return null;
  const head = candidates.slice(0, depth);
  if (head.length === 0) return candidates;
  const t0 = performance.now();
  try {
    const scores = await reranker.rerank(query, head.map(rerankText));
    const rescored = head.map((c, i) => ({ candidate: c, score: scores[i] ?? Number.NEGATIVE_INFINITY, i }));
    // Equal scores keep first-stage order.
    rescored.sort((a, b) => b.score - a.score || a.i - b.i);
    return [
      ...rescored.map(({ candidate, score }) => ({ chunk: candidate.chunk, score })),
      ...candidates.slice(depth),
    ];
  } catch (err) {
    deps.logger.warn("search.rerank_failed", { model: reranker.model, error: errorMessage(err) });
    return null;
  } finally {
    timings.rerank = performance.now() - t0;
  }
}

/** What the reranker reads of a chunk: the document's title, then the chunk's text. */
export function rerankText(candidate: Candidate): string {
  const { title, text } = candidate.chunk;
  return title ? `${title}\n${text}` : text;
}

/**
 * The best `wanted` candidates with their chunks, hydrating the ranking head first and further
 * windows only while some ranked chunks turn out to be gone or grouped away: a hybrid ranking
 * holds up to 200 chunks and an answer usually needs 10, and reading every chunk's text was
 * most of a search's D1 time. Chunks in `known` (the keyword leg's best hits) are not read again.
 */
async function hydrateRanked(
  store: SearchDeps["store"],
  namespace: string,
  ranked: Ranked[],
  req: SearchRequest,
  wanted: number,
  firstWindow: number,
  known: ReadonlyMap<string, HydratedChunk>,
  /**
   * When `ranked` is final in its first window only (a cut keyword leg): the whole ranking, whose
   * first window is the same, asked for when the answer needs more.
   */
  rankWhole?: () => Promise<Ranked[]>,
): Promise<Candidate[]> {
  const chunks = new Map(known);
  let list = ranked;
  let whole = rankWhole;
  let window = firstWindow;
  let fetched = 0;
  for (;;) {
    const ids = list
      .slice(fetched, fetched + window)
      .map((r) => r.id)
      .filter((id) => !chunks.has(id));
    fetched = Math.min(list.length, fetched + window);
    if (ids.length > 0) for (const [id, chunk] of await store.hydrate(namespace, ids)) chunks.set(id, chunk);
    const candidates = collect(list.slice(0, fetched), chunks, req, wanted);
    if (candidates.length >= wanted) return candidates;
    if (whole !== undefined) {
      list = await whole();
      whole = undefined;
    } else if (fetched >= list.length) return candidates;
    window *= 2;
  }
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

/** Drops candidates without a live chunk (deleted, or not yet committed), filters, groups, cuts. */
function collect(
  ranked: Ranked[],
  chunks: Map<string, HydratedChunk>,
  req: SearchRequest,
  limit: number,
): Candidate[] {
  const out: Candidate[] = [];
  const seenDocs = new Set<string>();
  for (const r of ranked) {
    const chunk = chunks.get(r.id);
    if (!chunk) continue;
    if (req.filter && !matchesFilter(chunk.metadata, req.filter)) continue;
    if (req.groupBy === "document") {
      // Candidates arrive best first, so the first chunk seen of a document is its best.
      if (seenDocs.has(chunk.docId)) continue;
      seenDocs.add(chunk.docId);
    }
    out.push({ chunk, score: r.score });
    if (out.length >= limit) break;
  }
  return out;
}

function toResult({ chunk, score }: Candidate, includeText: boolean): SearchResult {
  const result: SearchResult = { id: chunk.docId, chunkId: chunk.chunkId, score, metadata: chunk.metadata };
  if (chunk.title) result.title = chunk.title;
  // Without D1 (text_unavailable) chunks have no text to include.
  if (includeText && chunk.text !== "") {
    result.text = chunk.text;
    if (chunk.headings.length > 0) result.headings = chunk.headings;
  }
  return result;
}
