// Admin API for keys: create (the key is in this one response only), list (no secrets), revoke.
// An admin can only grant what it holds and for no longer than it lives, and only sees and
// revokes keys within its own scope; revoking a key revokes every key created from it.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { ADMIN_SECRET_KEY_ID, clearKeyCache } from "../../../src/auth/authenticate";
import { type KeyRecord, KeyStore } from "../../../src/auth/key-store";
import {
  grantDefect,
  NamespacePatternSchema,
  type Principal,
  RATE_LIMIT_TIERS,
  ROLES,
  scopeWithin,
} from "../../../src/auth/scopes";
import type { Config } from "../../../src/config";
import { AppError } from "../../../src/errors";
import { namespacesLimit } from "../../../src/quotas/limits";
import { requires } from "../auth";
import { createKeyExample } from "../examples";
import { errorResponses, jsonBody, jsonResponse } from "../schemas";
import type { AppEnv } from "../types";

const CreateKeyBody = z
  .strictObject({
    name: z.string().trim().min(1).max(128),
    namespaces: z.array(NamespacePatternSchema).min(1).max(32),
    roles: z.array(z.enum(ROLES)).min(1).max(ROLES.length),
    rateLimit: z.enum(RATE_LIMIT_TIERS).default("standard"),
    expiresAt: z.iso.datetime().optional().openapi({ description: "ISO 8601; the key stops working then" }),
    maxNamespaces: z.number().int().min(0).max(1_000_000).optional().openapi({
      description:
        "How many namespaces the key may create (by writing their first document); at most its creator's own. Default: QUOTA_MAX_NAMESPACES_PER_KEY, or the creator's own if lower.",
    }),
  })
  .openapi("CreateKeyRequest");

const KeyInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    namespaces: z.array(z.string()),
    roles: z.array(z.enum(ROLES)),
    rateLimit: z.enum(RATE_LIMIT_TIERS),
    maxNamespaces: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "null: the deployment's default (QUOTA_MAX_NAMESPACES_PER_KEY)" }),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi("ApiKey");

const CreatedKey = KeyInfo.extend({
  key: z.string().openapi({ description: "The secret key. Shown only in this response: store it now." }),
}).openapi("CreatedApiKey");

const RevokedKey = KeyInfo.extend({
  revokedDescendants: z.number().int().openapi({
    description: "How many keys created from this one (at any depth) this call revoked with it",
  }),
}).openapi("RevokedApiKey");

const KeyParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

/**
 * The namespace quota a new key gets: what was asked, at most the creator's own; unasked, the
 * deployment's default (stored as null) unless the creator's own is lower.
 */
function grantedNamespaces(principal: Principal, asked: number | undefined, config: Config): number | null {
  const own = namespacesLimit(principal, config, ADMIN_SECRET_KEY_ID);
  if (asked === undefined) return own < config.quotas.namespacesPerKey ? own : null;
  if (asked > own) {
    throw new AppError("forbidden", `a key can create at most as many namespaces as its creator (${own})`, {
      field: "body.maxNamespaces",
    });
  }
  return asked;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toInfo(r: KeyRecord) {
  return {
    id: r.id,
    name: r.name,
    namespaces: r.namespaces,
    roles: r.roles,
    rateLimit: r.rateLimit,
    maxNamespaces: r.maxNamespaces,
    createdAt: new Date(r.createdAt).toISOString(),
    expiresAt: iso(r.expiresAt),
    revokedAt: iso(r.revokedAt),
  };
}

export function registerKeys(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/keys",
      operationId: "createKey",
      middleware: requires("admin"),
      tags: ["admin"],
      summary: "Create an API key (admin role); the key is returned once",
      request: { body: jsonBody(CreateKeyBody, createKeyExample) },
      responses: { 201: jsonResponse(CreatedKey, "Created"), ...errorResponses },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const principal = c.get("principal");
      const expiresAt = body.expiresAt ? Date.parse(body.expiresAt) : null;
      if (expiresAt !== null && expiresAt <= Date.now()) {
        throw new AppError("validation_failed", "expiresAt is in the past", { field: "body.expiresAt" });
      }
      // A key never outranks nor outlives the key that creates it.
      const defect = grantDefect(principal, { ...body, expiresAt });
      if (defect) throw new AppError("forbidden", defect.message, { field: defect.field });
      const maxNamespaces = grantedNamespaces(principal, body.maxNamespaces, c.get("config"));
      const { key, record } = await new KeyStore(c.env.DB).create(
        {
          name: body.name,
          namespaces: body.namespaces,
          roles: body.roles,
          rateLimit: body.rateLimit,
          expiresAt,
          maxNamespaces,
        },
        principal.keyId,
      );
      c.get("logger").info("key.created", { createdKeyId: record.id });
      return c.json({ ...toInfo(record), key }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/keys",
      operationId: "listKeys",
      middleware: requires("admin"),
      tags: ["admin"],
      summary: "List the API keys within the caller's scope (never their secrets)",
      responses: { 200: jsonResponse(z.object({ keys: z.array(KeyInfo) }), "Keys"), ...errorResponses },
    }),
    async (c) => {
      const principal = c.get("principal");
      const keys = (await new KeyStore(c.env.DB).list()).filter((k) =>
        scopeWithin(principal, k.namespaces, k.roles),
      );
      return c.json({ keys: keys.map(toInfo) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/admin/keys/{id}",
      operationId: "revokeKey",
      middleware: requires("admin"),
      tags: ["admin"],
      summary:
        "Revoke an API key and every key created from it; takes effect everywhere within KEY_CACHE_TTL_SECONDS",
      request: { params: KeyParams },
      responses: { 200: jsonResponse(RevokedKey, "Revoked"), ...errorResponses },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const principal = c.get("principal");
      const store = new KeyStore(c.env.DB);
      const found = await store.find(id);
      if (!found || !scopeWithin(principal, found.record.namespaces, found.record.roles)) {
        throw new AppError("not_found", `no key "${id}"`);
      }
      const revoked = await store.revoke(id);
      if (!revoked) throw new AppError("not_found", `no key "${id}"`);
      // This isolate forgets the keys at once; others within the cache TTL.
      clearKeyCache();
      c.get("logger").info("key.revoked", { revokedKeyId: id, descendants: revoked.descendants });
      return c.json({ ...toInfo(revoked.record), revokedDescendants: revoked.descendants }, 200);
    },
  );
}
