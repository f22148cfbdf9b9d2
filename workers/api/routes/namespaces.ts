// Namespace statistics.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { DEFAULT_VERSION } from "../../../src/versions";
import { requireNamespace } from "../auth";
import { errorResponses, jsonResponse, NamespaceParams, NamespaceStatsSchema } from "../schemas";
import type { AppEnv } from "../types";

export function registerNamespaces(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}",
      tags: ["namespaces"],
      summary: "Document and chunk counts of a namespace",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(NamespaceStatsSchema, "Counts"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const stats = await c.get("services").store.stats(ns);
      return c.json(
        {
          namespace: ns,
          documents: stats.documents,
          chunks: stats.chunks,
          pending: stats.pending,
          failed: stats.failed,
          activeVersion: DEFAULT_VERSION,
        },
        200,
      );
    },
  );
}
