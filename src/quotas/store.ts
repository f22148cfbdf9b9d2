// Quota state in D1 (migrations/0008_quotas.sql): usage rows kept by triggers on `documents`,
// admin overrides, namespace creators and in-flight reservations. Every check that must hold
// under concurrency is one conditional statement, so two writes cannot both pass it.
import { z } from "zod";
import type { RedactionSettings } from "../redaction/scan";
import { RedactionStore, redactionColumns, redactionFromRow } from "../redaction/settings";
import { type D1Like, d1 } from "../store/d1";
import { type NamespaceLimits, type NamespaceOverrides, type NamespaceUsage, NO_OVERRIDES } from "./limits";

/**
 * How long a reservation counts when its write never releases it (the Worker died between the
 * check and the D1 commit). A write slower than this between the two loses its protection.
 */
export const RESERVATION_TTL_MS = 5 * 60_000;

const UsageRow = z.object({ documents: z.number(), bytes: z.number(), chunks: z.number() });
const OverrideRow = z.object({
  max_documents: z.number().nullable(),
  max_chunks: z.number().nullable(),
  max_bytes: z.number().nullable(),
  default_ttl_seconds: z.number().nullable().optional(),
});
const LiveRow = z.object({ id: z.string(), bytes: z.number() });
const ReservedRow = z.object({ documents: z.number(), bytes: z.number() });

/** What a write's check reads: the namespace's usage, overrides and the documents it replaces. */
export interface WriteState {
  usage: NamespaceUsage;
  /** Documents and bytes other writes reserved and have not committed yet. */
  reserved: { documents: number; bytes: number };
  overrides: NamespaceOverrides;
  /** Stored bytes of each document of the write that exists (and is not deleted). */
  live: Map<string, number>;
  /** The key that created the namespace, if a key did. */
  creator: string | null;
  /** Seconds a document written without expiresAt lives; null: it never expires. */
  defaultTtlSeconds: number | null;
}

/** What an admin sets for a namespace (PUT /v1/namespaces/{ns}/quotas). */
export interface NamespaceSettings {
  overrides: NamespaceOverrides;
  defaultTtlSeconds: number | null;
}

const ZERO: NamespaceUsage = { documents: 0, bytes: 0, chunks: 0 };

function usageOf(rows: unknown[] | undefined): NamespaceUsage {
  const row = rows?.[0];
  return row ? UsageRow.parse(row) : ZERO;
}

function settingsOf(rows: unknown[] | undefined): NamespaceSettings {
  const row = rows?.[0];
  if (!row) return { overrides: NO_OVERRIDES, defaultTtlSeconds: null };
  const r = OverrideRow.parse(row);
  return {
    overrides: { documents: r.max_documents, chunks: r.max_chunks, bytes: r.max_bytes },
    defaultTtlSeconds: r.default_ttl_seconds ?? null,
  };
}

/**
 * Where quota state lives: usage (kept by triggers on `documents`), overrides and reservations in
 * the namespace's own database, so a reservation checks usage in one statement; the namespaces
 * each key created in the control database, with the namespaces' usage read from each database.
 */
export interface QuotaDatabases {
  /** The control database (DB). */
  db: D1Like;
  pool: {
    writes(namespace: string): D1Like;
    /** `writes`, resolved now, and whether it is the control database (one statement reads both). */
    placedWrites(namespace: string): Promise<{ db: D1Like; inControl: boolean }>;
    /** Every database a namespace may be in. */
    members(): readonly D1Like[];
  };
}

export class QuotaStore {
  constructor(private readonly where: QuotaDatabases) {}

  private data(namespace: string): D1Like {
    return this.where.pool.writes(namespace);
  }

  /**
   * A namespace's usage and overrides, as one row; with `redaction`, its redaction settings too
   * (they live in the control database: only for a namespace whose rows are there).
   */
  private namespaceStatement(
    namespace: string,
    redaction = false,
    db = this.data(namespace),
  ): D1PreparedStatement {
    return db
      .prepare(
        `SELECT COALESCE(u.documents, 0) AS documents, COALESCE(u.bytes, 0) AS bytes,
           COALESCE(u.chunks, 0) AS chunks, q.max_documents, q.max_chunks, q.max_bytes,
           q.default_ttl_seconds${redaction ? `, ${redactionColumns("r")}` : ""}
         FROM (SELECT ?1 AS name) n
         LEFT JOIN namespace_usage u ON u.namespace = n.name
         LEFT JOIN namespace_quotas q ON q.namespace = n.name${
           redaction ? "\n         LEFT JOIN namespace_redaction r ON r.namespace = n.name" : ""
         }`,
      )
      .bind(namespace);
  }

  /** A namespace's usage and settings, in one statement (the ingest runs it per document). */
  async namespace(namespace: string): Promise<{ usage: NamespaceUsage } & NamespaceSettings> {
    const row = await d1("read quotas", () => this.namespaceStatement(namespace).first());
    return { usage: usageOf(row ? [row] : []), ...settingsOf(row ? [row] : []) };
  }

  /**
   * As `namespace`, with the namespace's redaction settings read in the same statement when its
   * rows are in the control database, else by a query on it run beside (the ingest reads both
   * for every document).
   */
  async namespaceWithRedaction(
    namespace: string,
  ): Promise<{ usage: NamespaceUsage; redaction: RedactionSettings } & NamespaceSettings> {
    // The statement runs on the database this answer names, even if the namespace moves meanwhile.
    const { db, inControl } = await d1("read quotas", () => this.where.pool.placedWrites(namespace));
    const [row, separate] = await Promise.all([
      d1("read quotas", () =>
        this.namespaceStatement(namespace, inControl, db).first<Record<string, unknown>>(),
      ),
      inControl ? null : new RedactionStore(this.where.db).get(namespace),
    ]);
    return {
      usage: usageOf(row ? [row] : []),
      ...settingsOf(row ? [row] : []),
      redaction: separate ?? redactionFromRow(row ?? {}),
    };
  }

  /** Everything a write's check needs, in two round trips (json_each: one bound parameter for all ids). */
  async writeState(namespace: string, ids: string[], now = Date.now()): Promise<WriteState> {
    const db = this.data(namespace);
    const [[figures, live, reserved], creator] = await d1("read quotas", () =>
      Promise.all([
        db.batch([
          this.namespaceStatement(namespace),
          db
            .prepare(
              `SELECT d.id, d.bytes FROM json_each(?2) j
               CROSS JOIN documents d ON d.namespace = ?1 AND d.id = j.value
               WHERE d.status != 'deleted'`,
            )
            .bind(namespace, JSON.stringify(ids)),
          db
            .prepare(
              `SELECT COALESCE(SUM(documents), 0) AS documents, COALESCE(SUM(bytes), 0) AS bytes
               FROM quota_reservations WHERE namespace = ?1 AND expires_at > ?2`,
            )
            .bind(namespace, now),
        ]),
        this.where.db
          .prepare("SELECT key_id FROM namespace_creators WHERE namespace = ?1")
          .bind(namespace)
          .first<{ key_id: unknown }>(),
      ]),
    );
    return {
      usage: usageOf(figures?.results),
      ...settingsOf(figures?.results),
      live: new Map((live?.results ?? []).map((r) => LiveRow.parse(r)).map((r) => [r.id, r.bytes])),
      reserved: ReservedRow.parse(reserved?.results?.[0] ?? { documents: 0, bytes: 0 }),
      creator: typeof creator?.key_id === "string" ? creator.key_id : null,
    };
  }

  /**
   * Reserves `documents` and `bytes` for a write if the namespace's usage, plus what other writes
   * reserved, plus this write still fits `limits` (an amount of 0 always fits). One statement:
   * D1 runs statements one at a time, so two writes cannot both take the last of a quota.
   */
  async reserve(
    id: string,
    namespace: string,
    amount: { documents: number; bytes: number },
    limits: NamespaceLimits,
    now = Date.now(),
  ): Promise<boolean> {
    const result = await d1("reserve quota", () =>
      this.data(namespace)
        .prepare(
          `INSERT INTO quota_reservations (id, namespace, documents, bytes, expires_at)
           SELECT ?2, ?1, ?3, ?4, ?5 + ?8
           WHERE (?3 = 0 OR COALESCE((SELECT documents FROM namespace_usage WHERE namespace = ?1), 0)
                    + (SELECT COALESCE(SUM(documents), 0) FROM quota_reservations WHERE namespace = ?1 AND expires_at > ?5)
                    + ?3 <= ?6)
             AND (?4 = 0 OR COALESCE((SELECT bytes FROM namespace_usage WHERE namespace = ?1), 0)
                    + (SELECT COALESCE(SUM(bytes), 0) FROM quota_reservations WHERE namespace = ?1 AND expires_at > ?5)
                    + ?4 <= ?7)`,
        )
        .bind(
          namespace,
          id,
          amount.documents,
          amount.bytes,
          now,
          limits.documents,
          limits.bytes,
          RESERVATION_TTL_MS,
        )
        .run(),
    );
    return (result.meta.changes ?? 0) > 0;
  }

  /** Ends a reservation (its write committed or failed), and clears expired ones. */
  async release(namespace: string, id: string, now = Date.now()): Promise<void> {
    await d1("release quota", () =>
      this.data(namespace)
        .prepare("DELETE FROM quota_reservations WHERE id = ?1 OR expires_at <= ?2")
        .bind(id, now)
        .run(),
    );
  }

  /**
   * Records `keyId` as the creator of `namespace` if it has no creator and the key created fewer
   * than `limit` namespaces that still count: those holding documents, and those claimed within
   * the reservation TTL (their first write may not have committed yet). Returns whether the
   * namespace has a creator now (this key, or a concurrent write's). The claims within the TTL are
   * counted in the same statement, so two concurrent first writes cannot both take the last one.
   */
  async claim(namespace: string, keyId: string, limit: number, now = Date.now()): Promise<boolean> {
    const holding = await this.holding(keyId, now);
    const [, creator] = await d1("claim namespace", () =>
      this.where.db.batch([
        this.where.db
          .prepare(
            `INSERT INTO namespace_creators (namespace, key_id, created_at)
             SELECT ?1, ?2, ?3
             WHERE (SELECT COUNT(*) FROM namespace_creators c
                    WHERE c.key_id = ?2 AND (c.created_at > ?3 - ?5 OR c.namespace IN (SELECT value FROM json_each(?6)))) < ?4
             ON CONFLICT (namespace) DO NOTHING`,
          )
          .bind(namespace, keyId, now, limit, RESERVATION_TTL_MS, JSON.stringify(holding)),
        this.where.db.prepare("SELECT key_id FROM namespace_creators WHERE namespace = ?1").bind(namespace),
      ]),
    );
    return (creator?.results?.length ?? 0) > 0;
  }

  /** How many namespaces that still count (see claim) the key created. */
  async createdBy(keyId: string, now = Date.now()): Promise<number> {
    const holding = new Set(await this.holding(keyId, now));
    const { results } = await d1("list created namespaces", () =>
      this.where.db
        .prepare("SELECT namespace, created_at FROM namespace_creators WHERE key_id = ?1")
        .bind(keyId)
        .all<{ namespace: string; created_at: number }>(),
    );
    return results.filter((r) => r.created_at > now - RESERVATION_TTL_MS || holding.has(r.namespace)).length;
  }

  /** The namespaces the key created that hold documents, from each database of the pool. */
  private async holding(keyId: string, now: number): Promise<string[]> {
    const { results } = await d1("list created namespaces", () =>
      this.where.db
        .prepare("SELECT namespace FROM namespace_creators WHERE key_id = ?1 AND created_at <= ?2 - ?3")
        .bind(keyId, now, RESERVATION_TTL_MS)
        .all<{ namespace: string }>(),
    );
    if (results.length === 0) return [];
    const names = JSON.stringify(results.map((r) => r.namespace));
    const found = await d1("read namespace usage", () =>
      Promise.all(
        this.where.pool
          .members()
          .map((db) =>
            db
              .prepare(
                "SELECT namespace FROM namespace_usage WHERE documents > 0 AND namespace IN (SELECT value FROM json_each(?1))",
              )
              .bind(names)
              .all<{ namespace: string }>(),
          ),
      ),
    );
    return [...new Set(found.flatMap((r) => r.results.map((row) => row.namespace)))];
  }

  /** Sets a namespace's overrides (null: back to the default) and default time to live. */
  async setSettings(
    namespace: string,
    { overrides, defaultTtlSeconds }: NamespaceSettings,
    updatedBy: string,
    now = Date.now(),
  ): Promise<void> {
    await d1("set quotas", () =>
      this.data(namespace)
        .prepare(
          `INSERT INTO namespace_quotas (namespace, max_documents, max_chunks, max_bytes, updated_by, updated_at, default_ttl_seconds)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
           ON CONFLICT (namespace) DO UPDATE SET max_documents = excluded.max_documents,
             max_chunks = excluded.max_chunks, max_bytes = excluded.max_bytes,
             updated_by = excluded.updated_by, updated_at = excluded.updated_at,
             default_ttl_seconds = excluded.default_ttl_seconds`,
        )
        .bind(
          namespace,
          overrides.documents,
          overrides.chunks,
          overrides.bytes,
          updatedBy,
          now,
          defaultTtlSeconds,
        )
        .run(),
    );
  }
}
