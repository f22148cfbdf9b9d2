// One coordinator per namespace (idFromName(namespace)), with SQLite storage: the source of truth
// for the namespace's index versions. It records each version's configuration, state and build
// progress, performs the swap, rollback and retirement atomically (a Durable Object runs one
// call at a time), publishes the active-version pointer to KV for the query path, and keeps a
// stalled build or a due retirement moving with its alarm. It also publishes the namespace's write
// generation (src/cache/generation.ts). It is the only writer of both KV keys, and paces each to
// KV's one write per second per key (paced-write.ts), however many callers publish at once.
//
// Work that touches documents (building, purging) runs in the ingest queue's consumer; the
// coordinator hands out the queue tasks and accepts each batch's report once, by the position the
// batch started from, so a redelivered or repeated batch is never counted twice.
//
// Methods return an outcome envelope instead of throwing our errors: RPC keeps an error's message
// but not its class or fields, and callers need the AppError code and retryable flag.
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { formatGeneration, type Generation, generationKey } from "../../src/cache/generation";
import { AppError, errorMessage } from "../../src/errors";
import type {
  ExperimentRecord,
  ExperimentSettings,
  ExperimentState,
  RunningExperiment,
} from "../../src/experiments/model";
import type {
  BackfillReport,
  CoordinatorOutcome,
  IndexEvidence,
  NamespaceCoordinatorRpc,
  NewVersion,
  VersionOverview,
} from "../../src/objects/namespace-coordinator";
import { toOutcome } from "../../src/objects/outcome";
import { createLogger } from "../../src/observe/logger";
import { ShardMapClient } from "../../src/shards/client";
import { placementOf, storageOf } from "../../src/shards/policy";
import { d1 } from "../../src/store/d1";
import { KV_SAME_KEY_WRITE_INTERVAL_MS, strictKv } from "../../src/store/kv-limits";
import { sendPaged } from "../../src/util/queue-limits";
import type { BackfillTask, PurgeTask, VersionTask } from "../../src/versions/messages";
import {
  DEFAULT_VERSION,
  type GateReport,
  type GoldenQuery,
  LIVE_STATES,
  type VersionPointer,
  type VersionRecord,
  type VersionSpec,
} from "../../src/versions/model";
import { pointerKey } from "../../src/versions/pointer";
import {
  awaitingPurge,
  checkCreate,
  checkGate,
  checkIndexCaughtUp,
  endGrace,
  finishBuild,
  planActivate,
  planRetire,
  planRollback,
  type Transition,
} from "../../src/versions/transitions";
import { readMeta, writeMeta } from "./meta";
import { PacedWrite, type WriteClock } from "./paced-write";

const DEFAULT_STALL_MS = 60_000;
const DEFAULT_PURGE_RECHECK_MS = 60_000;
const PUBLISH_RETRY_MS = 5000;
/** The meta key of the generation's write clock (when KV last took the key). */
const GENERATION_CLOCK = "generationWrittenAt";
/** Failures listed on a version record (all are counted). */
const MAX_LISTED_FAILURES = 100;
/** The states an experiment's candidate may be in: built, and kept current by every write. */
const EXPERIMENT_CANDIDATE_STATES: readonly string[] = ["ready", "previous"];

const envSchema = z.object({
  VERSION_BUILD_STALL_MS: z.coerce.number().int().min(0).optional(),
  VERSION_PURGE_RECHECK_MS: z.coerce.number().int().min(0).optional(),
});

interface StoredRecord extends VersionRecord {
  /** Purge passes finished; a second pass, a while after the first, catches late writes. */
  purgePasses: number;
  purgeRecheckAt: number | null;
}

export class NamespaceCoordinator extends DurableObject<Env> implements NamespaceCoordinatorRpc {
  private readonly log = createLogger("info", { component: "namespace-coordinator" });
  private readonly stallMs: number;
  private readonly purgeRecheckMs: number;
  /** KV; in local mode refusing a second write to a key within a second, as Workers KV does. */
  private readonly kv: KVNamespace;
  private readonly pointerWrite: PacedWrite;
  private readonly generationWrite: PacedWrite;
  /** The generation the last write published (for the callers it covered). */
  private publishedGeneration: Generation | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.kv = env.BACKEND === "local" ? strictKv(env.KV) : env.KV;
    const parsed = envSchema.safeParse(env);
    this.stallMs = (parsed.success ? parsed.data.VERSION_BUILD_STALL_MS : undefined) ?? DEFAULT_STALL_MS;
    this.purgeRecheckMs =
      (parsed.success ? parsed.data.VERSION_PURGE_RECHECK_MS : undefined) ?? DEFAULT_PURGE_RECHECK_MS;
    this.pointerWrite = new PacedWrite(() => this.writePointer(), this.writeClock("pointerWrittenAt"));
    this.generationWrite = new PacedWrite(() => this.writeGeneration(), this.writeClock(GENERATION_CLOCK));
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS versions (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, record TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS golden (ord INTEGER PRIMARY KEY, query TEXT NOT NULL, relevant TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS experiments (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, record TEXT NOT NULL);
    `);
  }

  // --- RPC ------------------------------------------------------------------------------------

  async overview(namespace: string, defaults: VersionSpec): Promise<CoordinatorOutcome<VersionOverview>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      return this.describe();
    });
  }

  /** The versions every write must reach (the active one first), read per ingest batch. */
  async writeTargets(namespace: string, defaults: VersionSpec): Promise<CoordinatorOutcome<VersionPointer>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      return this.pointer();
    });
  }

  /** The version's record, if it exists (the consumer checks a task is still wanted). */
  async version(
    namespace: string,
    defaults: VersionSpec,
    id: string,
  ): Promise<CoordinatorOutcome<VersionRecord | null>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      const record = this.records().find((r) => r.id === id);
      return record ? publicRecord(record) : null;
    });
  }

  /** Starts building a version; the caller enqueues the returned task. */
  async createVersion(
    namespace: string,
    defaults: VersionSpec,
    spec: NewVersion,
    total: number,
  ): Promise<CoordinatorOutcome<{ version: VersionRecord; task: BackfillTask }>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      checkCreate(this.records());
      const now = Date.now();
      const id = `v${this.nextSeq()}`;
      const record: StoredRecord = {
        ...spec,
        id,
        state: "building",
        createdAt: now,
        updatedAt: now,
        activatedAt: null,
        retireAt: null,
        retiredAt: null,
        purged: false,
        backfill: {
          phase: "scan",
          cursor: "",
          total,
          done: 0,
          failed: 0,
          failures: [],
          lastMutationId: null,
          lastMutationAt: null,
          startedAt: now,
          updatedAt: now,
          finishedAt: null,
        },
        gate: null,
        purgePasses: 0,
        purgeRecheckAt: null,
      };
      this.save(record);
      await this.changed();
      await this.scheduleAlarm();
      return { version: publicRecord(record), task: backfillTask(namespace, record) };
    });
  }

  /**
   * Accepts a build batch's report once. Returns the next task for the caller to enqueue, or
   * null when the report was a repeat, the version is no longer building, or the build is done.
   */
  async recordBackfill(
    namespace: string,
    defaults: VersionSpec,
    id: string,
    report: BackfillReport,
  ): Promise<CoordinatorOutcome<{ accepted: boolean; next: BackfillTask | null }>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      const record = this.records().find((r) => r.id === id);
      const progress = record?.backfill;
      if (!record || !progress || record.state !== "building") return { accepted: false, next: null };
      if (progress.phase !== report.from.phase || progress.cursor !== report.from.cursor) {
        return { accepted: false, next: null };
      }
      const now = Date.now();
      progress.done += report.done;
      progress.failed += report.failures.length;
      progress.failures = [...progress.failures, ...report.failures].slice(0, MAX_LISTED_FAILURES);
      progress.total = report.total;
      if (report.mutationId !== null) {
        progress.lastMutationId = report.mutationId;
        progress.lastMutationAt = report.mutationAt;
      }
      progress.updatedAt = now;
      record.updatedAt = now;
      if (report.next === null) {
        progress.phase = "done";
        progress.cursor = "";
        progress.finishedAt = now;
        this.apply([finishBuild(record)], [record], now, 0);
        await this.changed();
        return { accepted: true, next: null };
      }
      progress.phase = report.next.phase;
      progress.cursor = report.next.cursor;
      this.save(record);
      return { accepted: true, next: backfillTask(namespace, record) };
    });
  }

  /**
   * Makes a ready version the active one, if its index has applied the build's writes and the
   * quality gate passed (or was forced). The active version becomes the previous one, kept
   * current and queryable for `graceMs`, then retired. Returns the purge task of a version this
   * displaced from "previous", for the caller to enqueue.
   */
  async activate(
    namespace: string,
    defaults: VersionSpec,
    id: string,
    evidence: IndexEvidence,
    gate: GateReport,
    graceMs: number,
  ): Promise<CoordinatorOutcome<{ version: VersionRecord; purge: PurgeTask | null }>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      const records = this.records();
      const changes = planActivate(records, id);
      const record = records.find((r) => r.id === id);
      if (!record) throw new AppError("not_found", `version ${id} does not exist`);
      checkIndexCaughtUp(id, record.backfill, evidence);
      // The version shows its last gate, passed or not.
      record.gate = gate;
      this.save(record);
      checkGate(id, gate);
      const retired = this.apply(changes, records, Date.now(), graceMs);
      await this.changed();
      await this.scheduleAlarm();
      const purge = retired[0];
      return { version: publicRecord(record), purge: purge ? purgeTask(namespace, purge) : null };
    });
  }

  /** Makes the previous version active again; the replaced one stays ready (and current). */
  async rollback(namespace: string, defaults: VersionSpec): Promise<CoordinatorOutcome<VersionRecord>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      const records = this.records();
      const changes = planRollback(records);
      this.apply(changes, records, Date.now(), 0);
      await this.changed();
      const target = records.find((r) => r.state === "active");
      if (!target) throw new AppError("internal", "rollback left no active version", { retryable: false });
      return publicRecord(target);
    });
  }

  /** Retires a version other than the active one at once; the caller enqueues the purge task. */
  async retire(
    namespace: string,
    defaults: VersionSpec,
    id: string,
  ): Promise<CoordinatorOutcome<{ version: VersionRecord; purge: PurgeTask | null }>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      const records = this.records();
      const changes = planRetire(records, id);
      const record = records.find((r) => r.id === id);
      if (!record) throw new AppError("not_found", `version ${id} does not exist`);
      if (changes.length === 0) return { version: publicRecord(record), purge: null };
      this.apply(changes, records, Date.now(), 0);
      await this.changed();
      return { version: publicRecord(record), purge: purgeTask(namespace, record) };
    });
  }

  /** A purge pass finished: the version's vectors and chunks are gone. */
  async recordPurged(
    namespace: string,
    defaults: VersionSpec,
    id: string,
  ): Promise<CoordinatorOutcome<boolean>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      const record = this.records().find((r) => r.id === id);
      if (!record || !awaitingPurge(record)) return false;
      record.purgePasses += 1;
      const now = Date.now();
      if (record.purgePasses >= 2) {
        record.purged = true;
        record.purgeRecheckAt = null;
      } else {
        record.purgeRecheckAt = now + this.purgeRecheckMs;
      }
      record.updatedAt = now;
      this.save(record);
      await this.scheduleAlarm();
      return record.purged;
    });
  }

  async setGoldenQueries(
    namespace: string,
    defaults: VersionSpec,
    queries: GoldenQuery[],
  ): Promise<CoordinatorOutcome<number>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      this.ctx.storage.transactionSync(() => {
        this.ctx.storage.sql.exec("DELETE FROM golden");
        queries.forEach((q, i) => {
          this.ctx.storage.sql.exec(
            "INSERT INTO golden (ord, query, relevant) VALUES (?, ?, ?)",
            i,
            q.query,
            JSON.stringify(q.relevant),
          );
        });
      });
      return queries.length;
    });
  }

  async goldenQueries(namespace: string, defaults: VersionSpec): Promise<CoordinatorOutcome<GoldenQuery[]>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      return this.golden();
    });
  }

  /**
   * Starts moving the namespace's rows to `target`: the pointer says "moving", so every writer
   * applies its writes to both databases while the move copies. Refused while another move runs.
   */
  async startMove(
    namespace: string,
    defaults: VersionSpec,
    target: string,
  ): Promise<CoordinatorOutcome<VersionPointer>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      const moving = this.meta("moving");
      if (moving === target) return this.pointer();
      if (moving !== null) {
        throw new AppError("conflict", `namespace "${namespace}" is already moving to ${moving}`);
      }
      if (this.database() === target) {
        throw new AppError("conflict", `namespace "${namespace}" is in ${target} already`, {
          field: "body.to",
        });
      }
      this.setMeta("moving", target);
      await this.changed();
      return this.pointer();
    });
  }

  /**
   * Ends a move: with `done`, the namespace's database becomes the target (the swap searches see
   * at their next pointer read); without, the move is abandoned and the namespace stays where it was.
   */
  async endMove(
    namespace: string,
    defaults: VersionSpec,
    target: string,
    done: boolean,
  ): Promise<CoordinatorOutcome<VersionPointer>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      if (this.meta("moving") === target) {
        // The shard map counts the namespace in its new database (new namespaces go elsewhere).
        if (done) await new ShardMapClient(this.env.SHARD_MAP).relocate(namespace, target);
        this.ctx.storage.transactionSync(() => {
          if (done) this.setMeta("database", target);
          this.ctx.storage.sql.exec("DELETE FROM meta WHERE key = 'moving'");
        });
        await this.changed();
      }
      return this.pointer();
    });
  }

  /**
   * Publishes the namespace's write generation (D1's) to KV for the query path, and returns it
   * once a write that started after this call is done: it covers every change made before the
   * call. Writes are paced to one per second; concurrent callers share one. Does not create the
   * namespace's versions: a namespace written before its coordinator existed publishes too.
   */
  async publishGeneration(namespace: string): Promise<CoordinatorOutcome<Generation | null>> {
    return this.run(async () => {
      this.claimGeneration(namespace);
      this.setMeta("generationPending", "1");
      await this.flushGeneration();
      return this.publishedGeneration;
    });
  }

  /**
   * Has the namespace's write generation published without waiting for the write: the request is
   * recorded in storage and the alarm writes it in its turn (within about a second; retried
   * until it succeeds), sharing the pacing of publishGeneration. Returns the generation D1 holds
   * now, which the write will publish (or a newer one); null when D1 has none or cannot say.
   */
  async requestPublish(namespace: string): Promise<CoordinatorOutcome<Generation | null>> {
    return this.run(async () => {
      this.claimGeneration(namespace);
      this.setMeta("generationPending", "1");
      // A write already under way may have read D1 before the caller's change: it does not
      // clear the request.
      this.generationWrite.note();
      await this.scheduleGenerationWrite();
      const generation = await this.d1Generation(namespace).catch((err: unknown) => {
        this.log.warn("cache.generation_read_failed", { namespace, error: errorMessage(err) });
        return null;
      });
      return generation === null ? null : { generation, writtenAt: Date.now() };
    });
  }

  /**
   * Publishes a requested generation, retires previous versions whose grace ended, restarts
   * stalled builds, rechecks purges.
   */
  override async alarm(): Promise<void> {
    // A requested generation is published here, as is one whose write failed (callers were told
    // it failed; a failure schedules the retry). A request that came during the write gets the
    // next write, in its turn.
    if (this.meta("generationPending") === "1") {
      const written = await this.flushGeneration().then(
        () => true,
        () => false,
      );
      if (written && this.meta("generationPending") === "1") await this.scheduleGenerationWrite();
    }
    const namespace = this.meta("namespace");
    if (namespace === null) {
      await this.scheduleAlarm();
      return;
    }
    const now = Date.now();
    const tasks: VersionTask[] = [];
    let changed = false;
    for (const record of this.records()) {
      const graceEnd = endGrace(record, now);
      if (graceEnd) {
        this.apply([graceEnd], [record], now, 0);
        tasks.push(purgeTask(namespace, record));
        changed = true;
      } else if (
        record.state === "building" &&
        record.backfill &&
        record.backfill.updatedAt + this.stallMs <= now
      ) {
        // No batch reported for a while: its message was lost or is stuck. Re-send the task for
        // where the build stands; a batch still running will have its report ignored.
        record.backfill.updatedAt = now;
        this.save(record);
        tasks.push(backfillTask(namespace, record));
      } else if (
        record.state === "retired" &&
        !record.purged &&
        (record.purgeRecheckAt === null
          ? record.updatedAt + this.stallMs <= now
          : record.purgeRecheckAt <= now)
      ) {
        record.purgeRecheckAt = null;
        record.updatedAt = now;
        this.save(record);
        tasks.push(purgeTask(namespace, record));
      }
    }
    if (changed) this.bumpEpoch();
    await this.publishIfStale();
    await sendPaged(
      this.env.INGEST_QUEUE,
      tasks.map((body) => ({ body })),
    );
    await this.scheduleAlarm();
  }

  // --- Experiments (src/experiments) ----------------------------------------------------------

  /** Starts an experiment against the active version; one runs at a time. */
  async startExperiment(
    namespace: string,
    defaults: VersionSpec,
    settings: ExperimentSettings,
  ): Promise<CoordinatorOutcome<ExperimentRecord>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      const running = this.runningExperiment();
      if (running) throw new AppError("conflict", `experiment ${running.id} is running; stop it first`);
      const records = this.records();
      const active = records.find((r) => r.state === "active");
      const candidate = records.find((r) => r.id === settings.candidate);
      if (!candidate) throw new AppError("not_found", `version ${settings.candidate} does not exist`);
      if (!active || !EXPERIMENT_CANDIDATE_STATES.includes(candidate.state)) {
        throw new AppError(
          "conflict",
          `version ${candidate.id} is ${candidate.state}; an experiment's candidate is a ready or previous version`,
        );
      }
      const seq = Number(this.meta("experimentSeq") ?? "0") + 1;
      const now = Date.now();
      const record: ExperimentRecord = {
        ...settings,
        id: `e${seq}`,
        control: active.id,
        state: "running",
        startedAt: now,
        updatedAt: now,
        endedAt: null,
        endReason: null,
      };
      this.ctx.storage.transactionSync(() => {
        this.setMeta("experimentSeq", String(seq));
        this.saveExperiment(record);
      });
      await this.changed();
      return record;
    });
  }

  /** Changes a running experiment's shares. */
  async updateExperiment(
    namespace: string,
    defaults: VersionSpec,
    id: string,
    change: Partial<Pick<ExperimentSettings, "share" | "shadowShare">>,
  ): Promise<CoordinatorOutcome<ExperimentRecord>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      const record = this.experimentById(id);
      if (record.state !== "running") throw new AppError("conflict", `experiment ${id} is ${record.state}`);
      Object.assign(record, change, { updatedAt: Date.now() });
      this.saveExperiment(record);
      await this.changed();
      return record;
    });
  }

  /** Stops a running experiment: every search goes to the active version again. */
  async stopExperiment(
    namespace: string,
    defaults: VersionSpec,
    id: string,
  ): Promise<CoordinatorOutcome<ExperimentRecord>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      const record = this.experimentById(id);
      if (record.state !== "running") return record;
      this.endExperiment(record, "stopped", "stopped", Date.now());
      await this.changed();
      return record;
    });
  }

  async experiment(
    namespace: string,
    defaults: VersionSpec,
    id: string | null,
  ): Promise<CoordinatorOutcome<ExperimentRecord | null>> {
    return this.run(async () => {
      await this.ensure(namespace, defaults);
      if (id !== null) return this.experimentById(id);
      const row = this.ctx.storage.sql
        .exec<{ record: string }>("SELECT record FROM experiments ORDER BY seq DESC LIMIT 1")
        .toArray()[0];
      return row ? (JSON.parse(row.record) as ExperimentRecord) : null;
    });
  }

  private runningExperiment(): ExperimentRecord | null {
    const id = this.meta("experiment");
    if (id === null) return null;
    const record = this.findExperiment(id);
    return record?.state === "running" ? record : null;
  }

  private findExperiment(id: string): ExperimentRecord | null {
    const row = this.ctx.storage.sql
      .exec<{ record: string }>("SELECT record FROM experiments WHERE id = ?", id)
      .toArray()[0];
    return row ? (JSON.parse(row.record) as ExperimentRecord) : null;
  }

  private experimentById(id: string): ExperimentRecord {
    const record = this.findExperiment(id);
    if (!record) throw new AppError("not_found", `experiment ${id} does not exist`);
    return record;
  }

  private saveExperiment(record: ExperimentRecord): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO experiments (id, seq, record) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
      record.id,
      Number(record.id.slice(1)),
      JSON.stringify(record),
    );
    if (record.state === "running") this.setMeta("experiment", record.id);
  }

  private endExperiment(record: ExperimentRecord, state: ExperimentState, reason: string, now: number): void {
    Object.assign(record, { state, endReason: reason, endedAt: now, updatedAt: now });
    this.saveExperiment(record);
  }

  /**
   * Ends the running experiment when a version change took its arms away: the candidate made
   * active is a promotion; the control replaced, or the candidate retired, ends it.
   */
  private settleExperiment(): void {
    const running = this.runningExperiment();
    if (!running) return;
    const records = this.records();
    const active = records.find((r) => r.state === "active");
    const candidate = records.find((r) => r.id === running.candidate);
    const now = Date.now();
    if (active?.id === running.candidate) {
      this.endExperiment(running, "promoted", `candidate ${running.candidate} activated`, now);
    } else if (active?.id !== running.control) {
      this.endExperiment(running, "ended", `version ${active?.id ?? "?"} activated`, now);
    } else if (!candidate || !EXPERIMENT_CANDIDATE_STATES.includes(candidate.state)) {
      this.endExperiment(
        running,
        "ended",
        `candidate ${running.candidate} ${candidate?.state ?? "gone"}`,
        now,
      );
    }
  }

  /** The running experiment as the query path reads it (in the pointer). */
  private publishedExperiment(records: StoredRecord[]): RunningExperiment | null {
    const running = this.runningExperiment();
    const candidate = running ? records.find((r) => r.id === running.candidate) : undefined;
    if (!running || !candidate || !EXPERIMENT_CANDIDATE_STATES.includes(candidate.state)) return null;
    return {
      id: running.id,
      control: running.control,
      candidate: spec(candidate),
      share: running.share,
      shadowShare: running.shadowShare,
    };
  }

  // --- State ----------------------------------------------------------------------------------

  /**
   * Creates the default version from the deployment's configuration on first use, in the index
   * the shard map places the namespace in when the defaults carry a placement policy. Only then:
   * afterwards the version records say where the namespace's vectors are.
   */
  private async ensure(namespace: string, defaults: VersionSpec): Promise<void> {
    const known = this.meta("namespace");
    if (known !== null && known !== namespace) {
      throw new AppError("internal", `coordinator of "${known}" was asked about "${namespace}"`, {
        retryable: false,
      });
    }
    if (known === null) await this.create(namespace, defaults);
    await this.publishIfStale();
  }

  private async create(namespace: string, defaults: VersionSpec): Promise<void> {
    const placement = placementOf(defaults);
    const assignment = placement
      ? await new ShardMapClient(this.env.SHARD_MAP).assign(
          namespace,
          placement,
          storageOf(defaults) ?? undefined,
        )
      : null;
    const index = assignment?.index ?? defaults.index;
    // Other calls run while the shard map answers. It answers each of them the same index, so the
    // first to get here creates the version and the others find it created; no await from here on.
    if (this.meta("namespace") !== null) return;
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.setMeta("namespace", namespace);
      if (assignment?.database) this.setMeta("database", assignment.database);
      this.setMeta("seq", "1");
      this.setMeta("epoch", "1");
      this.save({
        ...spec(defaults),
        index,
        id: DEFAULT_VERSION,
        state: "active",
        createdAt: now,
        updatedAt: now,
        activatedAt: now,
        retireAt: null,
        retiredAt: null,
        purged: false,
        backfill: null,
        gate: null,
        purgePasses: 0,
        purgeRecheckAt: null,
      });
    });
  }

  private records(): StoredRecord[] {
    return this.ctx.storage.sql
      .exec<{ record: string }>("SELECT record FROM versions ORDER BY seq")
      .toArray()
      .map((row) => JSON.parse(row.record) as StoredRecord);
  }

  private save(record: StoredRecord): void {
    const seq = Number(record.id.slice(1));
    this.ctx.storage.sql.exec(
      "INSERT INTO versions (id, seq, record) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
      record.id,
      seq,
      JSON.stringify(record),
    );
  }

  /**
   * Applies the state changes a rule in src/versions/transitions.ts planned, with what each state
   * keeps: a previous version's end of grace, an active one's activation time, a retired one's
   * purge bookkeeping. Returns the records it retired (their purge is the caller's to enqueue).
   */
  private apply(
    changes: readonly Transition[],
    records: StoredRecord[],
    now: number,
    graceMs: number,
  ): StoredRecord[] {
    const retired: StoredRecord[] = [];
    for (const change of changes) {
      const record = records.find((r) => r.id === change.id);
      if (!record) continue;
      record.state = change.to;
      record.updatedAt = now;
      if (change.to === "previous") record.retireAt = now + graceMs;
      if (change.to === "active") {
        record.retireAt = null;
        record.activatedAt = now;
      }
      if (change.to === "retired") {
        record.retireAt = null;
        record.retiredAt = now;
        record.purged = false;
        record.purgePasses = 0;
        record.purgeRecheckAt = null;
        retired.push(record);
      }
      this.save(record);
    }
    return retired;
  }

  private golden(): GoldenQuery[] {
    return this.ctx.storage.sql
      .exec<{ query: string; relevant: string }>("SELECT query, relevant FROM golden ORDER BY ord")
      .toArray()
      .map((row) => ({ query: row.query, relevant: JSON.parse(row.relevant) as string[] }));
  }

  private describe(): VersionOverview {
    const records = this.records();
    const goldenQueries =
      this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM golden").one().n ?? 0;
    return {
      namespace: this.meta("namespace") ?? "",
      active: records.find((r) => r.state === "active")?.id ?? DEFAULT_VERSION,
      versions: records.map(publicRecord),
      goldenQueries,
    };
  }

  private pointer(): VersionPointer {
    const records = this.records();
    const active = records.find((r) => r.state === "active");
    if (!active) throw new AppError("internal", "namespace has no active version", { retryable: false });
    const live = [active, ...records.filter((r) => r.state !== "active" && LIVE_STATES.includes(r.state))];
    const experiment = this.publishedExperiment(records);
    return {
      active: spec(active),
      live: live.map(spec),
      epoch: Number(this.meta("epoch") ?? "1"),
      database: this.database(),
      moving: this.meta("moving"),
      ...(experiment && experiment.control === active.id ? { experiment } : {}),
    };
  }

  /** The binding name of the namespace's data database (DB for namespaces from before the pool). */
  private database(): string {
    return this.meta("database") ?? "DB";
  }

  private dataDb(): D1Database {
    const db = (this.env as unknown as Record<string, unknown>)[this.database()];
    if (typeof db === "object" && db !== null && "prepare" in db) return db as D1Database;
    throw new AppError("internal", `no D1 binding "${this.database()}" for namespace data`, {
      retryable: false,
    });
  }

  private nextSeq(): number {
    const next = Number(this.meta("seq") ?? "1") + 1;
    this.setMeta("seq", String(next));
    return next;
  }

  private bumpEpoch(): void {
    this.settleExperiment();
    this.setMeta("epoch", String(Number(this.meta("epoch") ?? "1") + 1));
  }

  /** A change the pointer shows: a new epoch, published at once. */
  private async changed(): Promise<void> {
    this.bumpEpoch();
    await this.publishIfStale();
  }

  /**
   * Writes the pointer to KV when the stored epoch is newer than the published one, in its turn
   * (one write per second). The state is already saved, so a failed write does not fail the
   * call: the alarm tries again shortly.
   */
  private async publishIfStale(): Promise<void> {
    const epoch = this.meta("epoch");
    if (epoch === null || this.meta("published") === epoch || this.meta("namespace") === null) return;
    try {
      await this.pointerWrite.request();
    } catch (err) {
      this.log.error("versions.publish_failed", { namespace: this.meta("namespace"), error: String(err) });
      await this.ctx.storage.setAlarm(Date.now() + PUBLISH_RETRY_MS);
    }
  }

  private async writePointer(): Promise<void> {
    const epoch = this.meta("epoch");
    const namespace = this.meta("namespace");
    if (epoch === null || namespace === null || this.meta("published") === epoch) return;
    await this.kv.put(pointerKey(namespace), JSON.stringify(this.pointer()));
    this.setMeta("published", epoch);
  }

  /** Publishes the generation in its turn; a failure schedules a retry and reaches the caller. */
  private async flushGeneration(): Promise<void> {
    try {
      await this.generationWrite.request();
    } catch (err) {
      this.log.warn("cache.generation_publish_failed", {
        namespace: this.meta("generationNamespace") ?? this.meta("namespace"),
        error: errorMessage(err),
      });
      await this.scheduleAlarm();
      throw new AppError("unavailable", `publishing the generation failed: ${errorMessage(err)}`, {
        retryable: true,
        cause: err,
      });
    }
    if (!this.generationWrite.pending) this.setMeta("generationPending", "0");
  }

  /** The coordinator serves one namespace's generation (a namespace may have no versions yet). */
  private claimGeneration(namespace: string): void {
    const known = this.meta("namespace") ?? this.meta("generationNamespace");
    if (known !== null && known !== namespace) {
      throw new AppError("internal", `coordinator of "${known}" was asked about "${namespace}"`, {
        retryable: false,
      });
    }
    if (known === null) this.setMeta("generationNamespace", namespace);
  }

  /** D1's generation of the namespace; null when it has no row (never written: generation 0). */
  private async d1Generation(namespace: string): Promise<number | null> {
    const row = await d1("read generation", () =>
      this.dataDb()
        .prepare("SELECT generation FROM namespaces WHERE name = ?1")
        .bind(namespace)
        .first<{ generation: number }>(),
    );
    return row?.generation ?? null;
  }

  private async writeGeneration(): Promise<void> {
    const namespace = this.meta("namespace") ?? this.meta("generationNamespace");
    if (namespace === null) return;
    const generation = await this.d1Generation(namespace);
    // No row: the namespace was never written, which readers already take as generation 0.
    if (generation === null) return;
    const published = { generation, writtenAt: Date.now() };
    await this.kv.put(generationKey(namespace), formatGeneration(published));
    this.publishedGeneration = published;
  }

  /** When a paced key was last written, kept in storage so a restarted object still waits. */
  private writeClock(key: string): WriteClock {
    return {
      get: () => Number(this.meta(key) ?? "0"),
      set: (at) => this.setMeta(key, String(at)),
    };
  }

  private async scheduleAlarm(): Promise<void> {
    const now = Date.now();
    const times: number[] = [];
    for (const r of this.records()) {
      if (r.state === "previous" && r.retireAt !== null) times.push(r.retireAt);
      if (r.state === "building" && r.backfill) times.push(r.backfill.updatedAt + this.stallMs);
      if (r.state === "retired" && !r.purged) times.push(r.purgeRecheckAt ?? r.updatedAt + this.stallMs);
    }
    if (this.meta("published") !== this.meta("epoch")) times.push(now + PUBLISH_RETRY_MS);
    if (this.meta("generationPending") === "1") times.push(now + PUBLISH_RETRY_MS);
    if (times.length === 0) return;
    await this.alarmBy(Math.max(now + 10, Math.min(...times)));
  }

  /** The alarm fires when the generation's next write is due (paced: an interval after the last). */
  private async scheduleGenerationWrite(): Promise<void> {
    const lastWrite = Number(this.meta(GENERATION_CLOCK) ?? "0");
    await this.alarmBy(Math.max(Date.now() + 10, lastWrite + KV_SAME_KEY_WRITE_INTERVAL_MS));
  }

  /** Sets the alarm for `at` unless one is due earlier (and not past: a running alarm's time). */
  private async alarmBy(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at || current < Date.now()) await this.ctx.storage.setAlarm(at);
  }

  private meta(key: string): string | null {
    return readMeta(this.ctx.storage.sql, key);
  }

  private setMeta(key: string, value: string): void {
    writeMeta(this.ctx.storage.sql, key, value);
  }

  private run<T>(fn: () => Promise<T>): Promise<CoordinatorOutcome<T>> {
    return toOutcome(fn);
  }
}

function spec(r: VersionSpec): VersionSpec {
  return {
    id: r.id,
    model: r.model,
    dimensions: r.dimensions,
    pooling: r.pooling,
    chunking: { maxTokens: r.chunking.maxTokens, overlapTokens: r.chunking.overlapTokens },
    index: r.index,
  };
}

function publicRecord(r: StoredRecord): VersionRecord {
  const { purgePasses: _passes, purgeRecheckAt: _recheck, ...rest } = r;
  return rest;
}

function backfillTask(namespace: string, r: StoredRecord): BackfillTask {
  const phase = r.backfill?.phase === "sweep" ? "sweep" : "scan";
  return { kind: "version.backfill", namespace, version: r.id, phase, cursor: r.backfill?.cursor ?? "" };
}

function purgeTask(namespace: string, r: StoredRecord): PurgeTask {
  return { kind: "version.purge", namespace, version: r.id };
}
