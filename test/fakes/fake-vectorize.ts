// An in-memory stand-in for a Vectorize (V2) binding in adapter tests: asynchronous mutations
// (pending until applied), namespaces, metadata filters, cosine scores, Vectorize's limits with
// errors in its "VECTOR_*_ERROR (code = n): ..." form, and injectable failures. Codes 40006 (query
// dimensions), 40007 (too many ids for getByIds/deleteByIds), 40008 (long id), 40025 (topK) and
// 40026 (malformed request) are those Vectorize reports; the codes for upsert dimensions and batch
// size are illustrative.

import { compareScored, norm } from "../../src/vectors/exact-search";
import { matchesIndexedFilter, validateFilter } from "../../src/vectors/filter";
import { VECTORIZE_LIMITS, type VectorMetadata } from "../../src/vectors/vector-index";

interface Stored {
  id: string;
  values: Float32Array;
  namespace?: string;
  metadata?: Record<string, VectorizeVectorMetadata>;
}

type Mutation = { id: string; apply: () => void };
type Method = "upsert" | "insert" | "query" | "queryById" | "getByIds" | "deleteByIds" | "describe";

export interface FakeVectorizeOptions {
  dimensions: number;
  /** Apply each mutation as soon as it is made, instead of on applyPending(). */
  autoApply?: boolean;
}

function scalarMetadata(metadata: Record<string, VectorizeVectorMetadata> | undefined): VectorMetadata {
  const out: VectorMetadata = {};
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean")
      out[key] = value;
  }
  return out;
}

/** The binding's refusal of an over-cap id list, word for word. */
function tooManyIds(prefix: string, ids: string[], max: number): void {
  if (ids.length > max) {
    throw new Error(
      `${prefix} (code = 40007): too many ids in payload; max id count is ${max}, got ${ids.length}`,
    );
  }
}

export class FakeVectorize implements Vectorize {
  /** As on workerd's binding object (src/cloudflare/internal/vectorize-api.ts). */
  readonly indexVersion = "v2";
  readonly calls: { method: Method; args: unknown[] }[] = [];
  private readonly vectors = new Map<string, Stored>();
  private readonly pending: Mutation[] = [];
  private readonly failures = new Map<Method, unknown>();
  private processed: { mutationId: string; at: number } | undefined;

  constructor(private readonly options: FakeVectorizeOptions) {}

  /** The next call of `method` throws `error` (once). */
  failNext(method: Method, error: unknown): void {
    this.failures.set(method, error);
  }

  /** Applies pending mutations, as Vectorize does a few seconds after accepting them. */
  applyPending(): void {
    for (const mutation of this.pending.splice(0)) {
      mutation.apply();
      this.processed = { mutationId: mutation.id, at: Date.now() };
    }
  }

  async describe(): Promise<VectorizeIndexInfo> {
    this.enter("describe", []);
    const info = {
      vectorCount: this.vectors.size,
      dimensions: this.options.dimensions,
      processedUpToDatetime: this.processed?.at ?? 0,
      // The binding's type says number, but Vectorize sends the mutation's UUID here.
      processedUpToMutation: this.processed?.mutationId ?? null,
    };
    return info as unknown as VectorizeIndexInfo;
  }

  async query(
    vector: VectorFloatArray | number[],
    options?: VectorizeQueryOptions,
  ): Promise<VectorizeMatches> {
    this.enter("query", [vector, options]);
    if (vector.length !== this.options.dimensions) {
      throw new Error(
        `VECTOR_QUERY_ERROR (code = 40006): invalid query vector, expected ${this.options.dimensions} dimensions, and got ${vector.length} dimensions`,
      );
    }
    const topK = options?.topK ?? 5;
    const returnMetadata = options?.returnMetadata ?? "none";
    if (typeof returnMetadata === "boolean") {
      throw new Error(
        "VECTOR_QUERY_ERROR (code = 40026): Failed to parse the request body as JSON: returnMetadata: expected value",
      );
    }
    const heavy = options?.returnValues === true || returnMetadata === "all";
    if (topK > (heavy ? 20 : 100)) {
      throw new Error(
        heavy
          ? `VECTOR_QUERY_ERROR (code = 40025): with returnValues=true or returnMetadata=all, max top K is 20, but got ${topK}`
          : `VECTOR_QUERY_ERROR (code = 40025): max top K is 100, but got ${topK}`,
      );
    }
    const filter = options?.filter === undefined ? undefined : validateFilter(options.filter);
    const query = Float32Array.from(vector);
    const queryNorm = norm(query);
    const scored = [...this.vectors.values()]
      .filter((v) => options?.namespace === undefined || v.namespace === options.namespace)
      .filter((v) => filter === undefined || matchesIndexedFilter(scalarMetadata(v.metadata), filter))
      .map((v) => {
        let dot = 0;
        for (let i = 0; i < query.length; i++) dot += (query[i] ?? 0) * (v.values[i] ?? 0);
        const denominator = queryNorm * norm(v.values);
        return { stored: v, id: v.id, score: denominator === 0 ? 0 : dot / denominator };
      })
      .sort(compareScored)
      .slice(0, topK);
    const matches = scored.map(
      ({ stored, score }): VectorizeMatch => ({
        id: stored.id,
        score,
        ...(stored.namespace === undefined ? {} : { namespace: stored.namespace }),
        ...(options?.returnValues ? { values: Array.from(stored.values) } : {}),
        ...(returnMetadata !== "none" && stored.metadata !== undefined ? { metadata: stored.metadata } : {}),
      }),
    );
    return { count: matches.length, matches };
  }

  async queryById(vectorId: string, options?: VectorizeQueryOptions): Promise<VectorizeMatches> {
    this.enter("queryById", [vectorId, options]);
    const stored = this.vectors.get(vectorId);
    if (stored === undefined) return { count: 0, matches: [] };
    return this.query(stored.values, options);
  }

  async insert(vectors: VectorizeVector[]): Promise<VectorizeAsyncMutation> {
    this.enter("insert", [vectors]);
    return this.mutate(vectors, (v) => {
      if (!this.vectors.has(v.id)) this.vectors.set(v.id, v);
    });
  }

  async upsert(vectors: VectorizeVector[]): Promise<VectorizeAsyncMutation> {
    this.enter("upsert", [vectors]);
    return this.mutate(vectors, (v) => this.vectors.set(v.id, v));
  }

  async deleteByIds(ids: string[]): Promise<VectorizeAsyncMutation> {
    this.enter("deleteByIds", [ids]);
    tooManyIds("VECTOR_DELETE_ERROR", ids, VECTORIZE_LIMITS.maxDeleteBatch);
    return this.schedule(() => {
      for (const id of ids) this.vectors.delete(id);
    });
  }

  async getByIds(ids: string[]): Promise<VectorizeVector[]> {
    this.enter("getByIds", [ids]);
    tooManyIds("VECTOR_GET_ERROR", ids, VECTORIZE_LIMITS.maxGetBatch);
    return [...new Set(ids)].flatMap((id) => {
      const stored = this.vectors.get(id);
      return stored === undefined ? [] : [{ ...stored, values: Array.from(stored.values) }];
    });
  }

  private enter(method: Method, args: unknown[]): void {
    this.calls.push({ method, args });
    if (this.failures.has(method)) {
      const error = this.failures.get(method);
      this.failures.delete(method);
      throw error;
    }
  }

  private mutate(vectors: VectorizeVector[], write: (v: Stored) => void): VectorizeAsyncMutation {
    if (vectors.length > 1000) {
      throw new Error(
        `VECTOR_UPSERT_ERROR (code = 40006): too many vectors in payload; max count is 1000, got ${vectors.length}`,
      );
    }
    const stored = vectors.map((v): Stored => {
      const bytes = new TextEncoder().encode(v.id).byteLength;
      if (bytes > 64) {
        throw new Error(
          `VECTOR_UPSERT_ERROR (code = 40008): id too long; max is 64 bytes, got ${bytes} bytes`,
        );
      }
      if (v.values.length !== this.options.dimensions) {
        throw new Error(
          `VECTOR_UPSERT_ERROR (code = 40012): invalid vector for id="${v.id}", expected ${this.options.dimensions} dimensions, and got ${v.values.length} dimensions`,
        );
      }
      return {
        id: v.id,
        values: Float32Array.from(v.values),
        ...(v.namespace === undefined ? {} : { namespace: v.namespace }),
        ...(v.metadata === undefined ? {} : { metadata: v.metadata }),
      };
    });
    return this.schedule(() => {
      for (const v of stored) write(v);
    });
  }

  private schedule(apply: () => void): VectorizeAsyncMutation {
    const mutation = { id: crypto.randomUUID(), apply };
    this.pending.push(mutation);
    if (this.options.autoApply) this.applyPending();
    return { mutationId: mutation.id };
  }
}

/**
 * A binding of a V1 (legacy) index as workerd builds it: the same methods as V2, queryById
 * included (it throws), `indexVersion` "v1" unless hidden, V1's describe() and mutation replies.
 * Nothing is stored.
 */
export class FakeVectorizeV1 implements VectorizeIndex {
  readonly calls: string[] = [];

  constructor(
    private readonly dimensions: number,
    options: { hideVersion?: boolean } = {},
  ) {
    if (!options.hideVersion) Object.assign(this, { indexVersion: "v1" });
  }

  async describe(): Promise<VectorizeIndexDetails> {
    this.calls.push("describe");
    return {
      id: "00000000-0000-4000-8000-000000000001",
      name: "legacy-index",
      config: { dimensions: this.dimensions, metric: "cosine" },
      vectorsCount: 0,
    };
  }

  async queryById(): Promise<VectorizeMatches> {
    this.calls.push("queryById");
    throw new Error("QueryById operation is not supported for v1 indexes.");
  }

  async query(): Promise<VectorizeMatches> {
    this.calls.push("query");
    return { count: 0, matches: [] };
  }

  async insert(vectors: VectorizeVector[]): Promise<VectorizeVectorMutation> {
    this.calls.push("insert");
    return { ids: vectors.map((v) => v.id), count: vectors.length };
  }

  async upsert(vectors: VectorizeVector[]): Promise<VectorizeVectorMutation> {
    this.calls.push("upsert");
    return { ids: vectors.map((v) => v.id), count: vectors.length };
  }

  async deleteByIds(ids: string[]): Promise<VectorizeVectorMutation> {
    this.calls.push("deleteByIds");
    return { ids, count: ids.length };
  }

  async getByIds(): Promise<VectorizeVector[]> {
    this.calls.push("getByIds");
    return [];
  }
}
