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

/** Vectorize's limits (developers.cloudflare.com/vectorize/platform/limits). */
export const VECTORIZE_LIMITS = {
  maxDimensions: 1536,
  maxIdBytes: 64,
  maxNamespaceBytes: 64,
  maxMetadataBytes: 10 * 1024,
  maxTopK: 100,
  /** topK limit when values or all metadata are returned. */
  maxTopKWithValuesOrMetadata: 20,
  maxUpsertBatch: 1000,
  maxGetOrDeleteBatch: 1000,
  maxFilterBytes: 2048,
} as const;
