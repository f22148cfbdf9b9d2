// VectorIndex over the local index Durable Objects (local mode's Vectorize). Inputs are checked
// here with the shared rules before the RPC (the objects check them again as the authority on
// dimensions); replies are validated with zod and error envelopes become AppErrors again.
//
// Writes, describe() and flush() go to shard 0, the index's journal; queries fan out to every shard
// in parallel and are merged here, and getByIds asks each shard for its own ids
// (workers/objects/local-vector-index.ts explains the layout).

import { z } from "zod";
import { AppError, ERROR_CODES, type ErrorCode, errorMessage } from "../errors";
import type { LocalIndexSettings, LocalVectorIndexRpc } from "../objects/local-vector-index";
import { shardName, shardOf } from "./engine/shards";
import { compareScored } from "./exact-search";
import { validateIds, validateQuery, validateVectors } from "./validate";
import type {
  IndexInfo,
  QueryOptions,
  QueryResult,
  VectorIndex,
  VectorMatch,
  VectorRecord,
} from "./vector-index";

const valuesSchema = z
  .union([z.instanceof(Float32Array), z.array(z.number())])
  .transform((values) => Array.from(values));
const metadataSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

const mutationSchema = z.object({ mutationId: z.string().min(1) });

/** A query reply as the object sends it (WireMatches): one array per field, `count` long. */
interface Reply {
  count: number;
  ids: string[];
  scores: Float64Array;
  namespaces: string[];
  values?: Float32Array[];
  metadata?: (Record<string, string | number | boolean> | null)[];
}

function isColumn(value: unknown, count: number, isItem: (item: unknown) => boolean): boolean {
  return Array.isArray(value) && value.length === count && value.every(isItem);
}

// Checked field by field rather than by an object schema: a hybrid search's vector leg gets 100
// matches, and parsing each with zod was a visible share of a local query's CPU.
const queryResultSchema = z.custom<Reply>((value) => {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  const count = r.count;
  return (
    typeof count === "number" &&
    Number.isInteger(count) &&
    count >= 0 &&
    isColumn(r.ids, count, (id) => typeof id === "string") &&
    r.scores instanceof Float64Array &&
    r.scores.length === count &&
    isColumn(r.namespaces, count, (ns) => typeof ns === "string") &&
    (r.values === undefined || isColumn(r.values, count, (v) => v instanceof Float32Array)) &&
    (r.metadata === undefined ||
      isColumn(r.metadata, count, (m) => m === null || metadataSchema.safeParse(m).success))
  );
}, "expected { count, ids, scores, namespaces, values?, metadata? }, each column count long");

/** The matches of a reply, as VectorIndex answers them ("" is no namespace). */
function replyMatches(reply: Reply): VectorMatch[] {
  const { ids, scores, namespaces, values, metadata } = reply;
  const out: VectorMatch[] = new Array(reply.count);
  for (let i = 0; i < reply.count; i++) {
    const match: VectorMatch = { id: ids[i] ?? "", score: scores[i] ?? 0 };
    const namespace = namespaces[i];
    if (namespace) match.namespace = namespace;
    const v = values?.[i];
    if (v !== undefined) match.values = Array.from(v);
    const m = metadata?.[i];
    if (m) match.metadata = m;
    out[i] = match;
  }
  return out;
}
const recordSchema = z.object({
  id: z.string(),
  values: valuesSchema,
  namespace: z.string().optional(),
  metadata: metadataSchema.optional(),
});
const infoSchema = z.object({
  vectorCount: z.number().int().min(0),
  dimensions: z.number().int().min(0),
  processedUpToMutation: z.string().nullable(),
  processedUpToDatetime: z.number().nullable(),
});
const settingsSchema = z.object({
  dimensions: z.number().int(),
  metric: z.literal("cosine"),
  applyDelayMs: z.number().int().optional(),
  shards: z.number().int().optional(),
  floatCacheBytes: z.number().int().optional(),
});
const layoutSchema = z.object({ shards: z.number().int().min(1), fixed: z.boolean() });

/**
 * Shard counts of indexes that have been written, by binding and index name. Isolate-lifetime: a
 * written index's shard count never changes, so it is asked once per isolate.
 */
const fixedShardCounts = new WeakMap<DurableObjectNamespace<LocalVectorIndexRpc>, Map<string, number>>();

const errorCodeSchema = z.custom<ErrorCode>((v) => typeof v === "string" && Object.hasOwn(ERROR_CODES, v));

const outcomeSchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({
    ok: z.literal(false),
    error: z.object({
      code: errorCodeSchema,
      message: z.string(),
      retryable: z.boolean(),
      field: z.string().optional(),
    }),
  }),
]);

function unexpectedReply(operation: string, error: z.ZodError): AppError {
  return new AppError("upstream_failed", `local vector index ${operation} returned an unexpected reply`, {
    retryable: false,
    extra: { issues: error.issues.slice(0, 5) },
  });
}

export class LocalVectorIndexClient implements VectorIndex {
  private readonly stub: DurableObjectStub<LocalVectorIndexRpc>;

  constructor(
    private readonly namespace: DurableObjectNamespace<LocalVectorIndexRpc>,
    private readonly indexName: string,
  ) {
    this.stub = this.shard(0);
  }

  async upsert(vectors: VectorRecord[]): Promise<{ mutationId: string }> {
    const valid = validateVectors(vectors);
    return this.call("upsert", mutationSchema, () => this.stub.upsert(valid));
  }

  async query(vector: number[] | Float32Array, options?: QueryOptions): Promise<QueryResult> {
    const { topK } = validateQuery(vector, options);
    // Float32Array crosses RPC as one buffer instead of a list of numbers.
    const values = vector instanceof Float32Array ? vector : Float32Array.from(vector);
    const shards = await this.shardCount();
    // Shard 0 first in the list: when several shards refuse the query, its error is the one thrown.
    const replies = await Promise.all(
      Array.from({ length: shards }, (_, n) =>
        this.call("query", queryResultSchema, () => this.shard(n).query(values, options)),
      ),
    );
    // Each shard's matches come best first; only several shards' need merging.
    const matches = replies.flatMap(replyMatches);
    if (replies.length > 1) matches.sort(compareScored);
    if (matches.length > topK) matches.length = topK;
    return { count: matches.length, matches };
  }

  async getByIds(ids: string[]): Promise<VectorRecord[]> {
    if (validateIds(ids, "getByIds").length === 0) return [];
    const shards = await this.shardCount();
    const byShard = new Map<number, string[]>();
    for (const id of ids) {
      const n = shardOf(id, shards);
      const group = byShard.get(n);
      if (group === undefined) byShard.set(n, [id]);
      else group.push(id);
    }
    const replies = await Promise.all(
      [...byShard].map(([n, group]) =>
        this.call("getByIds", z.array(recordSchema), () => this.shard(n).getByIds(group)),
      ),
    );
    // In the order asked, as from one object.
    const found = new Map(replies.flat().map((r) => [r.id, r]));
    const out: VectorRecord[] = [];
    for (const id of new Set(ids)) {
      const r = found.get(id);
      if (r === undefined) continue;
      out.push({
        id: r.id,
        values: r.values,
        ...(r.namespace === undefined ? {} : { namespace: r.namespace }),
        ...(r.metadata === undefined ? {} : { metadata: r.metadata }),
      });
    }
    return out;
  }

  async deleteByIds(ids: string[]): Promise<{ mutationId: string }> {
    validateIds(ids, "deleteByIds");
    return this.call("deleteByIds", mutationSchema, () => this.stub.deleteByIds(ids));
  }

  /**
   * Shard 0 answers for the index's processed state (a mutation counts as processed there only
   * once every shard applied it) and dimensions; the vector count is every shard's sum.
   */
  async describe(): Promise<IndexInfo> {
    const shards = await this.shardCount();
    const [own, ...others] = await Promise.all(
      Array.from({ length: shards }, (_, n) =>
        this.call("describe", infoSchema, () => this.shard(n).describe()),
      ),
    );
    if (own === undefined) throw new Error("unreachable: an index has at least one shard");
    return { ...own, vectorCount: others.reduce((sum, info) => sum + info.vectorCount, own.vectorCount) };
  }

  /**
   * Sets the index's dimensions and, before its first write, its shard count (and, for tests,
   * how long writes stay pending).
   */
  async configure(settings: LocalIndexSettings): Promise<LocalIndexSettings> {
    return this.call("configure", settingsSchema, () => this.stub.configure(settings));
  }

  /**
   * Applies all pending writes now, on every shard, and returns the last applied mutation id: the
   * local equivalent of waiting for describe().processedUpToMutation to reach your mutation.
   */
  async flush(): Promise<string | null> {
    return this.call("flush", z.string().nullable(), () => this.stub.flush());
  }

  private shard(n: number): DurableObjectStub<LocalVectorIndexRpc> {
    return this.namespace.get(this.namespace.idFromName(shardName(this.indexName, n)));
  }

  private async shardCount(): Promise<number> {
    let known = fixedShardCounts.get(this.namespace);
    const cached = known?.get(this.indexName);
    if (cached !== undefined) return cached;
    const layout = await this.call("layout", layoutSchema, () => this.stub.layout());
    if (layout.fixed) {
      if (known === undefined) {
        known = new Map();
        fixedShardCounts.set(this.namespace, known);
      }
      known.set(this.indexName, layout.shards);
    }
    return layout.shards;
  }

  private async call<T extends z.ZodType>(
    operation: string,
    schema: T,
    invoke: () => Promise<unknown>,
  ): Promise<z.output<T>> {
    let reply: unknown;
    try {
      reply = await invoke();
    } catch (err) {
      throw new AppError("upstream_failed", `local vector index ${operation} failed: ${errorMessage(err)}`, {
        retryable: true,
        cause: err,
      });
    }
    const outcome = outcomeSchema.safeParse(reply);
    if (!outcome.success) throw unexpectedReply(operation, outcome.error);
    if (!outcome.data.ok) {
      const { code, message, retryable, field } = outcome.data.error;
      throw new AppError(code, message, { retryable, ...(field === undefined ? {} : { field }) });
    }
    const value = schema.safeParse(outcome.data.value);
    if (!value.success) throw unexpectedReply(operation, value.error);
    return value.data;
  }
}
