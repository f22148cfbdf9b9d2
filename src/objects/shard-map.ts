// What the shard map object (workers/objects/shard-map.ts) answers over RPC: the types both it and
// its client (src/shards/client.ts) speak, and the methods the client calls, which the class
// implements.
import type { DatabaseReport, DatabaseUsage, StoragePolicy } from "../shards/databases";
import type { IndexUsage, ShardPolicy } from "../shards/policy";
import type { RpcOutcome } from "./outcome";

export interface Assignment {
  namespace: string;
  index: string;
  /** Found with vectors in the default index when first seen: placed there, not chosen. */
  legacy: boolean;
  assignedAt: number;
  /** The data database (binding name) of its documents; null when placed without a storage policy. */
  database: string | null;
}

export interface UsageReport {
  index: string;
  vectors: number;
  dimensions: number;
}

export interface ShardMapStatus {
  indexes: IndexUsage[];
  /** Where the scan for namespaces from before the shard map resumes ("" from the start). */
  legacyCursor: string;
  databases: DatabaseUsage[];
}

export interface ShardMapRpc extends Rpc.DurableObjectBranded {
  assign(namespace: string, policy: ShardPolicy, storage?: StoragePolicy): Promise<RpcOutcome<Assignment>>;
  assignment(namespace: string): Promise<RpcOutcome<Assignment | null>>;
  recordUsage(reports: UsageReport[], at: number, databases?: DatabaseReport[]): Promise<RpcOutcome<number>>;
  /** Records that the namespace's documents now live in `database` (a finished move). */
  relocate(namespace: string, database: string): Promise<RpcOutcome<boolean>>;
  adopt(namespaces: string[], index: string, cursor: string): Promise<RpcOutcome<number>>;
  status(): Promise<RpcOutcome<ShardMapStatus>>;
}
