// Retrieval: the vector leg (embed the query, query the version's index), the keyword leg (BM25
// over the version's keyword table) and their fusion, as the request's mode asks. A leg whose
// dependency is unavailable answers null and the other leg answers alone.
import type { Embedder } from "../embed/embedder";
import { type GuardContext, guardedCall } from "../resilience/guard";
import type { D1Like } from "../store/d1";
import type { HydratedChunk } from "../store/documents";
import { type KeywordOptions, keywordSearch } from "../store/keyword";
import type { VectorIndex, VectorMatch } from "../vectors/vector-index";
import { vectorNamespace } from "../versions/model";
import {
  type Degradations,
  EMBEDDING_UNAVAILABLE,
  KEYWORD_UNAVAILABLE,
  VECTOR_UNAVAILABLE,
} from "./degradations";
import type { LegRankings } from "./explain";
import { type Ranked, reciprocalRankFusion } from "./fusion";
import type { SearchRequest, SearchSettings } from "./request";
import type { Timer } from "./timer";

/** Where a search reads: a namespace in one index version. */
export interface SearchScope {
  namespace: string;
  version: string;
}

/** Who records what a stage took and what it could not do. */
export interface StageContext {
  timer: Timer;
  degradations: Degradations;
}

/** How deep each leg reads (search.ts works it out from the request and the settings). */
export interface RetrievalPlan {
  /** Candidates each leg brings. */
  perLeg: number;
  /** Where the keyword leg stops in hybrid mode; deeper ranks are read only when needed. */
  keywordLimit: number;
  /** How many of the keyword leg's best hits bring their chunk. */
  withChunks: number;
}

export interface Retrieved {
  /** Best first. */
  ranked: Ranked[];
  /** Chunks the keyword leg brought with its best hits: hydration does not read them again. */
  known: ReadonlyMap<string, HydratedChunk>;
  /**
   * Set when the keyword leg stopped at keywordLimit with hits to spare: `ranked` is final in
   * its first hydration window only, and this ranks with the whole leg.
   */
  rankWhole?: () => Promise<Ranked[]>;
  /** With explain: the leg rankings `ranked` fused (rankWhole updates the keyword leg's). */
  legs?: LegRankings;
}

export interface VectorLegDeps {
  embedder: Embedder;
  index: VectorIndex;
}

export interface KeywordLegDeps {
  db: D1Like;
  /** bm25() weight of a title match (DEFAULT_TITLE_WEIGHT when absent). */
  titleWeight?: number;
  /** Breakers and retries for keyword search over D1, when the caller provides them. */
  guard?: GuardContext;
}

export type RetrieveDeps = VectorLegDeps & KeywordLegDeps & { settings: SearchSettings };

interface KeywordHits {
  ranked: Ranked[];
  chunks: Map<string, HydratedChunk>;
}

const NONE: ReadonlyMap<string, HydratedChunk> = new Map();

/**
 * A read the keyword leg sends in its D1 batch (see KeywordOptions.alongside): the statement, once
 * prepared (null: nothing to send), and where its rows go. `settle` takes the first answer only;
 * null says the leg did not send it or its batch failed.
 */
export interface KeywordAlongside {
  statement: Promise<D1PreparedStatement | null>;
  settle: (rows: unknown[] | null) => void;
}

/**
 * The vector leg: null when the embedder or the index is unavailable. With `withMetadata`, each
 * match carries its indexed metadata (returnMetadata "indexed", which keeps Vectorize's top K at
 * 100: https://developers.cloudflare.com/vectorize/platform/limits/).
 */
export async function vectorLeg(
  deps: VectorLegDeps,
  ctx: StageContext,
  scope: SearchScope,
  req: Pick<SearchRequest, "query" | "filter">,
  topK: number,
  withMetadata = false,
): Promise<VectorMatch[] | null> {
  const embedded = await ctx.degradations.attempt(EMBEDDING_UNAVAILABLE, () =>
    ctx.timer.stage("embed", () => deps.embedder.embed([req.query], "query")),
  );
  if (embedded === null) return null;
  const [vector] = embedded;
  if (!vector) return [];
  return ctx.degradations.attempt(VECTOR_UNAVAILABLE, async () => {
    const namespace = await vectorNamespace(scope.namespace, scope.version);
    const result = await ctx.timer.stage("vector", () =>
      deps.index.query(vector, {
        topK,
        namespace,
        filter: req.filter,
        returnMetadata: withMetadata ? "indexed" : "none",
      }),
    );
    return result.matches;
  });
}

/** The keyword leg, with the chunks of its best `withChunks` hits: null when D1 is unavailable. */
export async function keywordLeg(
  deps: KeywordLegDeps,
  ctx: StageContext,
  scope: SearchScope,
  req: Pick<SearchRequest, "query" | "filter" | "prefix">,
  limit: number,
  withChunks: number,
  alongside?: KeywordAlongside,
): Promise<KeywordHits | null> {
  const statement = alongside ? await alongside.statement.catch(() => null) : null;
  const options: KeywordOptions = { titleWeight: deps.titleWeight, prefix: req.prefix };
  if (alongside && statement) options.alongside = { statement, answer: alongside.settle };
  const call = () =>
    keywordSearch(deps.db, scope.namespace, req.query, limit, req.filter, scope.version, withChunks, options);
  const guard = deps.guard;
  const hits = await ctx.degradations.attempt(KEYWORD_UNAVAILABLE, () =>
    ctx.timer.stage("keyword", () => (guard ? guardedCall("d1", "keywordSearch", guard, call) : call())),
  );
  alongside?.settle(null);
  if (hits === null) return null;
  const chunks = new Map<string, HydratedChunk>();
  for (const h of hits) if (h.chunk) chunks.set(h.chunkId, h.chunk);
  return { ranked: hits.map((h) => ({ id: h.chunkId, score: h.score })), chunks };
}

/** Weighted RRF of the two legs; a leg that is unavailable (null) leaves the other alone. */
export function fuse(
  settings: SearchSettings,
  vector: Ranked[] | null,
  keyword: Ranked[] | null,
): Ranked[] | null {
  if (vector === null) return keyword;
  if (keyword === null) return vector;
  return reciprocalRankFusion([vector, keyword], {
    k: settings.rrfK,
    weights: [settings.vectorWeight, settings.keywordWeight],
  });
}

/** What to retrieve: the request, where, and how deep. */
export interface RetrievalQuery {
  scope: SearchScope;
  req: SearchRequest;
  plan: RetrievalPlan;
  /** What facets need of retrieval (src/search/facets.ts), when the request asks for them. */
  facets?: RetrievalFacets;
}

export interface RetrievalFacets {
  /** Told the vector leg's candidates (null: it failed or did not run). */
  onVectorCandidates: (matches: readonly VectorMatch[] | null) => void;
  /** Whether the vector leg returns its candidates' indexed metadata. */
  vectorMetadata: boolean;
  /** A read the keyword leg's first call sends in its batch (keyword and hybrid modes). */
  alongside?: KeywordAlongside;
}

/** The request's ranking; null when no retrieval path answered. */
export async function retrieve(
  deps: RetrieveDeps,
  ctx: StageContext,
  query: RetrievalQuery,
): Promise<Retrieved | null> {
  const { scope, req, plan, facets } = query;
  const vector = async () => {
    const ranked = await vectorLeg(deps, ctx, scope, req, plan.perLeg, facets?.vectorMetadata);
    facets?.onVectorCandidates(ranked);
    if (ranked === null) return null;
    const out: Retrieved = { ranked, known: NONE };
    if (req.explain) out.legs = { keyword: null, vector: ranked };
    return out;
  };
  const keyword = async () => {
    const hits = await keywordLeg(deps, ctx, scope, req, plan.perLeg, plan.withChunks, facets?.alongside);
    if (hits === null) return null;
    const out: Retrieved = { ranked: hits.ranked, known: hits.chunks };
    if (req.explain) out.legs = { keyword: hits.ranked, vector: null };
    return out;
  };
  if (req.mode === "vector") return (await vector()) ?? (await keyword());
  if (req.mode === "keyword") return (await keyword()) ?? (await vector());
  return retrieveHybrid(deps, ctx, query);
}

async function retrieveHybrid(
  deps: RetrieveDeps,
  ctx: StageContext,
  { scope, req, plan, facets }: RetrievalQuery,
): Promise<Retrieved | null> {
  const { settings } = deps;
  // A leg weighted 0 cannot change the fusion: skip its work.
  const vectorRanked: Promise<VectorMatch[] | null> =
    settings.vectorWeight > 0
      ? vectorLeg(deps, ctx, scope, req, plan.perLeg, facets?.vectorMetadata)
      : Promise.resolve([]);
  if (facets) vectorRanked.then(facets.onVectorCandidates, () => facets.onVectorCandidates(null));
  const [vector, keyword] = await Promise.all([
    vectorRanked,
    settings.keywordWeight > 0
      ? keywordLeg(deps, ctx, scope, req, plan.keywordLimit, plan.withChunks, facets?.alongside)
      : { ranked: [], chunks: new Map<string, HydratedChunk>() },
  ]);
  const fused = (keywordRanked: Ranked[] | null) =>
    ctx.timer.stageSync("fuse", () => fuse(settings, vector, keywordRanked));
  const ranked = fused(keyword?.ranked ?? null);
  if (ranked === null) return null;
  // A leg weighted 0 did not run: it ranked nothing.
  const legs: LegRankings | undefined = req.explain
    ? {
        keyword: settings.keywordWeight > 0 ? (keyword?.ranked ?? null) : null,
        vector: settings.vectorWeight > 0 ? vector : null,
      }
    : undefined;
  if (keyword === null || plan.keywordLimit >= plan.perLeg || keyword.ranked.length !== plan.keywordLimit) {
    const out: Retrieved = { ranked, known: keyword?.chunks ?? NONE };
    if (legs) out.legs = legs;
    return out;
  }
  const cut = keyword.ranked;
  // If the whole leg cannot be read, the cut one still ranks what it holds.
  const rankWhole = async () => {
    const whole = await keywordLeg(deps, ctx, scope, req, plan.perLeg, plan.withChunks);
    const read = whole?.ranked ?? cut;
    if (legs) legs.keyword = read;
    return fused(read) ?? cut;
  };
  const out: Retrieved = { ranked, known: keyword.chunks, rankWhole };
  if (legs) out.legs = legs;
  return out;
}
