// Facets of a search: how many documents hold each value of the fields asked for, over what the
// search matched. What "matched" means depends on the mode:
// - keyword: every keyword match of the query that passes the filter;
// - hybrid: the same, and the vector leg's candidates with them (every result any page of the
//   ranking can show is counted, vector-only ones included);
// - vector: the vector candidates alone (at most MAX_RESULTS chunks), since every document is
//   "near" a query to some degree and only the candidates are an answer.
// The answer says which with `facetScope`. Keyword matches are read up to FACET_LIMITS.maxMatches
// chunks, best first; past that, the counts cover the best ones and the scope says "best-matches".
import { guardedCall } from "../resilience/guard";
import { type FacetCounts, facetCounts } from "../store/facets";
import { FACETS_UNAVAILABLE } from "./degradations";
import type { Ranked } from "./fusion";
import type { FacetScope, Facets, SearchRequest } from "./request";
import type { KeywordLegDeps, Retrieved, SearchScope, StageContext } from "./retrieve";

export const FACET_LIMITS = {
  /**
   * Fields per request. Facets are on filterable fields only, and an index has at most 10 of
   * those (VECTORIZE_LIMITS.maxMetadataIndexes): more could only repeat one.
   */
  maxFields: 10,
  /** Values answered per field by default, and at most. */
  defaultValues: 10,
  maxValues: 100,
  /**
   * Keyword matches (chunks) counted at most. D1 bills by rows read, and the statement reads
   * about three rows per match counted (its FTS5 row when counting the matches, again when
   * listing them, its chunk row) and a few per document (test/unit/facet-rows-read.test.ts: 6,138
   * rows for 2,000 matches of 20 documents); past the cap, the best matches by rank, about four
   * per match: 10,000 bounds a search's facets at about 40,000 rows read
   * ($0.04 per thousand such searches at D1's $0.001 per million rows,
   * https://developers.cloudflare.com/d1/platform/pricing/), and its time far under D1's
   * 30-second "Maximum SQL query duration" (https://developers.cloudflare.com/d1/platform/limits/).
   */
  maxMatches: 10_000,
} as const;

type FacetAnswer = { facets: Facets; facetScope: FacetScope } | null;

/** Facets counting while the search retrieves: see startFacets. */
export interface PendingFacets {
  /** Where retrieve() reports the vector leg's candidates (hybrid mode). */
  onVectorCandidates: (ranked: readonly Ranked[] | null) => void;
  /** The facets, once the search has its ranking. */
  counts: (retrieved: Retrieved) => Promise<FacetAnswer>;
}

/**
 * Starts counting as soon as what is counted is known, so the count's D1 round trip overlaps
 * retrieval instead of following it: keyword mode at once (the query's matches alone), hybrid mode
 * when the vector leg has its candidates (while the keyword leg still runs), vector mode once the
 * ranking is known (its candidates are the ranking, or the keyword fallback's).
 */
export function startFacets(
  deps: KeywordLegDeps,
  ctx: StageContext,
  scope: SearchScope,
  req: SearchRequest,
): PendingFacets {
  let give: (ids: readonly string[]) => void = () => {};
  const candidates = new Promise<readonly string[]>((resolve) => {
    give = resolve;
  });
  const early =
    req.mode === "keyword"
      ? searchFacets(deps, ctx, scope, req, [])
      : req.mode === "hybrid"
        ? candidates.then((ids) => searchFacets(deps, ctx, scope, req, ids))
        : null;
  return {
    onVectorCandidates: (ranked) => give((ranked ?? []).map((r) => r.id)),
    counts: (retrieved) => {
      // A vector leg that never reported (not run): the keyword matches alone.
      give([]);
      return (
        early ??
        searchFacets(
          deps,
          ctx,
          scope,
          req,
          retrieved.ranked.map((r) => r.id),
        )
      );
    },
  };
}

/** The facets of the search `req`, or null when D1 could not count them (facets_unavailable). */
export async function searchFacets(
  deps: KeywordLegDeps,
  ctx: StageContext,
  scope: SearchScope,
  req: SearchRequest,
  chunkIds: readonly string[],
  maxMatches: number = FACET_LIMITS.maxMatches,
): Promise<FacetAnswer> {
  const asked = req.facets;
  if (!asked) return null;
  const keyword = req.mode !== "vector";
  const call = () =>
    facetCounts(
      deps.db,
      scope.namespace,
      {
        // The keyword leg's matches and ranking: the same prefix expansion and title weight.
        ...(keyword ? { query: req.query, prefix: req.prefix, titleWeight: deps.titleWeight } : {}),
        chunkIds,
        fields: asked.fields,
        filter: req.filter,
        limit: asked.limit,
        maxMatches,
      },
      scope.version,
    );
  const guard = deps.guard;
  const counts: FacetCounts | null = await ctx.degradations.attempt(FACETS_UNAVAILABLE, () =>
    ctx.timer.stage("facets", () => (guard ? guardedCall("d1", "facetCounts", guard, call) : call())),
  );
  if (counts === null) return null;
  const facetScope: FacetScope = !keyword ? "candidates" : counts.capped ? "best-matches" : "all-matches";
  return { facets: counts.facets, facetScope };
}
