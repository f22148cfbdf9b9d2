// Documents similar to a stored one: the mean of the document's own chunk vectors (read back from
// the active version's index, never embedded again) queries that index in the namespace, the
// document's own chunks are dropped, and the rest is hydrated, filtered and grouped as a search.
// Answers go through the result cache like searches, keyed by the document id and the
// namespace's write generation (bumped by every commit, this document's included).
import { cachedSearch } from "../cache/cached-search";
import { canonicalJson } from "../cache/keys";
import { AppError } from "../errors";
import { chunkIdPrefix } from "../ingest/ids";
import { guardedCall } from "../resilience/guard";
import { d1 } from "../store/d1";
import { getVectors } from "../vectors/paging";
import { type MetadataFilter, VECTORIZE_LIMITS, type VectorRecord } from "../vectors/vector-index";
import { type VersionSpec, vectorNamespace, versionChunkPrefix } from "../versions/model";
import { type AnswerSearchDeps, namespaceGeneration, type SearchAnswer, versionSearchDeps } from "./answer";
import { createDegradations } from "./degradations";
import { explainer } from "./explain";
import { earliestExpiry, hydrate } from "./hydrate";
import { DEFAULT_SEARCH_SETTINGS, type SearchRequest } from "./request";
import type { StageContext } from "./retrieve";
import { type SearchDeps, searchPlan, toResult } from "./search";
import { createTimer, monotonicClock, type Timer } from "./timer";

export interface SimilarRequest {
  /** The document to find others like. */
  id: string;
  topK: number;
  filter?: MetadataFilter;
  groupBy: SearchRequest["groupBy"];
  includeText: boolean;
  /** Give each result its vector rank and score (src/search/explain.ts). */
  explain?: boolean;
}

/**
 * Chunks whose vectors make the query: a document's first 20, one getByIds call (Vectorize returns
 * at most 20 ids per call: VECTORIZE_LIMITS.maxGetBatch). Later chunks of a longer document do
 * not shape the query; they are still never among its results.
 */
export const SIMILAR_MAX_CHUNKS = VECTORIZE_LIMITS.maxGetBatch;

/** The document row and its first chunks in one version, as one D1 statement reads them. */
interface SourceDocument {
  status: string;
  chunkCount: number;
  chunkIds: string[];
  expiresAt: number | null;
}

export async function answerSimilar(
  deps: AnswerSearchDeps,
  namespace: string,
  req: SimilarRequest,
  options: { bypassCache: boolean; timer: Timer },
): Promise<SearchAnswer> {
  const { cache } = deps;
  const { bypassCache, timer } = options;
  // Started before the active version is read: on an isolate that caches neither, the two KV
  // reads share one round trip (test/integration/similar-kv-rounds.test.ts).
  const generation = bypassCache ? undefined : namespaceGeneration(deps, namespace);
  const version = await deps.activeVersion(namespace);
  const searchDeps = versionSearchDeps(deps, namespace, version);
  const compute = async () => {
    const response = await similar(searchDeps, namespace, version, req);
    timer.add(response.timings);
    return {
      body: { results: response.results, version: version.id },
      degraded: response.degraded,
      expiresAt: response.expiresAt,
    };
  };
  const { id, topK, filter, groupBy, includeText, explain } = req;
  // "similar" keeps these keys apart from any search's (whose requests carry "query"); explain is
  // left out of the key when unset (canonicalJson drops undefined), so those keys stay as they were.
  const key = {
    similar: id,
    topK,
    filter: filter === undefined ? null : JSON.parse(canonicalJson(filter)),
    groupBy,
    includeText,
    chunks: SIMILAR_MAX_CHUNKS,
    explain: explain ? true : undefined,
  };
  const answer = await timer.stage("cache", () =>
    cachedSearch(
      { ...cache, ...(generation ? { generation } : {}) },
      { namespace, version: version.id },
      key,
      bypassCache,
      () => timer.excluding("cache", compute),
    ),
  );
  return { ...answer.body, outcome: answer.outcome, degraded: answer.degraded };
}

/**
 * Documents like `req.id` in one version. Stages: "embed" builds the query vector (the document's
 * row, chunk ids and vectors), "vector" queries the index, "hydrate" as in a search.
 */
export async function similar(
  deps: SearchDeps,
  namespace: string,
  version: VersionSpec,
  req: SimilarRequest,
) {
  const ctx: StageContext = {
    timer: createTimer(deps.clock ?? monotonicClock),
    degradations: createDegradations(deps.logger),
  };
  const query = await ctx.timer.stage("embed", () => queryVector(deps, namespace, version.id, req.id));
  const own = `${versionChunkPrefix(await chunkIdPrefix(namespace, req.id), version.id)}-`;
  const asSearch: SearchRequest = { ...req, query: "", mode: "vector" };
  const { retrieval, hydration } = searchPlan(asSearch, deps.settings ?? DEFAULT_SEARCH_SETTINGS);
  // The document's own chunks come back too (its first ones first): ask for that many more.
  const topK = Math.min(VECTORIZE_LIMITS.maxTopK, retrieval.perLeg + query.chunkCount);
  const result = await ctx.timer.stage("vector", async () =>
    deps.index.query(query.vector, {
      topK,
      namespace: await vectorNamespace(namespace, version.id),
      filter: req.filter,
      returnMetadata: "none",
    }),
  );
  const ranked = result.matches.filter((m) => !m.id.startsWith(own));
  const candidates = await hydrate(deps, ctx, namespace, { ranked, known: new Map() }, req, hydration);
  // The one leg is the vector query, ranked without the document's own chunks.
  const explain = req.explain ? explainer({ keyword: null, vector: ranked }) : undefined;
  return {
    // The answer is about the source too: a cached copy lives no longer than it does.
    ...earliestExpiry([
      ...candidates,
      ...(query.expiresAt === null ? [] : [{ chunk: { expiresAt: query.expiresAt } }]),
    ]),
    results: candidates
      .filter((c) => c.chunk.docId !== req.id)
      .slice(0, req.topK)
      .map((c) => toResult(c, req.includeText, undefined, explain)),
    timings: ctx.timer.timings(),
    degraded: ctx.degradations.list(),
  };
}

/**
 * The mean of the document's first chunk vectors. 404 when the document does not exist (or was
 * deleted, or has expired); 409 with its status while it has no chunks in the version (queued or failed before
 * its first indexing, or indexed empty), or when the index does not show its vectors yet (Vectorize
 * applies writes asynchronously).
 */
async function queryVector(
  deps: SearchDeps,
  namespace: string,
  version: string,
  id: string,
): Promise<{ vector: Float32Array; chunkCount: number; expiresAt: number | null }> {
  const doc = await readSource(deps, namespace, version, id);
  if (doc === null || doc.status === "deleted") {
    throw new AppError("not_found", `document "${id}" does not exist in namespace "${namespace}"`);
  }
  if (doc.chunkIds.length === 0) {
    throw new AppError("conflict", `document "${id}" has no indexed chunks yet (status ${doc.status})`, {
      retryable: doc.status === "queued",
      extra: { documentStatus: doc.status },
    });
  }
  // Vector ids are unique per index, not per namespace: keep only vectors of this namespace's
  // version, whatever the index answers for these ids.
  const inScope = await vectorNamespace(namespace, version);
  const vectors = (await getVectors(deps.index, doc.chunkIds)).filter((v) => (v.namespace ?? "") === inScope);
  const vector = meanOf(vectors);
  if (vector === null) {
    throw new AppError("conflict", `document "${id}" is indexed but its vectors are not queryable yet`, {
      retryable: true,
      extra: { documentStatus: doc.status },
    });
  }
  return { vector, chunkCount: doc.chunkCount, expiresAt: doc.expiresAt };
}

/** The element-wise mean; null without vectors. Cosine ranking does not depend on its length. */
export function meanOf(vectors: readonly Pick<VectorRecord, "values">[]): Float32Array | null {
  const first = vectors[0];
  if (first === undefined) return null;
  const sum = new Float64Array(first.values.length);
  for (const v of vectors) for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] ?? 0) + (v.values[i] ?? 0);
  return Float32Array.from(sum, (x) => x / vectors.length);
}

async function readSource(
  deps: SearchDeps,
  namespace: string,
  version: string,
  id: string,
): Promise<SourceDocument | null> {
  // One statement: the row (its chunk_count is the most over live versions) and its first chunk
  // ids in the version (index chunks_by_document), instead of a round trip each.
  const statement = deps.db
    .prepare(
      `SELECT d.status, d.chunk_count, d.expires_at,
         (SELECT json_group_array(chunk_id) FROM (SELECT chunk_id FROM chunks c
            WHERE c.namespace = ?1 AND c.doc_id = ?2 AND c.version = ?3 ORDER BY c.idx LIMIT ?4)) AS chunk_ids
       FROM documents d WHERE d.namespace = ?1 AND d.id = ?2 AND (d.expires_at IS NULL OR d.expires_at > ?5)`,
    )
    // An expired document is gone for search from its expiry on: as a source too (a 404).
    .bind(namespace, id, version, SIMILAR_MAX_CHUNKS, Date.now());
  const call = () =>
    d1("read similar source", () =>
      statement.first<{
        status: string;
        chunk_count: number;
        chunk_ids: string;
        expires_at: number | null;
      }>(),
    );
  const row = await (deps.guard ? guardedCall("d1", "similarSource", deps.guard, call) : call());
  if (row === null) return null;
  const ids: unknown = JSON.parse(row.chunk_ids);
  const chunkIds = Array.isArray(ids) ? ids.filter((x): x is string => typeof x === "string") : [];
  return { status: row.status, chunkCount: row.chunk_count, chunkIds, expiresAt: row.expires_at };
}
