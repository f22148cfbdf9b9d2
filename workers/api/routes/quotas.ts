// A namespace's quotas (admin role): usage and limits, and the admin's overrides of the
// deployment's defaults. Any admin key covering the namespace may tighten them; raising one above
// the default takes a key that covers every namespace ("*"), so a tenant's own admin key cannot
// lift its tenant's limits. The namespace's default time to live is set here too: it is the other
// limit an admin puts on what the namespace holds (how long, not how much).
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../../../src/errors";
import {
  NAMESPACE_QUOTAS,
  type NamespaceOverrides,
  namespaceLimits,
  quotaReport,
} from "../../../src/quotas/limits";
import { QuotaStore } from "../../../src/quotas/store";
import { requireNamespace, requires } from "../auth";
import { setQuotasExample } from "../examples";
import { errorResponses, jsonBody, jsonResponse, NamespaceParams, NamespaceQuotasSchema } from "../schemas";
import type { AppEnv } from "../types";

const Override = (max: number, what: string) =>
  z
    .number()
    .int()
    .min(0)
    .max(max)
    .nullable()
    .optional()
    .openapi({
      description: `Most ${what} the namespace may hold; null: the deployment's default; absent: unchanged.`,
    });

/**
 * Bounds of a default time to live. Below a minute the document would be gone before the purge
 * that runs every 5 minutes (wrangler.toml crons) could matter; above ten years, say so with
 * expiresAt instead.
 */
export const DEFAULT_TTL_BOUNDS = { minSeconds: 60, maxSeconds: 10 * 365 * 86_400 } as const;

const DefaultTtl = z
  .number()
  .int()
  .min(DEFAULT_TTL_BOUNDS.minSeconds)
  .max(DEFAULT_TTL_BOUNDS.maxSeconds)
  .nullable()
  .optional()
  .openapi({
    description:
      "Seconds a document written without expiresAt lives: writes from now on get expiresAt = write time + this. " +
      "Documents already stored keep the expiry they were written with. An explicit expiresAt wins. " +
      "null: no default (documents without expiresAt never expire); absent: unchanged.",
    example: 2_592_000,
  });

const SetQuotasBody = z
  .strictObject({
    documents: Override(1_000_000_000, "documents"),
    chunks: Override(1_000_000_000, "chunks (vectors per live version)"),
    bytes: Override(Number.MAX_SAFE_INTEGER, "bytes of document text"),
    defaultTtlSeconds: DefaultTtl,
  })
  .openapi("SetQuotasRequest");

const OverridesSchema = z.object({
  documents: z.number().int().nullable(),
  chunks: z.number().int().nullable(),
  bytes: z.number().int().nullable(),
});

export const QuotasResponseSchema = z
  .object({
    namespace: z.string(),
    quotas: NamespaceQuotasSchema,
    overrides: OverridesSchema.openapi({
      description: "The admin's limits; null: the deployment's default.",
    }),
    defaultTtlSeconds: z.number().int().nullable().openapi({
      description: "Seconds a document written without expiresAt lives; null: it never expires.",
    }),
  })
  .openapi("Quotas");
export type QuotasResponse = z.infer<typeof QuotasResponseSchema>;

export function registerQuotas(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/quotas",
      operationId: "getQuotas",
      middleware: requires("admin"),
      tags: ["namespaces"],
      summary: "A namespace's quotas (usage, limits, overrides) and default time to live (admin role)",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(QuotasResponseSchema, "Quotas"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const services = c.get("services");
      const { usage, overrides, defaultTtlSeconds } = await new QuotaStore(services).namespace(ns);
      const quotas = quotaReport(usage, namespaceLimits(services.config, overrides));
      return c.json({ namespace: ns, quotas, overrides, defaultTtlSeconds }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/namespaces/{ns}/quotas",
      operationId: "putQuotas",
      middleware: requires("admin"),
      tags: ["namespaces"],
      summary:
        "Override a namespace's quotas or set its default time to live (admin role; quotas above the defaults, a key covering every namespace)",
      request: { params: NamespaceParams, body: jsonBody(SetQuotasBody, setQuotasExample) },
      responses: { 200: jsonResponse(QuotasResponseSchema, "Quotas now in force"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      const principal = c.get("principal");
      requireNamespace(principal, ns);
      const body = c.req.valid("json");
      const services = c.get("services");
      const store = new QuotaStore(services);
      const current = await store.namespace(ns);
      const overrides: NamespaceOverrides = { ...current.overrides };
      for (const quota of NAMESPACE_QUOTAS) {
        const value = body[quota];
        if (value === undefined) continue;
        if (value !== null && value > services.config.quotas[quota] && !principal.namespaces.includes("*")) {
          throw new AppError(
            "forbidden",
            `raising the "${quota}" quota above the default (${services.config.quotas[quota]}) takes a key that covers every namespace ("*")`,
            { field: `body.${quota}` },
          );
        }
        overrides[quota] = value;
      }
      const defaultTtlSeconds =
        body.defaultTtlSeconds === undefined ? current.defaultTtlSeconds : body.defaultTtlSeconds;
      await store.setSettings(ns, { overrides, defaultTtlSeconds }, principal.keyId);
      c.get("logger").info("quotas.set", { namespace: ns, overrides, defaultTtlSeconds });
      const quotas = quotaReport(current.usage, namespaceLimits(services.config, overrides));
      return c.json({ namespace: ns, quotas, overrides, defaultTtlSeconds }, 200);
    },
  );
}
