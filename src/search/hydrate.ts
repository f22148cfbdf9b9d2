// Hydration: the ranking's chunk ids become candidates with their chunks, read from D1 (or, when
// D1 is unavailable, described from the vector index without their text), then filtered and
// grouped by document.
import type { DocumentStore, HydratedChunk } from "../store/documents";
import { DOC_ID_FIELD } from "../validation";
import { matchesFilter } from "../vectors/filter";
import { getVectors } from "../vectors/paging";
import type { VectorIndex } from "../vectors/vector-index";
import { TEXT_UNAVAILABLE } from "./degradations";
import type { Ranked } from "./fusion";
import type { SearchRequest } from "./request";
import type { Retrieved, StageContext } from "./retrieve";

/** A result before it is cut to the response shape: the hydrated chunk and its current score. */
export interface Candidate {
  chunk: HydratedChunk;
  score: number;
  /** Set when the reranker rescored the candidate (`score` is then the reranker's): the first-stage score. */
  fused?: number;
}

export interface HydrateDeps {
  store: Pick<DocumentStore, "hydrate">;
  /** Describes chunks when D1 cannot. */
  index: VectorIndex;
}

export interface HydrationPlan {
  /** Candidates wanted (topK, or the reranker's depth). */
  wanted: number;
  /** Chunks read in the first round trip. */
  window: number;
}

type CandidateFilter = Pick<SearchRequest, "filter" | "groupBy">;

/** D1 failed: the error, and the ranking hydration had reached (the whole one if it got there). */
interface HydrationFailed {
  failed: unknown;
  ranked: Ranked[];
}

/**
 * The best `plan.wanted` candidates. When D1 is unavailable the chunks come from the vector
 * index, without text or titles, and the answer says text_unavailable.
 */
export async function hydrate(
  deps: HydrateDeps,
  ctx: StageContext,
  namespace: string,
  retrieved: Retrieved,
  req: CandidateFilter,
  plan: HydrationPlan,
): Promise<Candidate[]> {
  const read = await ctx.timer.stage("hydrate", () =>
    hydrateRanked(deps.store, namespace, retrieved, req, plan),
  );
  if (Array.isArray(read)) return read;
  ctx.degradations.absorb(TEXT_UNAVAILABLE, read.failed);
  const ids = read.ranked.slice(0, plan.wanted * 2).map((r) => r.id);
  const chunks = await ctx.timer.stage("hydrate", () => hydrateFromIndex(deps.index, ids));
  return collect(read.ranked, chunks, req, plan.wanted);
}

/**
 * The best `wanted` candidates with their chunks, hydrating the ranking head first and further
 * windows only while some ranked chunks turn out to be gone or grouped away: a hybrid ranking
 * holds up to 200 chunks and an answer usually needs 10, and reading every chunk's text was
 * most of a search's D1 time. Chunks the keyword leg brought are not read again.
 */
async function hydrateRanked(
  store: HydrateDeps["store"],
  namespace: string,
  retrieved: Retrieved,
  req: CandidateFilter,
  plan: HydrationPlan,
): Promise<Candidate[] | HydrationFailed> {
  const chunks = new Map(retrieved.known);
  let list = retrieved.ranked;
  let whole = retrieved.rankWhole;
  let window = plan.window;
  let fetched = 0;
  for (;;) {
    const ids = list
      .slice(fetched, fetched + window)
      .map((r) => r.id)
      .filter((id) => !chunks.has(id));
    fetched = Math.min(list.length, fetched + window);
    if (ids.length > 0) {
      try {
        for (const [id, chunk] of await store.hydrate(namespace, ids)) chunks.set(id, chunk);
      } catch (failed) {
        return { failed, ranked: list };
      }
    }
    const candidates = collect(list.slice(0, fetched), chunks, req, plan.wanted);
    if (candidates.length >= plan.wanted) return candidates;
    if (whole !== undefined) {
      list = await whole();
      whole = undefined;
    } else if (fetched >= list.length) return candidates;
    window *= 2;
  }
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

/** The earliest expiry among the candidates' documents, if any expires (for the result cache). */
export function earliestExpiry(candidates: readonly { chunk: Pick<HydratedChunk, "expiresAt"> }[]): {
  expiresAt?: number;
} {
  let earliest: number | undefined;
  for (const { chunk } of candidates) {
    if (chunk.expiresAt !== undefined && (earliest === undefined || chunk.expiresAt < earliest))
      earliest = chunk.expiresAt;
  }
  return earliest === undefined ? {} : { expiresAt: earliest };
}

/** Drops candidates without a live chunk (deleted, or not yet committed), filters, groups, cuts. */
function collect(
  ranked: Ranked[],
  chunks: ReadonlyMap<string, HydratedChunk>,
  req: CandidateFilter,
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
