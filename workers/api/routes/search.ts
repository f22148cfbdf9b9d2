// Search: validate, retrieve, answer with Server-Timing (stage times for admin keys) and one
// metrics point.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { hasRole } from "../../../src/auth/scopes";
import { cachedSearch, normalizedRequest } from "../../../src/cache/cached-search";
import { namespaceEmbedder } from "../../../src/cache/embedding-cache";
import { readGeneration } from "../../../src/cache/generation";
import type { Config } from "../../../src/config";
import { AppError } from "../../../src/errors";
import { type SearchSettings, search } from "../../../src/search/search";
import { overlongString, validateFilter } from "../../../src/vectors/filter";
import { type MetadataFilter, VECTORIZE_LIMITS } from "../../../src/vectors/vector-index";
import { requireNamespace, requires } from "../auth";
import {
  errorResponses,
  jsonBody,
  jsonResponse,
  NamespaceParams,
  SearchBody,
  SearchResponseSchema,
} from "../schemas";
import type { AppEnv } from "../types";

export type SearchResponseBody = typeof SearchResponseSchema._output;

/**
 * Vectorize can only filter on fields with a metadata index: reject others up front. It also
 * compares only the first 64 bytes of a string, so a longer filter value could not select what
 * it names: refused too.
 */
function checkFilter(raw: unknown, filterable: readonly string[]): MetadataFilter {
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

function searchSettings(config: Config): SearchSettings {
  return {
    rrfK: config.hybridRrfK,
    vectorWeight: config.hybridVectorWeight,
    keywordWeight: config.hybridKeywordWeight,
    fusionCandidates: config.hybridCandidates,
    rerankCandidates: config.rerankCandidates,
  };
}

export function registerSearch(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/search",
      middleware: requires("search"),
      tags: ["search"],
      summary: "Search a namespace (hybrid, vector or keyword)",
      request: { params: NamespaceParams, body: jsonBody(SearchBody) },
      responses: { 200: jsonResponse(SearchResponseSchema, "Ranked results"), ...errorResponses },
    }),
    async (c) => {
      const started = performance.now();
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const body = c.req.valid("json");
      const services = c.get("services");
      const settings = searchSettings(services.config);
      const filter =
        body.filter === undefined ? undefined : checkFilter(body.filter, services.config.filterableFields);
      let timings: Record<string, number> = {};
      let computeMs = 0;
      // One version answers the whole request: its vectors, chunks, keyword index and cache keys.
      // The write generation and the active version are independent KV reads (each cached in
      // the isolate): when both miss the isolate, they overlap instead of adding up.
      const generation =
        body.cache === "bypass"
          ? undefined
          : readGeneration(services.kv, ns, services.config.generationCacheTtlMs, services.logger);
      const version = await services.versions.active(ns);
      const embedder = namespaceEmbedder(services.versions.embedder(version), ns);
      const index = services.versions.index(version);
      const t0 = performance.now();
      const answer = await cachedSearch(
        {
          kv: services.kv,
          cacheApi: services.cacheApi,
          settings: {
            resultTtlMs: services.config.resultCacheTtlMs,
            lruBytes: services.config.resultCacheLruBytes,
            generationTtlMs: services.config.generationCacheTtlMs,
            settleMs: services.config.resultCacheSettleMs,
          },
          logger: services.logger,
          defer: services.defer,
          ...(generation ? { generation } : {}),
        },
        { namespace: ns, version: version.id },
        // Retrieval settings are part of the key: a configuration change never serves old answers.
        normalizedRequest({
          ...body,
          filter,
          settings,
          model: embedder.model,
        }),
        body.cache === "bypass",
        async () => {
          const computeStart = performance.now();
          const reranker = body.rerank ? services.reranker : undefined;
          const deps = {
            ...services,
            db: services.reads.db,
            store: services.reads.store,
            embedder,
            index,
            reranker,
            settings,
            version: version.id,
          };
          const response = await search(deps, ns, {
            query: body.query,
            topK: body.topK,
            filter,
            mode: body.mode,
            groupBy: body.groupBy,
            includeText: body.includeText,
            rerank: body.rerank,
          });
          timings = response.timings;
          computeMs = performance.now() - computeStart;
          return {
            body: { results: response.results, version: response.version },
            degraded: response.degraded,
          };
        },
      );
      const hit = answer.outcome === "isolate" || answer.outcome === "cache-api";
      // Cache stage: the whole lookup on a hit; on a miss, the lookup around the computation.
      const cacheMs = hit ? performance.now() - t0 : Math.max(0, performance.now() - t0 - computeMs);
      timings = { auth: started - (c.get("startedAt") ?? started), cache: cacheMs, ...(hit ? {} : timings) };
      const totalMs = performance.now() - (c.get("startedAt") ?? started);
      // The metrics point is written by recordSearch (workers/observe), for failures too.
      c.set("searchObservation", {
        mode: body.mode,
        results: answer.body.results.length,
        cache: answer.outcome,
        degraded: answer.degraded,
        stages: timings,
        totalMs,
      });
      // Stage times only for admin keys: they show what was cached, which is not every key's to know.
      const shown = hasRole(c.get("principal"), "admin")
        ? { ...timings, total: totalMs }
        : { total: totalMs };
      const timing = Object.entries(shown)
        .map(([stage, ms]) => `${stage};dur=${ms.toFixed(1)}`)
        .join(", ");
      c.header("server-timing", timing);
      c.header("x-cache", answer.outcome);
      const payload: SearchResponseBody = {
        results: answer.body.results,
        version: answer.body.version,
        cache: hit ? "hit" : "miss",
        degraded: answer.degraded,
      };
      return c.json(payload, 200);
    },
  );
}
