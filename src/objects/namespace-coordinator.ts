// What a namespace's coordinator object (workers/objects/namespace-coordinator.ts) answers over
// RPC: the types both it and its client (src/versions/coordinator.ts) speak, and the methods the
// client calls, which the class implements.
import type { Generation } from "../cache/generation";
import type { ExperimentRecord, ExperimentSettings } from "../experiments/model";
import type { BackfillTask, PurgeTask } from "../versions/messages";
import type { GateReport, GoldenQuery, VersionPointer, VersionRecord, VersionSpec } from "../versions/model";
import type { IndexEvidence } from "../versions/transitions";
import type { RpcOutcome } from "./outcome";

export type CoordinatorOutcome<T> = RpcOutcome<T>;

/** A build batch's result, reported by the consumer. */
export interface BackfillReport {
  /** Where the batch started; a report from anywhere else is a repeat and is ignored. */
  from: { phase: "scan" | "sweep"; cursor: string };
  /** Where the next batch starts; null when the build has covered every document. */
  next: { phase: "scan" | "sweep"; cursor: string } | null;
  done: number;
  failures: { id: string; error: string }[];
  /** Indexed documents in the namespace now. */
  total: number;
  mutationId: string | null;
  mutationAt: number | null;
}

export interface VersionOverview {
  namespace: string;
  active: string;
  versions: VersionRecord[];
  goldenQueries: number;
}

export type { GoldenQuery, IndexEvidence };

export type NewVersion = Omit<VersionSpec, "id">;

export interface NamespaceCoordinatorRpc extends Rpc.DurableObjectBranded {
  overview(namespace: string, defaults: VersionSpec): Promise<CoordinatorOutcome<VersionOverview>>;
  writeTargets(namespace: string, defaults: VersionSpec): Promise<CoordinatorOutcome<VersionPointer>>;
  startMove(
    namespace: string,
    defaults: VersionSpec,
    target: string,
  ): Promise<CoordinatorOutcome<VersionPointer>>;
  endMove(
    namespace: string,
    defaults: VersionSpec,
    target: string,
    done: boolean,
  ): Promise<CoordinatorOutcome<VersionPointer>>;
  version(
    namespace: string,
    defaults: VersionSpec,
    id: string,
  ): Promise<CoordinatorOutcome<VersionRecord | null>>;
  createVersion(
    namespace: string,
    defaults: VersionSpec,
    spec: NewVersion,
    total: number,
  ): Promise<CoordinatorOutcome<{ version: VersionRecord; task: BackfillTask }>>;
  recordBackfill(
    namespace: string,
    defaults: VersionSpec,
    id: string,
    report: BackfillReport,
  ): Promise<CoordinatorOutcome<{ accepted: boolean; next: BackfillTask | null }>>;
  activate(
    namespace: string,
    defaults: VersionSpec,
    id: string,
    evidence: IndexEvidence,
    gate: GateReport,
    graceMs: number,
  ): Promise<CoordinatorOutcome<{ version: VersionRecord; purge: PurgeTask | null }>>;
  rollback(namespace: string, defaults: VersionSpec): Promise<CoordinatorOutcome<VersionRecord>>;
  retire(
    namespace: string,
    defaults: VersionSpec,
    id: string,
  ): Promise<CoordinatorOutcome<{ version: VersionRecord; purge: PurgeTask | null }>>;
  recordPurged(namespace: string, defaults: VersionSpec, id: string): Promise<CoordinatorOutcome<boolean>>;
  setGoldenQueries(
    namespace: string,
    defaults: VersionSpec,
    queries: GoldenQuery[],
  ): Promise<CoordinatorOutcome<number>>;
  goldenQueries(namespace: string, defaults: VersionSpec): Promise<CoordinatorOutcome<GoldenQuery[]>>;
  publishGeneration(namespace: string): Promise<CoordinatorOutcome<Generation | null>>;
  startExperiment(
    namespace: string,
    defaults: VersionSpec,
    settings: ExperimentSettings,
  ): Promise<CoordinatorOutcome<ExperimentRecord>>;
  updateExperiment(
    namespace: string,
    defaults: VersionSpec,
    id: string,
    change: Partial<Pick<ExperimentSettings, "share" | "shadowShare">>,
  ): Promise<CoordinatorOutcome<ExperimentRecord>>;
  stopExperiment(
    namespace: string,
    defaults: VersionSpec,
    id: string,
  ): Promise<CoordinatorOutcome<ExperimentRecord>>;
  /** The experiment `id`, or (null) the latest one. */
  experiment(
    namespace: string,
    defaults: VersionSpec,
    id: string | null,
  ): Promise<CoordinatorOutcome<ExperimentRecord | null>>;
  requestPublish(namespace: string): Promise<CoordinatorOutcome<Generation | null>>;
}
