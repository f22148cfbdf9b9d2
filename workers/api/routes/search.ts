// Search: validate, authorize, answer through the search use case, with Server-Timing (stage
// times for admin keys) and one metrics point.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { hasRole, type Principal } from "../../../src/auth/scopes";
import { AppError } from "../../../src/errors";
import { type ExperimentAnswer, searchWithExperiment } from "../../../src/experiments/serve";
import { countersBlob } from "../../../src/observe/cost-schema";
import { answerSearch, namespaceGeneration, type SearchAnswer } from "../../../src/search/answer";
import { cursorVersion } from "../../../src/search/cursor";
import { highlightOptions } from "../../../src/search/snippet";
import { createTimer, serverTiming, type Timer } from "../../../src/search/timer";
import { overlongString, validateFilter } from "../../../src/vectors/filter";
import { type MetadataFilter, VECTORIZE_LIMITS } from "../../../src/vectors/vector-index";
import { observeAnswer } from "../../observe/search-point";
import { experimentDeps, type Services, searchDeps } from "../../services";
import { requireNamespace, requires } from "../auth";
import { searchExample, searchResponseExample } from "../examples";
import {
  errorResponses,
  jsonBody,
  jsonResponse,
  NamespaceParams,
  problem,
  SearchBody,
  SearchResponseSchema,
} from "../schemas";
import type { AppEnv } from "../types";

export type SearchResponseBody = typeof SearchResponseSchema._output;

/**
 * What the search cost until its answer, for admin keys: the non-zero cost counters as
 * "name=value" pairs, comma-joined (empty when it cost nothing billable, as an isolate cache hit).
 */
export const COST_HEADER = "x-cost-counters";

/**
 * Vectorize can only filter on fields with a metadata index: reject others up front. It also
 * compares only the first 64 bytes of a string, so a longer filter value could not select what
 * it names: refused too.
 */
export function checkFilter(raw: unknown, filterable: readonly string[]): MetadataFilter {
  const filter = validateFilter(raw);
  for (const [field, condition] of Object.entries(filter)) {
    if (!filterable.includes(field)) {
      throw new AppError(
        "invalid_filter",
        `field "${field}" is not filterable; filterable fields: ${filterable.join(", ") || "(none configured)"}`,
        { field: `body.filter.${field}`, retryable: false },
      );
    }
    const long = overlongString(condition);
    if (long !== undefined) {
      throw new AppError(
        "invalid_filter",
        `a filter value on "${field}" is ${long.bytes} bytes; Vectorize filters strings on their first ${VECTORIZE_LIMITS.maxIndexedStringBytes} bytes, so values are at most ${VECTORIZE_LIMITS.maxIndexedStringBytes}`,
        { field: `body.filter.${field}${long.at ? `.${long.at}` : ""}`, retryable: false },
      );
    }
  }
  return filter;
}

export type SearchRequestBody = typeof SearchBody._output;

/**
 * A search as the API runs it, for every caller (the route, the MCP tool): the key must cover the
 * namespace, the filter must pass checkFilter, then the search use case answers.
 */
export function runSearch(
  services: Services,
  principal: Principal,
  ns: string,
  request: SearchRequestBody,
  timer: Timer,
): Promise<ExperimentAnswer> {
  requireNamespace(principal, ns);
  const { cache, highlight, cursor, facets, facetLimit, userId, ...body } = request;
  const filter =
    body.filter === undefined ? undefined : checkFilter(body.filter, services.config.filterableFields);
  if (facets) checkFacets(facets, services.config.filterableFields);
  const deps = searchDeps(services);
  const search = {
    ...body,
    filter,
    highlight: highlightOptions(highlight),
    ...(facets ? { facets: { fields: facets, limit: facetLimit } } : {}),
  };
  // The experiment reads the version pointer before the search reads the write generation: two
  // independent KV reads (each cached in the isolate), started together so that on a cold isolate
  // the search waits for one KV round trip, not two in a row.
  const generation = namespaceGeneration(deps, ns);
  return searchWithExperiment(
    experimentDeps(services),
    ns,
    userId,
    cursor === undefined ? undefined : (cursorVersion(cursor) ?? null),
    (version, background) =>
      answerSearch(deps, ns, search, {
        bypassCache: cache === "bypass",
        timer: background ? createTimer(deps.clock) : timer,
        cursor: background ? undefined : cursor,
        ...(version ? { version } : {}),
        // The shadow search, later, reads the generation as of its own start.
        ...(background ? {} : { generation }),
      }),
    () => timer.elapsed(),
  );
}

/** The response body of a search. */
export function searchBody(answer: ExperimentAnswer): SearchResponseBody {
  const hit = answer.outcome === "isolate" || answer.outcome === "cache-api";
  return {
    results: answer.results,
    version: answer.version,
    cache: hit ? "hit" : "miss",
    degraded: answer.degraded,
    ...(answer.nextCursor ? { nextCursor: answer.nextCursor } : {}),
    ...(answer.searchId ? { searchId: answer.searchId } : {}),
    ...(answer.arm ? { arm: answer.arm, experiment: answer.experiment } : {}),
    ...(answer.facets ? { facets: answer.facets, facetScope: answer.facetScope } : {}),
  };
}

/**
 * Records what a search-scope route answered (Server-Timing, cost and cache headers, the metrics
 * point) and returns its body.
 */
export function answerPayload(
  c: Context<AppEnv>,
  timer: Timer,
  answer: SearchAnswer,
  mode: string,
): SearchResponseBody {
  const seen = observeAnswer(timer, answer, mode);
  const { stages, totalMs } = seen;
  // The metrics point is written by recordSearch (workers/observe), for failures too.
  c.set("searchObservation", seen);
  // Stage times and cost counters only for admin keys: they show what was cached, which is not
  // every key's to know.
  const admin = hasRole(c.get("principal"), "admin");
  c.header("server-timing", serverTiming(admin ? { ...stages, total: totalMs } : { total: totalMs }));
  if (admin) c.header(COST_HEADER, countersBlob(c.get("services").meter.total()));
  c.header("x-cache", answer.outcome);
  return searchBody(answer);
}

/**
 * Facets count values of filterable fields only: the fields a search can narrow on, and the ones
 * a deployment has declared bounded (each a Vectorize metadata index).
 */
export function checkFacets(fields: readonly string[], filterable: readonly string[]): void {
  fields.forEach((field, i) => {
    if (!filterable.includes(field)) {
      throw new AppError(
        "validation_failed",
        `facet "${field}" is not a filterable field; facets count filterable fields only: ${filterable.join(", ") || "(none configured)"}`,
        { field: `body.facets.${i}`, retryable: false },
      );
    }
  });
}

export function registerSearch(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/search",
      operationId: "search",
      middleware: requires("search"),
      tags: ["search"],
      summary: "Search a namespace (hybrid, vector or keyword)",
      request: { params: NamespaceParams, body: jsonBody(SearchBody, searchExample) },
      responses: {
        200: jsonResponse(SearchResponseSchema, "Ranked results", searchResponseExample),
        ...errorResponses,
        410: problem(
          "cursor_stale: the cursor expired, or the namespace changed since; search again without it",
        ),
      },
    }),
    async (c) => {
      const services = c.get("services");
      // Times count from the request's arrival: "auth" is everything before this handler.
      const timer = createTimer(searchDeps(services).clock, c.get("startedAt"));
      timer.mark("auth");
      const { ns } = c.req.valid("param");
      const body = c.req.valid("json");
      const answer = await runSearch(services, c.get("principal"), ns, body, timer);
      return c.json(answerPayload(c, timer, answer, body.mode), 200);
    },
  );
}
