// The local vector index: Durable Objects that stand in for Vectorize in local mode, with its
// interface, limits and semantics: namespaces, metadata filters, cosine search, and asynchronous
// writes. upsert/deleteByIds validate at once, record a mutation and return its id; an alarm applies
// pending mutations in order a short delay later, and only applied mutations are visible to query,
// getByIds and describe, as on Vectorize.
//
// An index is one or more shard objects (src/vectors/engine/shards.ts; the count is a setting,
// default 1). Shard 0 is also the index's journal: every write is recorded there, and its alarm
// applies each mutation to every shard it touches (forwarding the other shards' parts) before it
// counts the mutation as processed. So describe()'s processedUpToMutation, read from shard 0, is
// only ever a mutation that every shard shows. Reads go to the shards directly (the client fans
// queries out and merges them).
//
// Search keeps each namespace's vectors in memory as int8 codes (src/vectors/engine/) and scans them
// with a WebAssembly SIMD kernel; the best candidates are rescored with their float32 values from
// SQLite, more of them while scores are too close for int8 to call, so returned scores are exact
// cosine similarities and the results, in all our measurements, those of exact search (the stop rule
// and its bound are in src/vectors/engine/search.ts). A namespace costs about dims + 16 bytes per
// vector in memory plus its ids and metadata; configure({ shards }) spreads a large index so that no
// object holds more than fits comfortably in a 128 MB isolate (about 100k x 384 or 50k x 768 vectors
// per shard). Differences from Vectorize: every metadata field counts as indexed (returnMetadata
// "indexed" returns all fields, untruncated), and mutation ids are UUIDs like Vectorize's but applied
// strictly in order.
//
// Methods return an outcome envelope instead of throwing our errors: RPC keeps an error's message
// but not its class or fields, and callers need the AppError code and retryable flag.

import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { AppError } from "../../src/errors";
import type {
  LocalIndexOutcome,
  LocalIndexSettings,
  LocalVectorIndexRpc,
  WireIndexInfo,
  WireLayout,
  WireMatches,
  WireVector,
} from "../../src/objects/local-vector-index";
import { toOutcome } from "../../src/objects/outcome";
import { FloatCache } from "../../src/vectors/engine/float-cache";
import { createKernel } from "../../src/vectors/engine/kernel";
import { QuantizedStore } from "../../src/vectors/engine/quantized-store";
import { type SearchSource, searchStores } from "../../src/vectors/engine/search";
import { MAX_SHARDS, shardName, shardOf } from "../../src/vectors/engine/shards";
import { KERNEL_MODULE } from "../../src/vectors/engine/wasm-module";
import { matchesIndexedFilter } from "../../src/vectors/filter";
import { type ValidVector, validateIds, validateQuery, validateVectors } from "../../src/vectors/validate";
import { VECTORIZE_LIMITS, type VectorMetadata } from "../../src/vectors/vector-index";

/** One vector's part of a mutation, as journaled on shard 0 and forwarded to its shard. */
export interface WireItem extends Record<string, SqlStorageValue> {
  id: string;
  namespace: string;
  vals: ArrayBuffer | null;
  metadata: string | null;
}

export interface WireEngineStats {
  kernel: "wasm-simd" | "js" | null;
  namespacesLoaded: number;
  vectorsLoaded: number;
  bufferBytes: number;
  /** Float32 values held for rescoring, and their bytes (at most LOCAL_INDEX_FLOAT_CACHE_BYTES). */
  floatsCached: number;
  floatBytes: number;
}

const DEFAULT_APPLY_DELAY_MS = 100;
const DEFAULT_SHARDS = 1;
/** Float32 values an object keeps in memory for rescoring: all of 10,000 vectors of 768 dimensions. */
const DEFAULT_FLOAT_CACHE_BYTES = 32 * 1024 * 1024;
// Vectors without a namespace are stored under the empty string, which is not a valid namespace.
const NO_NAMESPACE = "";

const envSchema = z.object({
  LOCAL_INDEX_APPLY_DELAY_MS: z.coerce.number().int().min(0).optional(),
  LOCAL_INDEX_SHARDS: z.coerce.number().int().min(1).max(MAX_SHARDS).optional(),
  LOCAL_INDEX_FLOAT_CACHE_BYTES: z.coerce.number().int().min(0).optional(),
});

const settingsSchema = z.object({
  dimensions: z.number().int().min(1).max(VECTORIZE_LIMITS.maxDimensions),
  metric: z.literal("cosine"),
  applyDelayMs: z.number().int().min(0).optional(),
  shards: z.number().int().min(1).max(MAX_SHARDS).optional(),
  floatCacheBytes: z.number().int().min(0).optional(),
});

const processedSchema = z.object({
  mutationId: z.string(),
  at: z.number(),
});

const metadataSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

const itemsSchema = z.array(
  z.object({
    id: z.string(),
    namespace: z.string(),
    vals: z.instanceof(ArrayBuffer).nullable(),
    metadata: z.string().nullable(),
  }),
);

type MutationKind = "upsert" | "delete";

function toBlob(values: Float32Array): ArrayBuffer {
  // A copy, so the blob holds exactly this vector even when `values` views a larger buffer.
  return new Float32Array(values).buffer;
}

function parseMetadata(json: string | null): VectorMetadata | undefined {
  return json === null ? undefined : metadataSchema.parse(JSON.parse(json));
}

function conflict(message: string, field: string): AppError {
  return new AppError("conflict", message, { retryable: false, field });
}

export class LocalVectorIndex extends DurableObject<Env> implements LocalVectorIndexRpc {
  private settings: LocalIndexSettings | undefined;
  private processed: { mutationId: string; at: number } | undefined;
  /** The last journal sequence number this object applied as a shard (not shard 0). */
  private appliedSeq = 0;
  private readonly defaultDelayMs: number;
  private readonly defaultShards: number;
  /** Quantized vectors per namespace, loaded on first use and kept in step with applied mutations. */
  private readonly stores = new Map<string, QuantizedStore>();
  /** Float values of loaded vectors, within budget, so rescoring need not read them from SQLite. */
  private floats: FloatCache;
  private readonly defaultFloatBytes: number;
  /** Applying is serialized: the alarm and flush() may overlap while a shard's reply is awaited. */
  private applying: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const parsed = envSchema.safeParse(env);
    this.defaultDelayMs = parsed.success
      ? (parsed.data.LOCAL_INDEX_APPLY_DELAY_MS ?? DEFAULT_APPLY_DELAY_MS)
      : DEFAULT_APPLY_DELAY_MS;
    this.defaultShards = parsed.success ? (parsed.data.LOCAL_INDEX_SHARDS ?? DEFAULT_SHARDS) : DEFAULT_SHARDS;
    this.defaultFloatBytes = parsed.success
      ? (parsed.data.LOCAL_INDEX_FLOAT_CACHE_BYTES ?? DEFAULT_FLOAT_CACHE_BYTES)
      : DEFAULT_FLOAT_CACHE_BYTES;
    this.floats = new FloatCache(this.defaultFloatBytes);
    void ctx.blockConcurrencyWhile(async () => {
      this.migrate();
      this.settings = this.readMeta("settings", settingsSchema);
      this.floats = new FloatCache(this.floatBudget(this.settings));
      this.processed = this.readMeta("processed", processedSchema);
      this.appliedSeq = this.readMeta("appliedSeq", z.number().int()) ?? 0;
    });
  }

  /**
   * Fixes the index's dimensions (and metric, cosine only), like creating a Vectorize index, and
   * optionally its shard count. Without it the first upsert fixes them. Dimensions cannot change
   * once set, nor shards once the index has been written.
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
        throw conflict(
          `index has ${this.settings.dimensions} dimensions and cannot change to ${next.dimensions}`,
          "dimensions",
        );
      }
      const written = this.hasWrites();
      if (written && next.shards !== undefined && next.shards !== this.shardCount()) {
        throw conflict(
          `index has been written with ${this.shardCount()} shards and cannot change to ${next.shards}`,
          "shards",
        );
      }
      const shards = next.shards ?? (written ? this.shardCount() : this.settings?.shards);
      const saved = { ...next, ...(shards === undefined ? {} : { shards }) };
      this.saveSettings(saved);
      return saved;
    });
  }

  /** How many shards the index has, and whether that can still change (for the client's routing). */
  async layout(): Promise<LocalIndexOutcome<WireLayout>> {
    return this.outcome(() => ({ shards: this.shardCount(), fixed: this.hasWrites() }));
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

  /** The best matches among this object's vectors (the client merges shards' answers). */
  async query(vector: Float32Array | number[], options?: unknown): Promise<LocalIndexOutcome<WireMatches>> {
    return this.outcome(() => {
      const q = validateQuery(vector, options, this.settings?.dimensions);
      const namespaces = q.namespace === undefined ? this.namespaces() : [q.namespace];
      const filter = q.filter;
      const accept =
        filter === undefined ? undefined : (m: VectorMetadata | undefined) => matchesIndexedFilter(m, filter);
      const sources: SearchSource[] = [];
      for (const namespace of namespaces) {
        const store = this.store(namespace);
        if (store !== undefined) sources.push({ namespace, store });
      }
      const top = searchStores(q.vector, q.topK, sources, accept, (ids) => this.storedValues(ids));
      const reply: WireMatches = {
        count: top.length,
        ids: top.map((item) => item.id),
        scores: Float64Array.from(top, (item) => item.score),
        namespaces: top.map((item) => item.namespace),
      };
      if (q.returnValues) reply.values = top.map((item) => item.values);
      if (q.returnMetadata !== "none")
        reply.metadata = top.map((item) => item.store.metadataAt(item.row) ?? null);
      return reply;
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

  /** This object's vector count; the processed fields are the index's on shard 0 (null elsewhere). */
  async describe(): Promise<LocalIndexOutcome<WireIndexInfo>> {
    return this.outcome(() => {
      const sql = this.ctx.storage.sql;
      const { n } = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM vectors").one();
      const { oldest } = sql
        .exec<{ oldest: number | null }>("SELECT MIN(created_at) AS oldest FROM mutations")
        .one();
      const at = this.processed?.at;
      return {
        vectorCount: n,
        // 0 until configured or first written: a Vectorize index always has dimensions, this one
        // learns them from its first upsert.
        dimensions: this.settings?.dimensions ?? 0,
        processedUpToMutation: this.processed?.mutationId ?? null,
        // Every mutation accepted at or before this time (epoch ms) is applied on every shard:
        // the last applied one's acceptance time, less a millisecond when a pending mutation was
        // accepted in that same millisecond.
        processedUpToDatetime:
          at === undefined ? null : oldest === null || oldest > at ? at : Math.min(at, oldest - 1),
      };
    });
  }

  /**
   * Applies every pending mutation now, on every shard, and returns the id of the last one applied
   * (null when the index has never been written). The local equivalent of waiting until describe()
   * reports processedUpToMutation as your mutation: for tests and tools.
   */
  async flush(): Promise<LocalIndexOutcome<string | null>> {
    return this.outcome(async () => {
      await this.applyPending();
      return this.processed?.mutationId ?? null;
    });
  }

  /**
   * Applies shard 0's forwarded part of journal entry `seq` to this shard. Idempotent: shard 0
   * forwards entries in order and again after a failure, so anything at or below the last applied
   * sequence number is already here.
   */
  async applyShard(
    seq: number,
    kind: MutationKind,
    items: WireItem[],
    settings: LocalIndexSettings,
  ): Promise<LocalIndexOutcome<{ applied: boolean }>> {
    return this.outcome(() => {
      const parsedSettings = settingsSchema.parse(settings);
      const parsedItems = itemsSchema.parse(items);
      if (this.settings === undefined) this.saveSettings(parsedSettings);
      else if (this.settings.dimensions !== parsedSettings.dimensions) {
        throw conflict(
          `shard has ${this.settings.dimensions} dimensions, the index ${parsedSettings.dimensions}`,
          "dimensions",
        );
      }
      if (seq <= this.appliedSeq) return { applied: false };
      this.applyItems(() => {
        for (const item of parsedItems) this.applyItem(kind, item);
        this.writeMeta("appliedSeq", seq);
      });
      this.appliedSeq = seq;
      return { applied: true };
    });
  }

  /** What the search engine holds in memory (for tests and diagnostics). */
  async engineStats(): Promise<LocalIndexOutcome<WireEngineStats>> {
    return this.outcome(() => {
      let kernel: WireEngineStats["kernel"] = null;
      let vectorsLoaded = 0;
      let bufferBytes = 0;
      for (const store of this.stores.values()) {
        kernel = store.kernelKind;
        vectorsLoaded += store.size;
        bufferBytes += store.bufferBytes;
      }
      return {
        kernel,
        namespacesLoaded: this.stores.size,
        vectorsLoaded,
        bufferBytes,
        floatsCached: this.floats.size,
        floatBytes: this.floats.bytes,
      };
    });
  }

  override async alarm(): Promise<void> {
    await this.applyPending();
  }

  private outcome<T>(run: () => T | Promise<T>): Promise<LocalIndexOutcome<T>> {
    return toOutcome(run);
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

  private floatBudget(settings: LocalIndexSettings | undefined): number {
    return settings?.floatCacheBytes ?? this.defaultFloatBytes;
  }

  private saveSettings(settings: LocalIndexSettings): void {
    this.writeMeta("settings", settings);
    const budget = this.floatBudget(settings);
    if (budget !== this.floats.budgetBytes) {
      // Loaded stores offered their floats under the old budget: reload both under the new one.
      this.stores.clear();
      this.floats = new FloatCache(budget);
    }
    this.settings = settings;
  }

  private hasWrites(): boolean {
    if (this.processed !== undefined) return true;
    return this.ctx.storage.sql.exec("SELECT 1 FROM mutations LIMIT 1").toArray().length > 0;
  }

  private shardCount(): number {
    // Settings without a shard count on a written index predate shards: one object held it all.
    return this.settings?.shards ?? (this.hasWrites() ? 1 : this.defaultShards);
  }

  private recordMutation(
    kind: MutationKind,
    items: readonly (Pick<ValidVector, "id"> & Partial<ValidVector>)[],
  ): string {
    const sql = this.ctx.storage.sql;
    // The first write fixes the shard count: from now on vectors are routed by it.
    if (this.settings !== undefined && this.settings.shards === undefined) {
      this.saveSettings({ ...this.settings, shards: this.shardCount() });
    }
    const mutationId = crypto.randomUUID();
    // Acceptance times never go backwards (a clock can), so "accepted at or before T" follows
    // journal order and describe()'s processedUpToDatetime stays a safe bound.
    const { latest } = sql
      .exec<{ latest: number | null }>("SELECT MAX(created_at) AS latest FROM mutations")
      .one();
    const acceptedAt = Math.max(Date.now(), latest ?? 0, this.processed?.at ?? 0);
    this.ctx.storage.transactionSync(() => {
      const { seq } = sql
        .exec<{ seq: number }>(
          "INSERT INTO mutations (mutation_id, kind, created_at) VALUES (?, ?, ?) RETURNING seq",
          mutationId,
          kind,
          acceptedAt,
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

  /** Runs after any apply already under way; a failed run does not stop the next. */
  private applyPending(): Promise<void> {
    const run = this.applying.then(() => this.applyJournal());
    this.applying = run.catch(() => undefined);
    return run;
  }

  /**
   * Applies pending mutations in order. Other shards' parts go first; the mutation leaves the
   * journal, with this shard's part, in one transaction once they all answered, so a failure
   * leaves it pending and the next run forwards it again.
   */
  private async applyJournal(): Promise<void> {
    const sql = this.ctx.storage.sql;
    const pending = sql
      .exec<{ seq: number; mutation_id: string; kind: MutationKind; created_at: number }>(
        "SELECT seq, mutation_id, kind, created_at FROM mutations ORDER BY seq",
      )
      .toArray();
    const shards = this.shardCount();
    for (const mutation of pending) {
      const items = sql
        .exec<WireItem>(
          "SELECT id, namespace, vals, metadata FROM mutation_items WHERE seq = ? ORDER BY ord",
          mutation.seq,
        )
        .toArray();
      const parts = new Map<number, WireItem[]>();
      for (const item of items) {
        const shard = shardOf(item.id, shards);
        const part = parts.get(shard);
        if (part === undefined) parts.set(shard, [item]);
        else part.push(item);
      }
      await Promise.all(
        [...parts]
          .filter(([shard]) => shard !== 0)
          .map(([shard, part]) => this.forward(shard, mutation.seq, mutation.kind, part)),
      );
      const processed = { mutationId: mutation.mutation_id, at: mutation.created_at };
      this.applyItems(() => {
        for (const item of parts.get(0) ?? []) this.applyItem(mutation.kind, item);
        sql.exec("DELETE FROM mutation_items WHERE seq = ?", mutation.seq);
        sql.exec("DELETE FROM mutations WHERE seq = ?", mutation.seq);
        this.writeMeta("processed", processed);
      });
      this.processed = processed;
    }
  }

  private async forward(shard: number, seq: number, kind: MutationKind, items: WireItem[]): Promise<void> {
    const settings = this.settings;
    const indexName = this.ctx.id.name;
    if (settings === undefined || indexName === undefined) {
      throw new Error("a sharded index's shard 0 needs its settings and its name to forward writes");
    }
    const stub = this.env.LOCAL_INDEX.get(this.env.LOCAL_INDEX.idFromName(shardName(indexName, shard)));
    const outcome = await stub.applyShard(seq, kind, items, settings);
    if (!outcome.ok) throw new Error(`shard ${shard} refused mutation ${seq}: ${outcome.error.message}`);
  }

  /** Runs `apply` in a transaction; the in-memory stores may have taken part of a rolled-back one. */
  private applyItems(apply: () => void): void {
    try {
      this.ctx.storage.transactionSync(apply);
    } catch (err) {
      this.stores.clear();
      this.floats.clear();
      throw err;
    }
  }

  private applyItem(kind: string, item: WireItem): void {
    const sql = this.ctx.storage.sql;
    const previous = sql
      .exec<{ namespace: string }>("SELECT namespace FROM vectors WHERE id = ?", item.id)
      .toArray()[0];
    if (previous !== undefined && (kind === "delete" || previous.namespace !== item.namespace)) {
      const store = this.stores.get(previous.namespace);
      store?.remove(item.id);
      // An emptied namespace gives its buffer back (WebAssembly memory never shrinks).
      if (store?.size === 0) this.stores.delete(previous.namespace);
    }
    if (kind === "delete" || item.vals === null) {
      sql.exec("DELETE FROM vectors WHERE id = ?", item.id);
      this.floats.delete(item.id);
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
    const store = this.stores.get(item.namespace);
    if (store === undefined) {
      // Not loaded: its values are read with the rest of the namespace on first use.
      this.floats.delete(item.id);
      return;
    }
    const values = new Float32Array(item.vals);
    store.set(item.id, values, parseMetadata(item.metadata));
    this.floats.offer(item.id, values);
  }

  private namespaces(): string[] {
    return this.ctx.storage.sql
      .exec<{ namespace: string }>("SELECT DISTINCT namespace FROM vectors")
      .toArray()
      .map((r) => r.namespace);
  }

  /** The float32 values of `ids`, for exact rescoring: from memory, else from SQLite. */
  private storedValues(ids: readonly string[]): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    const missing: string[] = [];
    for (const id of ids) {
      const cached = this.floats.get(id);
      if (cached === undefined) missing.push(id);
      else out.set(id, cached);
    }
    if (missing.length === 0) return out;
    const rows = this.ctx.storage.sql.exec<{ id: string; vals: ArrayBuffer }>(
      "SELECT id, vals FROM vectors WHERE id IN (SELECT value FROM json_each(?))",
      JSON.stringify(missing),
    );
    for (const row of rows) out.set(row.id, new Float32Array(row.vals));
    return out;
  }

  /** The namespace's quantized vectors, read from SQLite on first use after a start. */
  private store(namespace: string): QuantizedStore | undefined {
    const cached = this.stores.get(namespace);
    if (cached !== undefined) return cached;
    if (this.settings === undefined) return undefined;
    const store = new QuantizedStore(this.settings.dimensions, createKernel(KERNEL_MODULE));
    const rows = this.ctx.storage.sql.exec<{ id: string; vals: ArrayBuffer; metadata: string | null }>(
      "SELECT id, vals, metadata FROM vectors WHERE namespace = ?",
      namespace,
    );
    for (const row of rows) {
      const values = new Float32Array(row.vals);
      store.set(row.id, values, parseMetadata(row.metadata));
      this.floats.offer(row.id, values);
    }
    // Only namespaces that hold vectors are kept: queries for unknown ones must not grow the map.
    if (store.size === 0) return undefined;
    this.stores.set(namespace, store);
    return store;
  }
}
