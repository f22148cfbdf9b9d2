// Namespace statistics.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { NamespaceHealthSchema, readNamespaceHealth } from "../../../src/observe/index-health";
import { namespaceLimits, quotaReport } from "../../../src/quotas/limits";
import { QuotaStore } from "../../../src/quotas/store";
import { requireNamespace, requires } from "../auth";
import { namespaceStatsExample } from "../examples";
import { errorResponses, jsonResponse, NamespaceParams, NamespaceStatsSchema } from "../schemas";
import type { AppEnv } from "../types";

export function registerNamespaces(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}",
      operationId: "getNamespaceStats",
      middleware: requires("search"),
      tags: ["namespaces"],
      summary: "Document and chunk counts of a namespace",
      request: { params: NamespaceParams },
      responses: {
        // health: the last index health check's findings (null before the first check).
        200: jsonResponse(
          NamespaceStatsSchema.extend({ health: NamespaceHealthSchema.nullable() }),
          "Counts",
          namespaceStatsExample,
        ),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const services = c.get("services");
      const version = await services.versions.active(ns);
      const stats = await services.store.stats(ns, version.id);
      const health = await readNamespaceHealth(services.db, ns).catch(() => null);
      const quota = await new QuotaStore(services).namespace(ns);
      return c.json(
        {
          namespace: ns,
          documents: stats.documents,
          chunks: stats.chunks,
          pending: stats.pending,
          failed: stats.failed,
          activeVersion: version.id,
          quotas: quotaReport(quota.usage, namespaceLimits(services.config, quota.overrides)),
          health,
        },
        200,
      );
    },
  );
}
