// VectorIndex over a Vectorize (V2) binding. Inputs are checked with the same rules as the local
// index before the network, replies are validated with zod, and Vectorize's errors are mapped to
// AppErrors: its VECTOR_*_ERROR codes in the 4xxxx range mean a rejected request (not retryable),
// except rate limiting; anything else is a retryable upstream failure.

import { z } from "zod";
import { AppError, errorMessage } from "../errors";
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
  .union([z.array(z.number()), z.instanceof(Float32Array), z.instanceof(Float64Array)])
  .transform((values) => Array.from(values));
const metadataSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
// Vectorize may send an empty or null namespace for vectors that have none.
const namespaceSchema = z
  .string()
  .nullish()
  .transform((ns) => (ns === null || ns === undefined || ns === "" ? undefined : ns));

const mutationSchema = z.object({ mutationId: z.string().min(1) });
const matchesSchema = z.object({
  count: z.number().int().min(0),
  matches: z.array(
    z.object({
      id: z.string(),
      score: z.number(),
      namespace: namespaceSchema,
      values: valuesSchema.nullish(),
      metadata: metadataSchema.nullish(),
    }),
  ),
});
const vectorsSchema = z.array(
  z.object({
    id: z.string(),
    values: valuesSchema,
    namespace: namespaceSchema,
    metadata: metadataSchema.nullish(),
  }),
);
// Typed as numbers, but processedUpToMutation is the mutation's UUID in practice and the datetime
// may come as an ISO 8601 string.
const infoSchema = z.object({
  vectorCount: z.number().int().min(0),
  dimensions: z.number().int().min(0),
  processedUpToMutation: z
    .union([z.string(), z.number()])
    .nullish()
    .transform((m) => (m === null || m === undefined || m === "" ? null : String(m))),
  processedUpToDatetime: z
    .union([z.string(), z.number()])
    .nullish()
    .transform((d) => {
      if (d === null || d === undefined) return null;
      const ms = typeof d === "number" ? d : Date.parse(d);
      return Number.isFinite(ms) ? ms : null;
    }),
});

export const V1_BINDING_MESSAGE =
  "the Vectorize binding is a V1 (legacy) index; the service needs a V2 index (wrangler vectorize create without --deprecated-v1)";

/**
 * A V1 index describes itself as VectorizeIndexDetails ({ id, name, config, vectorsCount }), a V2
 * one as VectorizeIndexInfo ({ vectorCount, dimensions, processedUpTo... }).
 */
function isV1Description(reply: unknown): boolean {
  return (
    typeof reply === "object" &&
    reply !== null &&
    !("vectorCount" in reply) &&
    ("vectorsCount" in reply || "config" in reply)
  );
}

/** Vectorize's rate-limit codes; they arrive as 4xxxx but are worth retrying. */
const RATE_LIMIT_CODES = new Set([40041]);

/** The numeric code in a Vectorize error ("VECTOR_QUERY_ERROR (code = 40006): ..."), if any. */
export function vectorizeErrorCode(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "number") {
    return err.code;
  }
  const match = /\(code = (\d+)\)/.exec(errorMessage(err));
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Maps an error thrown by the Vectorize binding to our vocabulary, keeping its message. */
export function mapVectorizeError(err: unknown, operation: string): AppError {
  if (err instanceof AppError) return err;
  const message = errorMessage(err);
  const code = vectorizeErrorCode(err);
  const extra = code === undefined ? undefined : { vectorizeCode: code };
  const base = { cause: err, ...(extra === undefined ? {} : { extra }) };
  if ((code !== undefined && RATE_LIMIT_CODES.has(code)) || /too many requests/i.test(message)) {
    return new AppError("upstream_failed", `Vectorize ${operation} was rate limited: ${message}`, {
      ...base,
      retryable: true,
    });
  }
  if (code !== undefined && code >= 40000 && code < 50000) {
    return new AppError("bad_request", `Vectorize rejected the ${operation}: ${message}`, {
      ...base,
      retryable: false,
    });
  }
  return new AppError("upstream_failed", `Vectorize ${operation} failed: ${message}`, {
    ...base,
    retryable: true,
  });
}

export class VectorizeAdapter implements VectorIndex {
  constructor(private readonly vectorize: Vectorize) {}

  async upsert(vectors: VectorRecord[]): Promise<{ mutationId: string }> {
    const valid = validateVectors(vectors);
    return this.call("upsert", mutationSchema, () => this.vectorize.upsert(valid));
  }

  async query(vector: number[] | Float32Array, options?: QueryOptions): Promise<QueryResult> {
    const q = validateQuery(vector, options);
    const result = await this.call("query", matchesSchema, () =>
      this.vectorize.query(q.vector, {
        topK: q.topK,
        returnValues: q.returnValues,
        returnMetadata: q.returnMetadata,
        ...(q.namespace === undefined ? {} : { namespace: q.namespace }),
        ...(q.filter === undefined ? {} : { filter: q.filter }),
      }),
    );
    return {
      count: result.count,
      matches: result.matches.map(
        (m): VectorMatch => ({
          id: m.id,
          score: m.score,
          ...(m.namespace === undefined ? {} : { namespace: m.namespace }),
          ...(q.returnValues && m.values ? { values: m.values } : {}),
          ...(q.returnMetadata !== "none" && m.metadata ? { metadata: m.metadata } : {}),
        }),
      ),
    };
  }

  async getByIds(ids: string[]): Promise<VectorRecord[]> {
    if (validateIds(ids, "getByIds").length === 0) return [];
    const vectors = await this.call("getByIds", vectorsSchema, () => this.vectorize.getByIds(ids));
    return vectors.map(
      (v): VectorRecord => ({
        id: v.id,
        values: v.values,
        ...(v.namespace === undefined ? {} : { namespace: v.namespace }),
        ...(v.metadata ? { metadata: v.metadata } : {}),
      }),
    );
  }

  async deleteByIds(ids: string[]): Promise<{ mutationId: string }> {
    validateIds(ids, "deleteByIds");
    return this.call("deleteByIds", mutationSchema, () => this.vectorize.deleteByIds(ids));
  }

  async describe(): Promise<IndexInfo> {
    return this.call("describe", infoSchema, async () => {
      const reply: unknown = await this.vectorize.describe();
      if (isV1Description(reply)) throw new AppError("internal", V1_BINDING_MESSAGE, { retryable: false });
      return reply;
    });
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
      throw mapVectorizeError(err, operation);
    }
    const parsed = schema.safeParse(reply);
    if (!parsed.success) {
      throw new AppError("upstream_failed", `Vectorize ${operation} returned an unexpected reply`, {
        retryable: false,
        extra: { issues: parsed.error.issues.slice(0, 5) },
      });
    }
    return parsed.data;
  }
}
