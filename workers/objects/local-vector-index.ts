// The local vector index: one Durable Object per index (idFromName(indexName)) that stands in for
// Vectorize in local mode, with its interface, limits and semantics: namespaces, metadata filters,
// exact cosine search, and asynchronous writes. upsert/deleteByIds validate at once, record a
// mutation and return its id; an alarm applies pending mutations in order a short delay later, and
// only applied mutations are visible to query, getByIds and describe, as on Vectorize.
// Differences: search is exact (Vectorize is approximate), every metadata field counts as indexed
// (no metadata indexes to create; returnMetadata "indexed" returns all fields, untruncated), and
// mutation ids are UUIDs like Vectorize's but applied strictly in order.
//
// Methods return an outcome envelope instead of throwing our errors: RPC keeps an error's message
// but not its class or fields, and callers need the AppError code and retryable flag.

import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { AppError, type ErrorCode } from "../../src/errors";
import { type ScoredRow, TopK, VectorBlockMatrix } from "../../src/vectors/exact-search";
import { matchesFilter } from "../../src/vectors/filter";
import { type ValidVector, validateIds, validateQuery, validateVectors } from "../../src/vectors/validate";
import { VECTORIZE_LIMITS, type VectorMetadata } from "../../src/vectors/vector-index";

export type LocalIndexOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: ErrorCode; message: string; retryable: boolean; field?: string } };

export interface LocalIndexSettings {
  dimensions: number;
  metric: "cosine";
  /**
   * How long writes stay pending before the alarm applies them, for this index. Defaults to
   * LOCAL_INDEX_APPLY_DELAY_MS (100 ms); raise it to reproduce Vectorize's seconds of lag.
   */
  applyDelayMs?: number;
}

export interface WireMatch {
  id: string;
  score: number;
  namespace?: string;
  values?: Float32Array;
  metadata?: VectorMetadata;
}

export interface WireVector {
  id: string;
  values: Float32Array;
  namespace?: string;
  metadata?: VectorMetadata;
}

export interface WireIndexInfo {
  vectorCount: number;
  dimensions: number;
  processedUpToMutation: string | null;
  processedUpToDatetime: number | null;
}

const DEFAULT_APPLY_DELAY_MS = 100;
// Vectors without a namespace are stored under the empty string, which is not a valid namespace.
const NO_NAMESPACE = "";

const envSchema = z.object({
  LOCAL_INDEX_APPLY_DELAY_MS: z.coerce.number().int().min(0).optional(),
});

const settingsSchema = z.object({
  dimensions: z.number().int().min(1).max(VECTORIZE_LIMITS.maxDimensions),
  metric: z.literal("cosine"),
  applyDelayMs: z.number().int().min(0).optional(),
});

const processedSchema = z.object({
  mutationId: z.string(),
  at: z.number(),
});

const metadataSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

interface PendingItem extends Record<string, SqlStorageValue> {
  id: string;
  namespace: string;
  vals: ArrayBuffer | null;
  metadata: string | null;
}

function toBlob(values: Float32Array): ArrayBuffer {
  // A copy, so the blob holds exactly this vector even when `values` views a larger buffer.
  return new Float32Array(values).buffer;
}

function parseMetadata(json: string | null): VectorMetadata | undefined {
  return json === null ? undefined : metadataSchema.parse(JSON.parse(json));
}

export class LocalVectorIndex extends DurableObject<Env> {
  private settings: LocalIndexSettings | undefined;
  private processed: { mutationId: string; at: number } | undefined;
  private readonly defaultDelayMs: number;
  /** Decoded vectors per namespace, loaded on first use and kept in step with applied mutations. */
  private readonly matrices = new Map<string, VectorBlockMatrix>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const parsed = envSchema.safeParse(env);
    this.defaultDelayMs = parsed.success
      ? (parsed.data.LOCAL_INDEX_APPLY_DELAY_MS ?? DEFAULT_APPLY_DELAY_MS)
      : DEFAULT_APPLY_DELAY_MS;
    void ctx.blockConcurrencyWhile(async () => {
      this.migrate();
      this.settings = this.readMeta("settings", settingsSchema);
      this.processed = this.readMeta("processed", processedSchema);
    });
  }

  /**
   * Fixes the index's dimensions (and metric, cosine only), like creating a Vectorize index.
   * Without it the first upsert fixes them. Dimensions cannot change once set.
   */
  async configure(settings: LocalIndexSettings): Promise<LocalIndexOutcome<LocalIndexSettings>> {
    return this.outcome(() => {
      const parsed = settingsSchema.safeParse(settings);
      if (!parsed.success) {
        throw new AppError("bad_request", `invalid index settings: ${parsed.error.message}`, {
          retryable: false,
        });
      }
      const next = parsed.data;
      if (this.settings !== undefined && this.settings.dimensions !== next.dimensions) {
        throw new AppError(
          "conflict",
          `index has ${this.settings.dimensions} dimensions and cannot change to ${next.dimensions}`,
          { retryable: false, field: "dimensions" },
        );
      }
      this.saveSettings(next);
      return next;
    });
  }

  async upsert(vectors: WireVector[]): Promise<LocalIndexOutcome<{ mutationId: string }>> {
    return this.outcome(async () => {
      const valid = validateVectors(vectors, this.settings?.dimensions);
      const first = valid[0];
      if (this.settings === undefined && first !== undefined) {
        this.saveSettings({ dimensions: first.values.length, metric: "cosine" });
      }
      const mutationId = this.recordMutation("upsert", valid);
      await this.scheduleApply();
      return { mutationId };
    });
  }

  async deleteByIds(ids: string[]): Promise<LocalIndexOutcome<{ mutationId: string }>> {
    return this.outcome(async () => {
      const valid = validateIds(ids, "deleteByIds");
      const mutationId = this.recordMutation(
        "delete",
        valid.map((id) => ({ id })),
      );
      await this.scheduleApply();
      return { mutationId };
    });
  }

  async query(
    vector: Float32Array | number[],
    options?: unknown,
  ): Promise<LocalIndexOutcome<{ count: number; matches: WireMatch[] }>> {
    return this.outcome(() => {
      const q = validateQuery(vector, options, this.settings?.dimensions);
      const namespaces = q.namespace === undefined ? this.namespaces() : [q.namespace];
      const filter = q.filter;
      const accept =
        filter === undefined ? undefined : (m: VectorMetadata | undefined) => matchesFilter(m, filter);
      const top = new TopK<ScoredRow & { namespace: string }>(q.topK);
      for (const namespace of namespaces) {
        const matrix = this.matrix(namespace);
        if (matrix === undefined) continue;
        const local = new TopK<ScoredRow>(q.topK);
        matrix.search(q.vector, local, accept);
        for (const item of local.items) top.push({ ...item, namespace });
      }
      const matches = top.items.map((item): WireMatch => {
        const matrix = this.matrix(item.namespace);
        const metadata = q.returnMetadata === "none" ? undefined : matrix?.metadataAt(item.row);
        return {
          id: item.id,
          score: item.score,
          ...(item.namespace === NO_NAMESPACE ? {} : { namespace: item.namespace }),
          ...(q.returnValues && matrix !== undefined ? { values: matrix.values(item.row) } : {}),
          ...(metadata === undefined ? {} : { metadata }),
        };
      });
      return { count: matches.length, matches };
    });
  }

  async getByIds(ids: string[]): Promise<LocalIndexOutcome<WireVector[]>> {
    return this.outcome(() => {
      const seen = new Set<string>();
      const out: WireVector[] = [];
      for (const id of validateIds(ids, "getByIds")) {
        if (seen.has(id)) continue;
        seen.add(id);
        const row = this.ctx.storage.sql
          .exec<{ namespace: string; vals: ArrayBuffer; metadata: string | null }>(
            "SELECT namespace, vals, metadata FROM vectors WHERE id = ?",
            id,
          )
          .toArray()[0];
        if (row === undefined) continue;
        const metadata = parseMetadata(row.metadata);
        out.push({
          id,
          values: new Float32Array(row.vals),
          ...(row.namespace === NO_NAMESPACE ? {} : { namespace: row.namespace }),
          ...(metadata === undefined ? {} : { metadata }),
        });
      }
      return out;
    });
  }

  async describe(): Promise<LocalIndexOutcome<WireIndexInfo>> {
    return this.outcome(() => {
      const { n } = this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM vectors").one();
      return {
        vectorCount: n,
        // 0 until configured or first written: a Vectorize index always has dimensions, this one
        // learns them from its first upsert.
        dimensions: this.settings?.dimensions ?? 0,
        processedUpToMutation: this.processed?.mutationId ?? null,
        // When that mutation was accepted (epoch ms).
        processedUpToDatetime: this.processed?.at ?? null,
      };
    });
  }

  /**
   * Applies every pending mutation now and returns the id of the last one applied (null when the
   * index has never been written). The local equivalent of waiting until describe() reports
   * processedUpToMutation as your mutation: for tests and tools.
   */
  async flush(): Promise<LocalIndexOutcome<string | null>> {
    return this.outcome(() => {
      this.applyPending();
      return this.processed?.mutationId ?? null;
    });
  }

  override async alarm(): Promise<void> {
    this.applyPending();
  }

  private async outcome<T>(run: () => T | Promise<T>): Promise<LocalIndexOutcome<T>> {
    try {
      return { ok: true, value: await run() };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return {
        ok: false,
        error: {
          code: err.code,
          message: err.message,
          retryable: err.retryable,
          ...(err.field === undefined ? {} : { field: err.field }),
        },
      };
    }
  }

  private migrate(): void {
    this.ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS vectors (
        id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        vals BLOB NOT NULL,
        metadata TEXT
      );
      CREATE INDEX IF NOT EXISTS vectors_by_namespace ON vectors (namespace);
      CREATE TABLE IF NOT EXISTS mutations (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        mutation_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('upsert', 'delete')),
        created_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS mutation_items (
        seq INTEGER NOT NULL,
        ord INTEGER NOT NULL,
        id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        vals BLOB,
        metadata TEXT,
        PRIMARY KEY (seq, ord)
      );
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
  }

  private readMeta<T>(key: string, schema: z.ZodType<T>): T | undefined {
    const row = this.ctx.storage.sql
      .exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key)
      .toArray()[0];
    return row === undefined ? undefined : schema.parse(JSON.parse(row.value));
  }

  private writeMeta(key: string, value: unknown): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      key,
      JSON.stringify(value),
    );
  }

  private saveSettings(settings: LocalIndexSettings): void {
    this.writeMeta("settings", settings);
    this.settings = settings;
  }

  private recordMutation(
    kind: "upsert" | "delete",
    items: readonly (Pick<ValidVector, "id"> & Partial<ValidVector>)[],
  ): string {
    const sql = this.ctx.storage.sql;
    const mutationId = crypto.randomUUID();
    this.ctx.storage.transactionSync(() => {
      const { seq } = sql
        .exec<{ seq: number }>(
          "INSERT INTO mutations (mutation_id, kind, created_at) VALUES (?, ?, ?) RETURNING seq",
          mutationId,
          kind,
          Date.now(),
        )
        .one();
      items.forEach((item, ord) => {
        sql.exec(
          "INSERT INTO mutation_items (seq, ord, id, namespace, vals, metadata) VALUES (?, ?, ?, ?, ?, ?)",
          seq,
          ord,
          item.id,
          item.namespace ?? NO_NAMESPACE,
          item.values === undefined ? null : toBlob(item.values),
          item.metadata === undefined ? null : JSON.stringify(item.metadata),
        );
      });
    });
    return mutationId;
  }

  private async scheduleApply(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) !== null) return;
    const delay = this.settings?.applyDelayMs ?? this.defaultDelayMs;
    await this.ctx.storage.setAlarm(Date.now() + delay);
  }

  /** Applies pending mutations in order, each in its own transaction. */
  private applyPending(): void {
    const sql = this.ctx.storage.sql;
    const pending = sql
      .exec<{ seq: number; mutation_id: string; kind: string; created_at: number }>(
        "SELECT seq, mutation_id, kind, created_at FROM mutations ORDER BY seq",
      )
      .toArray();
    for (const mutation of pending) {
      const items = sql
        .exec<PendingItem>(
          "SELECT id, namespace, vals, metadata FROM mutation_items WHERE seq = ? ORDER BY ord",
          mutation.seq,
        )
        .toArray();
      const processed = { mutationId: mutation.mutation_id, at: mutation.created_at };
      try {
        this.ctx.storage.transactionSync(() => {
          for (const item of items) this.applyItem(mutation.kind, item);
          sql.exec("DELETE FROM mutation_items WHERE seq = ?", mutation.seq);
          sql.exec("DELETE FROM mutations WHERE seq = ?", mutation.seq);
          this.writeMeta("processed", processed);
        });
      } catch (err) {
        // The in-memory matrices may have taken part of a rolled-back mutation: rebuild them.
        this.matrices.clear();
        throw err;
      }
      this.processed = processed;
    }
  }

  private applyItem(kind: string, item: PendingItem): void {
    const sql = this.ctx.storage.sql;
    const previous = sql
      .exec<{ namespace: string }>("SELECT namespace FROM vectors WHERE id = ?", item.id)
      .toArray()[0];
    if (previous !== undefined && (kind === "delete" || previous.namespace !== item.namespace)) {
      this.matrices.get(previous.namespace)?.remove(item.id);
    }
    if (kind === "delete" || item.vals === null) {
      sql.exec("DELETE FROM vectors WHERE id = ?", item.id);
      return;
    }
    sql.exec(
      `INSERT INTO vectors (id, namespace, vals, metadata) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, vals = excluded.vals,
         metadata = excluded.metadata`,
      item.id,
      item.namespace,
      item.vals,
      item.metadata,
    );
    this.matrices
      .get(item.namespace)
      ?.set(item.id, new Float32Array(item.vals), parseMetadata(item.metadata));
  }

  private namespaces(): string[] {
    return this.ctx.storage.sql
      .exec<{ namespace: string }>("SELECT DISTINCT namespace FROM vectors")
      .toArray()
      .map((r) => r.namespace);
  }

  /** The namespace's decoded vectors, read from SQLite on first use after a start. */
  private matrix(namespace: string): VectorBlockMatrix | undefined {
    const cached = this.matrices.get(namespace);
    if (cached !== undefined) return cached;
    if (this.settings === undefined) return undefined;
    const matrix = new VectorBlockMatrix(this.settings.dimensions);
    const rows = this.ctx.storage.sql.exec<{ id: string; vals: ArrayBuffer; metadata: string | null }>(
      "SELECT id, vals, metadata FROM vectors WHERE namespace = ?",
      namespace,
    );
    for (const row of rows) matrix.set(row.id, new Float32Array(row.vals), parseMetadata(row.metadata));
    // Only namespaces that hold vectors are kept: queries for unknown ones must not grow the map.
    if (matrix.size > 0) this.matrices.set(namespace, matrix);
    return matrix;
  }
}
