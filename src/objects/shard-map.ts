// What the shard map object (workers/objects/shard-map.ts) answers over RPC: the types both it and
// its client (src/shards/client.ts) speak, and the methods the client calls, which the class
// implements.
import type { IndexUsage, ShardPolicy } from "../shards/policy";
import type { RpcOutcome } from "./outcome";

export interface Assignment {
  namespace: string;
  index: string;
  /** Found with vectors in the default index when first seen: placed there, not chosen. */
  legacy: boolean;
  assignedAt: number;
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
}

export interface ShardMapRpc extends Rpc.DurableObjectBranded {
  assign(namespace: string, policy: ShardPolicy): Promise<RpcOutcome<Assignment>>;
  assignment(namespace: string): Promise<RpcOutcome<Assignment | null>>;
  recordUsage(reports: UsageReport[], at: number): Promise<RpcOutcome<number>>;
  adopt(namespaces: string[], index: string, cursor: string): Promise<RpcOutcome<number>>;
  status(): Promise<RpcOutcome<ShardMapStatus>>;
}
