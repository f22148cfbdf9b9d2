// Client of a namespace's coordinator object (workers/objects/namespace-coordinator.ts): one
// object per namespace, addressed by name. Error envelopes become AppErrors again; a failed call
// (the object restarting, an overloaded isolate) is retryable.

import type { Generation, GenerationPublisher } from "../cache/generation";
import type { ExperimentRecord, ExperimentSettings } from "../experiments/model";
import type {
  BackfillReport,
  GoldenQuery,
  IndexEvidence,
  NamespaceCoordinatorRpc,
  NewVersion,
  VersionOverview,
} from "../objects/namespace-coordinator";
import { fromOutcome } from "../objects/outcome";
import type { BackfillTask, PurgeTask } from "./messages";
import type { GateReport, VersionPointer, VersionRecord, VersionSpec, WriteTargets } from "./model";

export class CoordinatorClient implements GenerationPublisher {
  private readonly stub: DurableObjectStub<NamespaceCoordinatorRpc>;

  constructor(
    objects: DurableObjectNamespace<NamespaceCoordinatorRpc>,
    readonly namespace: string,
    /** The default version, created on the coordinator's first use. */
    private readonly defaults: VersionSpec,
    /** Keeps a pointer the coordinator answered with (the isolate's pointer cache). */
    private readonly remember: (pointer: VersionPointer) => void = () => undefined,
  ) {
    this.stub = objects.get(objects.idFromName(namespace));
  }

  overview(): Promise<VersionOverview> {
    return this.call("overview", () => this.stub.overview(this.namespace, this.defaults));
  }

  /** The versions writes reach and the namespace's database: its pointer, created on first use. */
  writeTargets(): Promise<WriteTargets> {
    return this.pointer();
  }

  /** The namespace's whole pointer (active and live versions, running experiment), created on first use. */
  async pointer(): Promise<VersionPointer> {
    const pointer = await this.call<VersionPointer>("writeTargets", () =>
      this.stub.writeTargets(this.namespace, this.defaults),
    );
    this.remember(pointer);
    return pointer;
  }

  /** Marks the namespace as moving to `target` (writes then reach both databases). */
  async startMove(target: string): Promise<VersionPointer> {
    const pointer = await this.call<VersionPointer>("startMove", () =>
      this.stub.startMove(this.namespace, this.defaults, target),
    );
    this.remember(pointer);
    return pointer;
  }

  /** Ends the move to `target`: switched to it when `done`, abandoned otherwise. */
  async endMove(target: string, done: boolean): Promise<VersionPointer> {
    const pointer = await this.call<VersionPointer>("endMove", () =>
      this.stub.endMove(this.namespace, this.defaults, target, done),
    );
    this.remember(pointer);
    return pointer;
  }

  version(id: string): Promise<VersionRecord | null> {
    return this.call("version", () => this.stub.version(this.namespace, this.defaults, id));
  }

  createVersion(spec: NewVersion, total: number): Promise<{ version: VersionRecord; task: BackfillTask }> {
    return this.call("createVersion", () =>
      this.stub.createVersion(this.namespace, this.defaults, spec, total),
    );
  }

  recordBackfill(
    id: string,
    report: BackfillReport,
  ): Promise<{ accepted: boolean; next: BackfillTask | null }> {
    return this.call("recordBackfill", () =>
      this.stub.recordBackfill(this.namespace, this.defaults, id, report),
    );
  }

  activate(
    id: string,
    evidence: IndexEvidence,
    gate: GateReport,
    graceMs: number,
  ): Promise<{ version: VersionRecord; purge: PurgeTask | null }> {
    return this.call("activate", () =>
      this.stub.activate(this.namespace, this.defaults, id, evidence, gate, graceMs),
    );
  }

  rollback(): Promise<VersionRecord> {
    return this.call("rollback", () => this.stub.rollback(this.namespace, this.defaults));
  }

  retire(id: string): Promise<{ version: VersionRecord; purge: PurgeTask | null }> {
    return this.call("retire", () => this.stub.retire(this.namespace, this.defaults, id));
  }

  recordPurged(id: string): Promise<boolean> {
    return this.call("recordPurged", () => this.stub.recordPurged(this.namespace, this.defaults, id));
  }

  setGoldenQueries(queries: GoldenQuery[]): Promise<number> {
    return this.call("setGoldenQueries", () =>
      this.stub.setGoldenQueries(this.namespace, this.defaults, queries),
    );
  }

  /** Publishes the namespace's write generation to KV, paced to KV's one write per second per key. */
  publishGeneration(): Promise<Generation | null> {
    return this.call("publishGeneration", () => this.stub.publishGeneration(this.namespace));
  }

  /**
   * Has the namespace's write generation published without waiting for the paced write; returns
   * the generation it will publish (or a newer one), null when unknown.
   */
  requestPublish(): Promise<Generation | null> {
    return this.call("requestPublish", () => this.stub.requestPublish(this.namespace));
  }

  goldenQueries(): Promise<GoldenQuery[]> {
    return this.call("goldenQueries", () => this.stub.goldenQueries(this.namespace, this.defaults));
  }

  startExperiment(settings: ExperimentSettings): Promise<ExperimentRecord> {
    return this.call("startExperiment", () =>
      this.stub.startExperiment(this.namespace, this.defaults, settings),
    );
  }

  updateExperiment(
    id: string,
    change: Partial<Pick<ExperimentSettings, "share" | "shadowShare">>,
  ): Promise<ExperimentRecord> {
    return this.call("updateExperiment", () =>
      this.stub.updateExperiment(this.namespace, this.defaults, id, change),
    );
  }

  stopExperiment(id: string): Promise<ExperimentRecord> {
    return this.call("stopExperiment", () => this.stub.stopExperiment(this.namespace, this.defaults, id));
  }

  /** The experiment `id`, or (null) the namespace's latest one. */
  experiment(id: string | null): Promise<ExperimentRecord | null> {
    return this.call("experiment", () => this.stub.experiment(this.namespace, this.defaults, id));
  }

  private call<T>(operation: string, invoke: () => Promise<unknown>): Promise<T> {
    return fromOutcome<T>(`version coordinator ${operation}`, invoke);
  }
}
