// Facets of a search: how many documents hold each value of the fields asked for, over what the
// search matched. What "matched" means depends on the mode:
// - keyword: every keyword match of the query that passes the filter;
// - hybrid: the same, and the vector leg's candidates with them (every result any page of the
//   ranking can show is counted, vector-only ones included);
// - vector: the vector candidates alone (at most MAX_RESULTS chunks), since every document is
//   "near" a query to some degree and only the candidates are an answer.
// The answer says which with `facetScope`. Keyword matches are read up to FACET_LIMITS.maxMatches
// chunks, best first; past that, the counts cover the best ones and the scope says "best-matches".
//
// Counting costs no D1 round trip of its own: in keyword and hybrid modes the facet statement
// goes in the keyword leg's batch, and in hybrid mode it hands over the matched documents' values
// (documentKeys); the vector candidates' values (hybrid and vector modes) come with them from the
// vector index (returnMetadata "indexed": facets are on filterable fields, which are the indexed
// ones); the Worker counts each document once, by key. A candidate is then counted by the metadata its vector
// holds, which follows a write or a delete once the index has applied it (Vectorize applies
// writes asynchronously, seconds later), where D1 follows it at once. When the keyword leg could
// not send the statement, or it did not hand the documents over (more matches than the Worker
// counts, or values too long), one statement of its own counts them, candidates by id.
import { guardedCall } from "../resilience/guard";
import { countValues } from "../store/facet-values";
import {
  documentKey,
  emptyCounts,
  type FacetCounts,
  type FacetQuery,
  facetCounts,
  prepareFacets,
  WORKER_COUNTING,
} from "../store/facets";
import type { VectorMatch } from "../vectors/vector-index";
import { FACETS_UNAVAILABLE } from "./degradations";
import type { FacetScope, Facets, SearchRequest } from "./request";
import type {
  KeywordAlongside,
  KeywordLegDeps,
  RetrievalFacets,
  Retrieved,
  SearchScope,
  StageContext,
} from "./retrieve";

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

/** Facets counting alongside retrieval: see startFacets. */
export interface PendingFacets {
  /** What retrieve() does for them. */
  retrieval: RetrievalFacets;
  /** The facets, once the search has its ranking. */
  counts: (retrieved: Retrieved) => Promise<FacetAnswer>;
}

/** A value settled once: the first `settle` wins, as a promise's resolve does. */
function settleOnce<T>(): { value: Promise<T>; settle: (value: T) => void } {
  let settle: (value: T) => void = () => {};
  const value = new Promise<T>((resolve) => {
    settle = resolve;
  });
  return { value, settle };
}

/**
 * Prepares the counting of a search's facets. Keyword and hybrid modes hand the keyword leg a
 * statement for its batch (one D1 round trip for both), and hybrid and vector modes ask the vector
 * leg for its candidates' metadata; vector mode counts once the ranking is known (its candidates,
 * or the keyword fallback's ranking, counted in D1). `candidates` is the most the vector leg
 * returns.
 */
export function startFacets(
  deps: KeywordLegDeps,
  ctx: StageContext,
  scope: SearchScope,
  req: SearchRequest,
  candidates: number,
): PendingFacets {
  const asked = req.facets;
  const vectorCandidates = settleOnce<readonly VectorMatch[] | null>();
  const retrieval: RetrievalFacets = {
    onVectorCandidates: vectorCandidates.settle,
    vectorMetadata: req.mode !== "keyword",
  };
  if (!asked || req.mode === "vector") {
    return {
      retrieval,
      counts: async (retrieved) => {
        // The candidates with their metadata; a keyword fallback's ranking, or candidates without
        // metadata, are counted in D1 by id.
        vectorCandidates.settle(null);
        const vector = await vectorCandidates.value;
        if (asked && vector?.every((m) => m.metadata !== undefined)) {
          return answer(deps, ctx, req, async () =>
            countDocuments(new Map(), vector, asked.fields, asked.limit, 0),
          );
        }
        return searchFacets(
          deps,
          ctx,
          scope,
          req,
          retrieved.ranked.map((r) => r.id),
        );
      },
    };
  }
  const hybrid = req.mode === "hybrid";
  const query: FacetQuery = {
    query: req.query,
    prefix: req.prefix,
    titleWeight: deps.titleWeight,
    chunkIds: [],
    fields: asked.fields,
    filter: req.filter,
    limit: asked.limit,
    maxMatches: FACET_LIMITS.maxMatches,
    // Hybrid: the matched documents, for the Worker to count with the candidates, while both
    // together stay within what the Worker counts.
    ...(hybrid
      ? { documentKeys: true, workerDocuments: Math.max(0, WORKER_COUNTING.documents - candidates) }
      : {}),
  };
  const prepared = prepareFacets(deps.db, scope.namespace, query, scope.version);
  // Never rejected: a statement that cannot be prepared is counted alone, where it fails again.
  const preparedOrNull = prepared.catch(() => null);
  const rows = settleOnce<unknown[] | null>();
  const alongside: KeywordAlongside = {
    statement: preparedOrNull.then((p) => p?.statement ?? null),
    settle: rows.settle,
  };
  retrieval.alongside = alongside;
  const count = async (): Promise<FacetCounts> => {
    const p = await preparedOrNull;
    // Nothing to match, and no candidate: no value.
    if (p === null && !hybrid) return emptyCounts(asked.fields);
    const answered = await rows.value;
    if (p !== null && answered !== null) {
      if (!hybrid) {
        const counts = p.counts(answered);
        if (counts) return counts;
      } else {
        const matched = p.documents(answered);
        // A vector leg that failed or did not run brought no candidate. A candidate without its
        // metadata has its values read from D1 instead.
        const vector = (await vectorCandidates.value) ?? [];
        if (matched && vector.every((m) => m.metadata !== undefined)) {
          return countDocuments(matched.documents, vector, asked.fields, asked.limit, matched.matches);
        }
      }
    }
    // Counted alone: the keyword matches, and in hybrid mode the candidates by id.
    const vector = hybrid ? ((await vectorCandidates.value) ?? []) : [];
    return facetCounts(
      deps.db,
      scope.namespace,
      {
        ...query,
        chunkIds: vector.map((m) => m.id),
        documentKeys: false,
        workerDocuments: WORKER_COUNTING.documents,
      },
      scope.version,
    );
  };
  return {
    retrieval,
    counts: () => {
      // A leg that never ran: nothing from it.
      rows.settle(null);
      vectorCandidates.settle(null);
      return answer(deps, ctx, req, count);
    },
  };
}

/**
 * Counts per field over the matched documents (by key) and the candidates' documents not among
 * them, each document once.
 */
function countDocuments(
  matched: Map<string, unknown[]>,
  candidates: readonly VectorMatch[],
  fields: readonly string[],
  limit: number,
  matches: number,
): FacetCounts {
  const documents = new Map(matched);
  for (const c of candidates) {
    const key = documentKey(c.id);
    if (!documents.has(key))
      documents.set(
        key,
        fields.map((f) => c.metadata?.[f]),
      );
  }
  const perDocument = [...documents.values()];
  const facets: FacetCounts["facets"] = {};
  for (const [i, field] of fields.entries()) {
    facets[field] = countValues(
      perDocument.map((values) => values[i]),
      limit,
    );
  }
  return { facets, capped: matches > FACET_LIMITS.maxMatches };
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
  return answer(deps, ctx, req, () =>
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
    ),
  );
}

/** The counts as the search answers them, or null when D1 could not count them (facets_unavailable). */
async function answer(
  deps: KeywordLegDeps,
  ctx: StageContext,
  req: SearchRequest,
  call: () => Promise<FacetCounts>,
): Promise<FacetAnswer> {
  const guard = deps.guard;
  const counts: FacetCounts | null = await ctx.degradations.attempt(FACETS_UNAVAILABLE, () =>
    ctx.timer.stage("facets", () => (guard ? guardedCall("d1", "facetCounts", guard, call) : call())),
  );
  if (counts === null) return null;
  const keyword = req.mode !== "vector";
  const facetScope: FacetScope = !keyword ? "candidates" : counts.capped ? "best-matches" : "all-matches";
  return { facets: counts.facets, facetScope };
}
