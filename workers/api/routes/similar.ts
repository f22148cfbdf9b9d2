// Similar documents: the search scope's answer to "more like this one", in the search's result
// shape, with Server-Timing, the cost header and one metrics point as for a search.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { answerSimilar, SIMILAR_MAX_CHUNKS } from "../../../src/search/similar";
import { createTimer } from "../../../src/search/timer";
import { searchDeps } from "../../services";
import { requireNamespace, requires } from "../auth";
import { similarExample } from "../examples";
import {
  DocumentParams,
  ExplainFlag,
  errorResponses,
  FilterSchema,
  jsonBody,
  jsonResponse,
  ProblemSchema,
  SearchResponseSchema,
} from "../schemas";
import type { AppEnv } from "../types";
import { answerPayload, checkFilter } from "./search";

export const SimilarBody = z
  .strictObject({
    topK: z.number().int().min(1).max(100).default(10),
    filter: FilterSchema.optional(),
    groupBy: z.enum(["document", "chunk"]).default("document"),
    includeText: z.boolean().default(true),
    explain: ExplainFlag,
    cache: z.enum(["default", "bypass"]).default("default"),
  })
  .openapi("SimilarRequest");

export function registerSimilar(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/documents/{id}/similar",
      operationId: "searchSimilar",
      middleware: requires("search"),
      tags: ["search"],
      summary: "Documents similar to a stored one (never itself)",
      description:
        `The mean of the document's first ${SIMILAR_MAX_CHUNKS} chunk vectors in the active version ` +
        "queries the namespace; its own chunks are left out, filters and grouping are a search's. " +
        "Scores are cosine similarities to that mean.",
      request: { params: DocumentParams, body: jsonBody(SimilarBody, similarExample) },
      responses: {
        200: jsonResponse(SearchResponseSchema, "Ranked results, as a search's"),
        ...errorResponses,
        404: {
          description: "No such document",
          content: { "application/problem+json": { schema: ProblemSchema } },
        },
        409: {
          description: "The document has no queryable vectors yet; documentStatus is its indexing status",
          content: {
            "application/problem+json": {
              schema: ProblemSchema.extend({ documentStatus: z.enum(["queued", "indexed", "failed"]) }),
            },
          },
        },
      },
    }),
    async (c) => {
      const services = c.get("services");
      const deps = searchDeps(services);
      const timer = createTimer(deps.clock, c.get("startedAt"));
      timer.mark("auth");
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { cache, ...body } = c.req.valid("json");
      const filter =
        body.filter === undefined ? undefined : checkFilter(body.filter, services.config.filterableFields);
      const answer = await answerSimilar(
        deps,
        ns,
        { ...body, id, filter },
        { bypassCache: cache === "bypass", timer },
      );
      return c.json(answerPayload(c, timer, answer, "similar"), 200);
    },
  );
}
