// Search: validate, retrieve, answer with Server-Timing stage times and one metrics point.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { AppError } from "../../../src/errors";
import { search } from "../../../src/search/search";
import { validateFilter } from "../../../src/vectors/filter";
import type { MetadataFilter } from "../../../src/vectors/vector-index";
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

/** Vectorize can only filter on fields with a metadata index: reject others up front. */
function checkFilter(raw: unknown, filterable: readonly string[]): MetadataFilter {
  const filter = validateFilter(raw);
  for (const field of Object.keys(filter)) {
    if (!filterable.includes(field)) {
      throw new AppError(
        "invalid_filter",
        `field "${field}" is not filterable; filterable fields: ${filterable.join(", ") || "(none configured)"}`,
        { field: `body.filter.${field}`, retryable: false },
      );
    }
  }
  return filter;
}

export function registerSearch(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/search",
      tags: ["search"],
      summary: "Search a namespace (hybrid, vector or keyword)",
      request: { params: NamespaceParams, body: jsonBody(SearchBody) },
      responses: { 200: jsonResponse(SearchResponseSchema, "Ranked results"), ...errorResponses },
    }),
    async (c) => {
      const started = performance.now();
      const { ns } = c.req.valid("param");
      const body = c.req.valid("json");
      const services = c.get("services");
      const filter =
        body.filter === undefined ? undefined : checkFilter(body.filter, services.config.filterableFields);
      const degraded: string[] = [];
      if (body.rerank) degraded.push("rerank_unavailable");
      const response = await search(services, ns, {
        query: body.query,
        topK: body.topK,
        filter,
        mode: body.mode,
        groupBy: body.groupBy,
        includeText: body.includeText,
      });
      const totalMs = performance.now() - started;
      const t = response.timings;
      services.metrics.search({
        namespace: ns,
        mode: body.mode,
        status: 200,
        results: response.results.length,
        cache: "miss",
        degraded,
        totalMs,
        embedMs: t.embed ?? 0,
        vectorMs: t.vector ?? 0,
        hydrateMs: t.hydrate ?? 0,
      });
      const timing = Object.entries({ ...t, total: totalMs })
        .map(([stage, ms]) => `${stage};dur=${ms.toFixed(1)}`)
        .join(", ");
      c.header("server-timing", timing);
      const payload: SearchResponseBody = {
        results: response.results,
        version: response.version,
        cache: "miss",
        degraded,
      };
      return c.json(payload, 200);
    },
  );
}
