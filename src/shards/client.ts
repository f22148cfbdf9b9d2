// Client of the shard map object (workers/objects/shard-map.ts). Error envelopes become AppErrors
// again; a failed call (the object restarting or overloaded) is retryable.

import { fromOutcome } from "../objects/outcome";
import type { Assignment, ShardMapRpc, ShardMapStatus, UsageReport } from "../objects/shard-map";
import type { DatabaseReport, StoragePolicy } from "./databases";
import { SHARD_MAP_NAME, type ShardPolicy } from "./policy";

export type { Assignment, ShardMapStatus, UsageReport } from "../objects/shard-map";

export interface ShardMapApi {
  assign(namespace: string, policy: ShardPolicy, storage?: StoragePolicy): Promise<Assignment>;
  assignment(namespace: string): Promise<Assignment | null>;
  recordUsage(reports: UsageReport[], at: number, databases?: DatabaseReport[]): Promise<number>;
  relocate(namespace: string, database: string): Promise<boolean>;
  adopt(namespaces: string[], index: string, cursor: string): Promise<number>;
  status(): Promise<ShardMapStatus>;
}

export class ShardMapClient implements ShardMapApi {
  private readonly stub: DurableObjectStub<ShardMapRpc>;

  constructor(objects: DurableObjectNamespace<ShardMapRpc>) {
    this.stub = objects.get(objects.idFromName(SHARD_MAP_NAME));
  }

  assign(namespace: string, policy: ShardPolicy, storage?: StoragePolicy): Promise<Assignment> {
    return this.call("assign", () => this.stub.assign(namespace, policy, storage));
  }

  assignment(namespace: string): Promise<Assignment | null> {
    return this.call("assignment", () => this.stub.assignment(namespace));
  }

  recordUsage(reports: UsageReport[], at: number, databases?: DatabaseReport[]): Promise<number> {
    return this.call("recordUsage", () => this.stub.recordUsage(reports, at, databases));
  }

  relocate(namespace: string, database: string): Promise<boolean> {
    return this.call("relocate", () => this.stub.relocate(namespace, database));
  }

  adopt(namespaces: string[], index: string, cursor: string): Promise<number> {
    return this.call("adopt", () => this.stub.adopt(namespaces, index, cursor));
  }

  status(): Promise<ShardMapStatus> {
    return this.call("status", () => this.stub.status());
  }

  private call<T>(operation: string, invoke: () => Promise<unknown>): Promise<T> {
    return fromOutcome<T>(`shard map ${operation}`, invoke);
  }
}
