// API key records in D1: create (returns the key once), look up by id, list, revoke.
import { z } from "zod";
import { AppError } from "../errors";
import { d1 } from "../store/d1";
import { generateKey, sha256Hex } from "./keys";
import { type Principal, RATE_LIMIT_TIERS, type RateLimitTier, ROLES, type Role } from "./scopes";

export interface KeyRecord {
  id: string;
  name: string;
  namespaces: string[];
  roles: Role[];
  rateLimit: RateLimitTier;
  /** How many namespaces the key may create; null: the deployment's default. */
  maxNamespaces: number | null;
  createdBy: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

const RowSchema = z.object({
  id: z.string(),
  name: z.string(),
  secret_hash: z.string(),
  namespaces: z.string().transform((s) => z.array(z.string()).parse(JSON.parse(s))),
  roles: z.string().transform((s) => z.array(z.enum(ROLES)).parse(JSON.parse(s))),
  rate_limit: z.enum(RATE_LIMIT_TIERS),
  max_namespaces: z.number().nullable().default(null),
  created_by: z.string().nullable(),
  created_at: z.number(),
  expires_at: z.number().nullable(),
  revoked_at: z.number().nullable(),
});

type Row = z.infer<typeof RowSchema>;

function toRecord(r: Row): KeyRecord {
  return {
    id: r.id,
    name: r.name,
    namespaces: r.namespaces,
    roles: r.roles,
    rateLimit: r.rate_limit,
    maxNamespaces: r.max_namespaces,
    createdBy: r.created_by,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

export function toPrincipal(r: KeyRecord): Principal {
  return {
    keyId: r.id,
    name: r.name,
    namespaces: r.namespaces,
    roles: r.roles,
    rateLimit: r.rateLimit,
    expiresAt: r.expiresAt,
    maxNamespaces: r.maxNamespaces,
  };
}

export interface NewKey {
  name: string;
  namespaces: string[];
  roles: Role[];
  rateLimit: RateLimitTier;
  expiresAt: number | null;
  maxNamespaces?: number | null;
}

export class KeyStore {
  constructor(private readonly db: D1Database) {}

  /**
   * Stores a new key created by `createdBy`, unless that key has been revoked meanwhile (it may
   * still be cached as valid in this isolate): the check and the insert are one statement, so a
   * key revoked concurrently either has this one as a descendant or refuses it.
   */
  async create(
    spec: NewKey,
    createdBy: string,
    now = Date.now(),
  ): Promise<{ key: string; record: KeyRecord }> {
    const { id, secret, key } = generateKey();
    const hash = await sha256Hex(secret);
    const result = await d1("create key", () =>
      this.db
        .prepare(
          `INSERT INTO api_keys (id, name, secret_hash, namespaces, roles, rate_limit, created_by, created_at, expires_at, max_namespaces)
           SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
           WHERE NOT EXISTS (SELECT 1 FROM api_keys WHERE id = ?7 AND revoked_at IS NOT NULL)`,
        )
        .bind(
          id,
          spec.name,
          hash,
          JSON.stringify(spec.namespaces),
          JSON.stringify(spec.roles),
          spec.rateLimit,
          createdBy,
          now,
          spec.expiresAt,
          spec.maxNamespaces ?? null,
        )
        .run(),
    );
    if (result.meta.changes !== 1) throw new AppError("unauthorized", "the creating key has been revoked");
    return {
      key,
      record: {
        id,
        ...spec,
        maxNamespaces: spec.maxNamespaces ?? null,
        createdBy,
        createdAt: now,
        revokedAt: null,
      },
    };
  }

  /** The record and its secret hash, or null. */
  async find(id: string): Promise<{ record: KeyRecord; secretHash: string } | null> {
    const row = await d1("read key", () =>
      this.db.prepare("SELECT * FROM api_keys WHERE id = ?1").bind(id).first(),
    );
    if (!row) return null;
    const parsed = RowSchema.parse(row);
    return { record: toRecord(parsed), secretHash: parsed.secret_hash };
  }

  async list(): Promise<KeyRecord[]> {
    const { results } = await d1("list keys", () =>
      this.db.prepare("SELECT * FROM api_keys ORDER BY created_at, id").all(),
    );
    return results.map((r) => toRecord(RowSchema.parse(r)));
  }

  /**
   * Revokes a key and every key created from it, at any depth (keys it created, the keys those
   * created, ...). Returns the key's record and how many descendants this call revoked.
   */
  async revoke(id: string, now = Date.now()): Promise<{ record: KeyRecord; descendants: number } | null> {
    const result = await d1("revoke key", () =>
      this.db
        .prepare(
          `WITH RECURSIVE tree(id) AS (
             SELECT ?1
             UNION
             SELECT k.id FROM api_keys k JOIN tree t ON k.created_by = t.id
           )
           UPDATE api_keys SET revoked_at = ?2
           WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL
           RETURNING id`,
        )
        .bind(id, now)
        .all<{ id: string }>(),
    );
    const found = await this.find(id);
    if (!found) return null;
    return { record: found.record, descendants: result.results.filter((r) => r.id !== id).length };
  }
}
