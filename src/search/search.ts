// A search request end to end: retrieve candidates (vector, keyword or both fused), hydrate
// them from D1, group by document, cut to topK. Stage timings come back for Server-Timing.
import type { Embedder } from "../embed/embedder";
import type { Logger } from "../observe/logger";
import type { DocumentStore, HydratedChunk } from "../store/documents";
import { keywordSearch } from "../store/keyword";
import type { Metadata } from "../validation";
import { matchesFilter } from "../vectors/filter";
import type { MetadataFilter, VectorIndex } from "../vectors/vector-index";
import { VECTORIZE_LIMITS } from "../vectors/vector-index";
import { DEFAULT_VERSION, vectorNamespace } from "../versions";
import { type Ranked, reciprocalRankFusion } from "./fusion";

export type SearchMode = "hybrid" | "vector" | "keyword";

export interface SearchRequest {
  query: string;
  topK: number;
  filter?: MetadataFilter;
  mode: SearchMode;
  groupBy: "document" | "chunk";
  includeText: boolean;
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
}

export interface SearchDeps {
  embedder: Embedder;
  index: VectorIndex;
  store: DocumentStore;
  db: D1Database;
  logger: Logger;
}

const RRF_K = 60;

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
  const timings: Record<string, number> = {};
  const timed = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[stage] = performance.now() - t0;
    }
  };
  const candidates = candidateCount(req.topK, req.groupBy);

  const vectorLeg = async (): Promise<Ranked[]> => {
    const [vector] = await timed("embed", () => deps.embedder.embed([req.query], "query"));
    if (!vector) return [];
    const result = await timed("vector", () =>
      deps.index.query(vector, {
        topK: candidates,
        namespace: vectorNamespace(namespace),
        filter: req.filter,
        returnMetadata: "none",
      }),
    );
    return result.matches.map((m) => ({ id: m.id, score: m.score }));
  };
  // Keyword hits are filtered after hydration (metadata lives in D1 as JSON), so fetch spares.
  const keywordLeg = (): Promise<Ranked[]> =>
    timed("keyword", () =>
      keywordSearch(deps.db, namespace, req.query, req.filter ? VECTORIZE_LIMITS.maxTopK : candidates),
    ).then((hits) => hits.map((h) => ({ id: h.chunkId, score: h.score })));

  let ranked: Ranked[];
  if (req.mode === "vector") ranked = await vectorLeg();
  else if (req.mode === "keyword") ranked = await keywordLeg();
  else {
    const [vector, keyword] = await Promise.all([vectorLeg(), keywordLeg()]);
    const t0 = performance.now();
    ranked = reciprocalRankFusion([vector, keyword], RRF_K);
    timings.fuse = performance.now() - t0;
  }

  const chunks = await timed("hydrate", () =>
    deps.store.hydrate(
      namespace,
      ranked.map((r) => r.id),
    ),
  );
  const results = assemble(ranked, chunks, req);
  return { results, version: DEFAULT_VERSION, timings };
}

/** Drops candidates without a live chunk (deleted, or not yet committed), filters, groups, cuts. */
export function assemble(
  ranked: Ranked[],
  chunks: Map<string, HydratedChunk>,
  req: SearchRequest,
): SearchResult[] {
  const out: SearchResult[] = [];
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
    const result: SearchResult = {
      id: chunk.docId,
      chunkId: chunk.chunkId,
      score: r.score,
      metadata: chunk.metadata,
    };
    if (chunk.title) result.title = chunk.title;
    if (req.includeText) {
      result.text = chunk.text;
      if (chunk.headings.length > 0) result.headings = chunk.headings;
    }
    out.push(result);
    if (out.length >= req.topK) break;
  }
  return out;
}
