// VectorIndex over the local index Durable Object (local mode's Vectorize). Inputs are checked
// here with the shared rules before the RPC (the object checks them again as the authority on
// dimensions); replies are validated with zod and error envelopes become AppErrors again.

import { z } from "zod";
import type { LocalIndexSettings, LocalVectorIndex } from "../../workers/objects/local-vector-index";
import { AppError, ERROR_CODES, type ErrorCode, errorMessage } from "../errors";
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
const matchSchema = z.object({
  id: z.string(),
  score: z.number(),
  namespace: z.string().optional(),
  values: valuesSchema.optional(),
  metadata: metadataSchema.optional(),
});
const queryResultSchema = z.object({ count: z.number().int().min(0), matches: z.array(matchSchema) });
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
});

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
  private readonly stub: DurableObjectStub<LocalVectorIndex>;

  constructor(namespace: DurableObjectNamespace<LocalVectorIndex>, indexName: string) {
    this.stub = namespace.get(namespace.idFromName(indexName));
  }

  async upsert(vectors: VectorRecord[]): Promise<{ mutationId: string }> {
    const valid = validateVectors(vectors);
    return this.call("upsert", mutationSchema, () => this.stub.upsert(valid));
  }

  async query(vector: number[] | Float32Array, options?: QueryOptions): Promise<QueryResult> {
    validateQuery(vector, options);
    // Float32Array crosses RPC as one buffer instead of a list of numbers.
    const values = vector instanceof Float32Array ? vector : Float32Array.from(vector);
    const result = await this.call("query", queryResultSchema, () => this.stub.query(values, options));
    return {
      count: result.count,
      matches: result.matches.map(
        (m): VectorMatch => ({
          id: m.id,
          score: m.score,
          ...(m.namespace === undefined ? {} : { namespace: m.namespace }),
          ...(m.values === undefined ? {} : { values: m.values }),
          ...(m.metadata === undefined ? {} : { metadata: m.metadata }),
        }),
      ),
    };
  }

  async getByIds(ids: string[]): Promise<VectorRecord[]> {
    if (validateIds(ids, "getByIds").length === 0) return [];
    const records = await this.call("getByIds", z.array(recordSchema), () => this.stub.getByIds(ids));
    return records.map(
      (r): VectorRecord => ({
        id: r.id,
        values: r.values,
        ...(r.namespace === undefined ? {} : { namespace: r.namespace }),
        ...(r.metadata === undefined ? {} : { metadata: r.metadata }),
      }),
    );
  }

  async deleteByIds(ids: string[]): Promise<{ mutationId: string }> {
    validateIds(ids, "deleteByIds");
    return this.call("deleteByIds", mutationSchema, () => this.stub.deleteByIds(ids));
  }

  async describe(): Promise<IndexInfo> {
    return this.call("describe", infoSchema, () => this.stub.describe());
  }

  /** Sets the index's dimensions (and, for tests, how long writes stay pending). */
  async configure(settings: LocalIndexSettings): Promise<LocalIndexSettings> {
    return this.call("configure", settingsSchema, () => this.stub.configure(settings));
  }

  /**
   * Applies all pending writes now and returns the last applied mutation id: the local
   * equivalent of waiting for describe().processedUpToMutation to reach your mutation.
   */
  async flush(): Promise<string | null> {
    return this.call("flush", z.string().nullable(), () => this.stub.flush());
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
