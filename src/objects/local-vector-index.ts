// What the local vector index objects (workers/objects/local-vector-index.ts) answer over RPC: the
// types both they and their client (src/vectors/local.ts) speak, and the methods the client calls,
// which the class implements.
import type { VectorMetadata } from "../vectors/vector-index";
import type { RpcOutcome } from "./outcome";

export type LocalIndexOutcome<T> = RpcOutcome<T>;

export interface LocalIndexSettings {
  dimensions: number;
  metric: "cosine";
  /**
   * How long writes stay pending before the alarm applies them, for this index. Defaults to
   * LOCAL_INDEX_APPLY_DELAY_MS (100 ms); raise it to reproduce Vectorize's seconds of lag.
   */
  applyDelayMs?: number;
  /**
   * How many objects hold the index's vectors. Can change until the first write, fixed after it.
   * Defaults to LOCAL_INDEX_SHARDS, else 1; an index written before shards existed has 1.
   */
  shards?: number;
  /**
   * Bytes of float32 values each object of the index keeps in memory for exact rescoring (the rest
   * are read from SQLite per query). Defaults to LOCAL_INDEX_FLOAT_CACHE_BYTES, else 32 MiB.
   */
  floatCacheBytes?: number;
}

/**
 * A query's matches as the object sends them, best first: one array per field, each `count` long,
 * rather than an object per match (a hybrid search's leg gets 100 matches, and copying 100 objects
 * across the call cost four times as much as these arrays). `values` and `metadata` are there only
 * when asked for; a match without a namespace has "" and one without metadata null.
 */
export interface WireMatches {
  count: number;
  ids: string[];
  scores: Float64Array;
  namespaces: string[];
  values?: Float32Array[];
  metadata?: (VectorMetadata | null)[];
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

export interface WireLayout {
  shards: number;
  /** Whether the index has been written, after which `shards` never changes. */
  fixed: boolean;
}

export interface LocalVectorIndexRpc extends Rpc.DurableObjectBranded {
  configure(settings: LocalIndexSettings): Promise<LocalIndexOutcome<LocalIndexSettings>>;
  layout(): Promise<LocalIndexOutcome<WireLayout>>;
  upsert(vectors: WireVector[]): Promise<LocalIndexOutcome<{ mutationId: string }>>;
  deleteByIds(ids: string[]): Promise<LocalIndexOutcome<{ mutationId: string }>>;
  query(vector: Float32Array | number[], options?: unknown): Promise<LocalIndexOutcome<WireMatches>>;
  getByIds(ids: string[]): Promise<LocalIndexOutcome<WireVector[]>>;
  describe(): Promise<LocalIndexOutcome<WireIndexInfo>>;
  flush(): Promise<LocalIndexOutcome<string | null>>;
}
