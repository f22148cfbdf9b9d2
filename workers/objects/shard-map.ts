// The shard map: one object for the deployment (idFromName(SHARD_MAP_NAME)), with SQLite storage.
// It records which vector index each namespace was placed in and, per index, how many namespaces
// it holds and how many vectors it last reported, and places each new namespace in the least full
// index of the pool (src/shards/policy.ts). Only a namespace's coordinator asks, once, when it
// creates the namespace's first version; the version records are the source of truth afterwards,
// so this object is never on the query or ingest path.
//
// Methods return an outcome envelope instead of throwing our errors (see src/objects/outcome.ts).
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { AppError } from "../../src/errors";
import { type RpcOutcome, toOutcome } from "../../src/objects/outcome";
import type { Assignment, ShardMapRpc, ShardMapStatus, UsageReport } from "../../src/objects/shard-map";
import { createLogger } from "../../src/observe/logger";
import {
  type DatabaseReport,
  type DatabaseUsage,
  pickDatabase,
  type StoragePolicy,
  StoragePolicySchema,
} from "../../src/shards/databases";
import { type IndexUsage, pickIndex, type ShardPolicy, ShardPolicySchema } from "../../src/shards/policy";
import { d1 } from "../../src/store/d1";
import { DEFAULT_VERSION } from "../../src/versions/model";
import { readMeta, writeMeta } from "./meta";

const NamespaceName = z.string().min(1).max(64);
const IndexName = z.string().min(1).max(64);
const ReportsSchema = z
  .array(
    z.object({
      index: IndexName,
      vectors: z.number().int().min(0),
      dimensions: z.number().int().min(0),
    }),
  )
  .max(1000);
const DatabaseReportsSchema = z
  .array(z.object({ database: IndexName, bytes: z.number().int().min(0) }))
  .max(100)
  .default([]);

const LogLevel = z.object({ LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).catch("info") });

export class ShardMap extends DurableObject<Env> implements ShardMapRpc {
  private readonly log;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.log = createLogger(LogLevel.parse(env).LOG_LEVEL, { component: "shard-map" });
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS assignments (
        namespace TEXT PRIMARY KEY, idx TEXT NOT NULL, legacy INTEGER NOT NULL, assigned_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS usage (
        idx TEXT PRIMARY KEY, namespaces INTEGER NOT NULL DEFAULT 0, vectors INTEGER NOT NULL DEFAULT 0,
        dimensions INTEGER, reported_at INTEGER
      );
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS db_assignments (
        namespace TEXT PRIMARY KEY, db TEXT NOT NULL, legacy INTEGER NOT NULL, assigned_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS db_usage (
        db TEXT PRIMARY KEY, namespaces INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
        reported_at INTEGER
      );
    `);
  }

  /**
   * The namespace's index: the recorded one, else the default index when the namespace already
   * has vectors there (it was created before the shard map), else the least full pool index that
   * takes new namespaces. Refused, not retryable, when every pool index is full. With a storage
   * policy, also its data database, chosen the same way (assignDatabase).
   */
  async assign(
    namespace: string,
    policy: ShardPolicy,
    storage?: StoragePolicy,
  ): Promise<RpcOutcome<Assignment>> {
    return toOutcome(async () => {
      const ns = parse(NamespaceName, namespace, "namespace");
      const rules = parse(ShardPolicySchema, policy, "shard policy");
      const pool = storage === undefined ? null : parse(StoragePolicySchema, storage, "storage policy");
      const assignment = await this.assignIndex(ns, rules);
      return { ...assignment, database: pool ? await this.assignDatabase(ns, pool) : null };
    });
  }

  private async assignIndex(ns: string, rules: ShardPolicy): Promise<Assignment> {
    const known = this.assignmentOf(ns);
    if (known) return known;
    const legacy = await this.hasDefaultIndexVectors(ns);
    // No await from here on: the check, the choice and the counts change together.
    const again = this.assignmentOf(ns);
    if (again) return again;
    const index = legacy ? rules.defaultIndex : pickIndex(this.usage(), rules);
    if (index === null) {
      throw new AppError(
        "unavailable",
        `every vector index of the pool (${rules.indexes.join(", ")}) is at least ${Math.round(rules.fillThreshold * 100)}% full, so namespace "${ns}" cannot be created: add an index (docs/runbooks/add-vectorize-index.md)`,
        { retryable: false },
      );
    }
    const assignment: Assignment = { namespace: ns, index, legacy, assignedAt: Date.now(), database: null };
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec(
        "INSERT INTO assignments (namespace, idx, legacy, assigned_at) VALUES (?, ?, ?, ?)",
        ns,
        index,
        legacy ? 1 : 0,
        assignment.assignedAt,
      );
      this.addNamespaces(index, 1);
    });
    this.log.info("shards.assigned", { namespace: ns, index, legacy });
    return assignment;
  }

  /**
   * The namespace's data database: the recorded one, else DB when the namespace already has
   * documents there (written before the pool), else the least full member that takes new ones.
   */
  private async assignDatabase(ns: string, pool: StoragePolicy): Promise<string> {
    const known = this.databaseOf(ns);
    if (known !== null) return known;
    const legacy = await this.hasDocumentsInDb(ns);
    // No await from here on: the check, the choice and the counts change together.
    const again = this.databaseOf(ns);
    if (again !== null) return again;
    const database = legacy ? "DB" : pickDatabase(this.databaseUsage(), pool);
    if (database === null) {
      throw new AppError(
        "unavailable",
        `every D1 database of the pool (${pool.databases.join(", ")}) is at least ${Math.round(pool.fillThreshold * 100)}% full, so namespace "${ns}" cannot be created: add a database (docs/runbooks/add-d1-database.md)`,
        { retryable: false },
      );
    }
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec(
        "INSERT INTO db_assignments (namespace, db, legacy, assigned_at) VALUES (?, ?, ?, ?)",
        ns,
        database,
        legacy ? 1 : 0,
        Date.now(),
      );
      this.addDatabaseNamespaces(database, 1);
    });
    this.log.info("shards.database_assigned", { namespace: ns, database, legacy });
    return database;
  }

  /** Moves the namespace's count to `database` once its documents were moved there. */
  async relocate(namespace: string, database: string): Promise<RpcOutcome<boolean>> {
    return toOutcome(() => {
      const ns = parse(NamespaceName, namespace, "namespace");
      const target = parse(IndexName, database, "database");
      const known = this.databaseOf(ns);
      if (known === target) return false;
      this.ctx.storage.transactionSync(() => {
        if (known !== null) this.addDatabaseNamespaces(known, -1);
        this.ctx.storage.sql.exec(
          `INSERT INTO db_assignments (namespace, db, legacy, assigned_at) VALUES (?, ?, 0, ?)
           ON CONFLICT (namespace) DO UPDATE SET db = excluded.db`,
          ns,
          target,
          Date.now(),
        );
        this.addDatabaseNamespaces(target, 1);
      });
      return true;
    });
  }

  /** The namespace's recorded index, or null when it has none. */
  async assignment(namespace: string): Promise<RpcOutcome<Assignment | null>> {
    return toOutcome(() => this.assignmentOf(parse(NamespaceName, namespace, "namespace")));
  }

  /** Vector counts and dimensions as the indexes report them (the scheduled check sends them). */
  async recordUsage(
    reports: UsageReport[],
    at: number,
    databases?: DatabaseReport[],
  ): Promise<RpcOutcome<number>> {
    return toOutcome(() => {
      const rows = parse(ReportsSchema, reports, "usage reports");
      const sizes = parse(DatabaseReportsSchema, databases, "database reports");
      this.ctx.storage.transactionSync(() => {
        for (const r of sizes) {
          this.ctx.storage.sql.exec(
            `INSERT INTO db_usage (db, bytes, reported_at) VALUES (?, ?, ?)
             ON CONFLICT (db) DO UPDATE SET bytes = excluded.bytes, reported_at = excluded.reported_at`,
            r.database,
            r.bytes,
            at,
          );
        }
        for (const r of rows) {
          this.ctx.storage.sql.exec(
            `INSERT INTO usage (idx, vectors, dimensions, reported_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (idx) DO UPDATE SET vectors = excluded.vectors, dimensions = excluded.dimensions,
               reported_at = excluded.reported_at`,
            r.index,
            r.vectors,
            // An empty local index has no dimensions yet (0): unknown, not a mismatch.
            r.dimensions === 0 ? null : r.dimensions,
            at,
          );
        }
      });
      return rows.length + sizes.length;
    });
  }

  /**
   * Records namespaces found with vectors in the default index and no assignment (created before
   * the shard map) as placed there, so that index's namespace count includes them; `cursor` is
   * where the next scan resumes. Returns how many were new.
   */
  async adopt(namespaces: string[], index: string, cursor: string): Promise<RpcOutcome<number>> {
    return toOutcome(() => {
      const names = parse(z.array(NamespaceName).max(1000), namespaces, "namespaces");
      const target = parse(IndexName, index, "index");
      const next = parse(z.string().max(64), cursor, "cursor");
      let added = 0;
      const now = Date.now();
      this.ctx.storage.transactionSync(() => {
        for (const ns of names) {
          if (this.assignmentOf(ns)) continue;
          this.ctx.storage.sql.exec(
            "INSERT INTO assignments (namespace, idx, legacy, assigned_at) VALUES (?, ?, 1, ?)",
            ns,
            target,
            now,
          );
          added += 1;
        }
        if (added > 0) this.addNamespaces(target, added);
        writeMeta(this.ctx.storage.sql, "legacy_cursor", next);
      });
      if (added > 0) this.log.info("shards.adopted", { index: target, namespaces: added });
      return added;
    });
  }

  async status(): Promise<RpcOutcome<ShardMapStatus>> {
    return toOutcome(() => ({
      indexes: this.usage(),
      legacyCursor: readMeta(this.ctx.storage.sql, "legacy_cursor") ?? "",
      databases: this.databaseUsage(),
    }));
  }

  // --- State ----------------------------------------------------------------------------------

  private assignmentOf(namespace: string): Assignment | null {
    const row = this.ctx.storage.sql
      .exec<{ idx: string; legacy: number; assigned_at: number }>(
        "SELECT idx, legacy, assigned_at FROM assignments WHERE namespace = ?",
        namespace,
      )
      .toArray()[0];
    return row
      ? {
          namespace,
          index: row.idx,
          legacy: row.legacy === 1,
          assignedAt: row.assigned_at,
          database: this.databaseOf(namespace),
        }
      : null;
  }

  private databaseOf(namespace: string): string | null {
    const row = this.ctx.storage.sql
      .exec<{ db: string }>("SELECT db FROM db_assignments WHERE namespace = ?", namespace)
      .toArray()[0];
    return row?.db ?? null;
  }

  private databaseUsage(): DatabaseUsage[] {
    return this.ctx.storage.sql
      .exec<{ db: string; namespaces: number; bytes: number; reported_at: number | null }>(
        "SELECT db, namespaces, bytes, reported_at FROM db_usage ORDER BY db",
      )
      .toArray()
      .map((r) => ({ database: r.db, namespaces: r.namespaces, bytes: r.bytes, reportedAt: r.reported_at }));
  }

  private addDatabaseNamespaces(database: string, n: number): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO db_usage (db, namespaces) VALUES (?, MAX(?, 0))
       ON CONFLICT (db) DO UPDATE SET namespaces = MAX(namespaces + ?, 0)`,
      database,
      n,
      n,
    );
  }

  /** Whether DB already holds documents of the namespace: written before the pool existed. */
  private async hasDocumentsInDb(namespace: string): Promise<boolean> {
    const row = await d1("check for existing documents", () =>
      this.env.DB.prepare("SELECT EXISTS (SELECT 1 FROM documents WHERE namespace = ?1) AS found")
        .bind(namespace)
        .first<{ found: number }>(),
    );
    return row?.found === 1;
  }

  private usage(): IndexUsage[] {
    return this.ctx.storage.sql
      .exec<{
        idx: string;
        namespaces: number;
        vectors: number;
        dimensions: number | null;
        reported_at: number | null;
      }>("SELECT idx, namespaces, vectors, dimensions, reported_at FROM usage ORDER BY idx")
      .toArray()
      .map((r) => ({
        index: r.idx,
        namespaces: r.namespaces,
        vectors: r.vectors,
        dimensions: r.dimensions,
        reportedAt: r.reported_at,
      }));
  }

  private addNamespaces(index: string, n: number): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO usage (idx, namespaces) VALUES (?, ?)
       ON CONFLICT (idx) DO UPDATE SET namespaces = namespaces + excluded.namespaces`,
      index,
      n,
    );
  }

  /**
   * Whether the namespace already has default-version chunks (so vectors in the default index):
   * documents written before the shard map existed. A namespace's first document is still
   * queued when its coordinator asks, and has no chunks yet.
   */
  private async hasDefaultIndexVectors(namespace: string): Promise<boolean> {
    const row = await d1("check for existing chunks", () =>
      this.env.DB.prepare(
        `SELECT EXISTS (SELECT 1 FROM chunks WHERE namespace = ?1 AND version = ?2)
           OR EXISTS (SELECT 1 FROM documents WHERE namespace = ?1 AND status = 'indexed') AS found`,
      )
        .bind(namespace, DEFAULT_VERSION)
        .first<{ found: number }>(),
    );
    return row?.found === 1;
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new AppError("bad_request", `invalid ${what}: ${result.error.issues[0]?.message}`, {
      retryable: false,
    });
  }
  return result.data;
}
