// The VectorIndex interface: the part of Vectorize (V2) the service uses. Implemented by the
// Vectorize adapter and by the client of the local index Durable Object, with the same limits
// and errors, so the same code runs in both modes.

export type MetadataValue = string | number | boolean;
export type VectorMetadata = Record<string, MetadataValue>;

export interface VectorRecord {
  id: string;
  values: number[] | Float32Array;
  namespace?: string;
  metadata?: VectorMetadata;
}

export type FilterScalar = string | number | boolean | null;
export type FilterOperators = {
  $eq?: FilterScalar;
  $ne?: FilterScalar;
  $lt?: FilterScalar;
  $lte?: FilterScalar;
  $gt?: FilterScalar;
  $gte?: FilterScalar;
  $in?: Exclude<FilterScalar, null>[];
  $nin?: Exclude<FilterScalar, null>[];
};
/** Vectorize's metadata filter: implicit AND over fields; a bare value means $eq. */
export type MetadataFilter = Record<string, FilterScalar | FilterOperators>;

export interface QueryOptions {
  topK?: number;
  namespace?: string;
  filter?: MetadataFilter;
  returnValues?: boolean;
  returnMetadata?: "none" | "indexed" | "all";
}

export interface VectorMatch {
  id: string;
  score: number;
  namespace?: string;
  values?: number[];
  metadata?: VectorMetadata;
}

export interface QueryResult {
  count: number;
  matches: VectorMatch[];
}

export interface IndexInfo {
  vectorCount: number;
  dimensions: number;
  /** Id of the last mutation applied to the index (writes are asynchronous). */
  processedUpToMutation: string | null;
  processedUpToDatetime: number | null;
}

export interface VectorIndex {
  /** Inserts or replaces vectors by id. Asynchronous: visible to queries once processed. */
  upsert(vectors: VectorRecord[]): Promise<{ mutationId: string }>;
  query(vector: number[] | Float32Array, options?: QueryOptions): Promise<QueryResult>;
  getByIds(ids: string[]): Promise<VectorRecord[]>;
  deleteByIds(ids: string[]): Promise<{ mutationId: string }>;
  describe(): Promise<IndexInfo>;
}

/**
 * Vectorize's (V2) per-call and per-index limits. The table is developers.cloudflare.com/vectorize/
 * platform/limits/ unless a line says otherwise; the by-id caps are not documented and come from
 * the binding's own errors.
 */
export const VECTORIZE_LIMITS = {
  /** Limits page: "Maximum dimensions per vector: 1536 dimensions, 32 bits precision". */
  maxDimensions: 1536,
  /** Limits page: "Maximum vector ID length: 64 bytes". */
  maxIdBytes: 64,
  /** Limits page: "Maximum namespace name length: 64 bytes". */
  maxNamespaceBytes: 64,
  /** Limits page: "Metadata per vector: 10KiB". */
  maxMetadataBytes: 10 * 1024,
  /** Limits page: "Maximum returned results (topK) without values and metadata: 100". */
  maxTopK: 100,
  /** Limits page: "Maximum returned results (topK) with values or metadata: 20". */
  maxTopKWithValuesOrMetadata: 20,
  /** Limits page: "Maximum upsert batch size (per batch): 1000 (Workers) / 5000 (HTTP API)". */
  maxUpsertBatch: 1000,
  /**
   * deleteByIds: "VECTOR_DELETE_ERROR (code = 40007): too many ids in payload; max id count is 100,
   * got 173" (github.com/JSONbored/metagraphed/pull/11137; also wevm/vocs#577).
   */
  maxDeleteBatch: 100,
  /**
   * getByIds: "VECTOR_GET_ERROR (code = 40007): too many ids in payload; max id count is 20"
   * (github.com/Liplus-Project/github-rag-mcp/pull/214).
   */
  maxGetBatch: 20,
  /** metadata-filtering page: a filter's "compact JSON representation must be less than 2048 bytes". */
  maxFilterBytes: 2048,
  /** Limits page: "Maximum metadata indexes per Vectorize index: 10". */
  maxMetadataIndexes: 10,
  /**
   * Limits page: "Maximum indexed data per metadata index per vector: 64 bytes"; the
   * metadata-filtering page: a string index keeps "the first 64B of the string data truncated on
   * UTF-8 character boundaries".
   */
  maxIndexedStringBytes: 64,
  /** Limits page: "Maximum namespaces per index: 50,000 (Workers Paid) / 1000 (Free)". */
  maxNamespacesPerIndex: 50_000,
  /** Limits page: "Maximum vectors per index: 10,000,000". */
  maxVectorsPerIndex: 10_000_000,
} as const;

/** The platform's error code for an over-cap id list (both getByIds and deleteByIds). */
export const TOO_MANY_IDS_CODE = 40007;
