// Backup and restore steps in the ingest consumer: finds the message's job, runs its step (or,
// for a step the job has moved past, only makes sure the next one exists), and turns failures into
// the job's state. A transient failure retries the step; a permanent one, or a transient one that
// outlasts STEP_ATTEMPTS, fails the job with its reason, so a job never stays running because its
// message went to the dead-letter queue.
import { errorMessage, isRetryable } from "../errors";
import { backoffSeconds, type Decision } from "../ingest/pipeline";
import { backupStep, backupStepRedelivered } from "./export";
import { JobStore } from "./jobs";
import { type BackupTaskDeps, BackupTaskSchema } from "./messages";
import { restoreStep, restoreStepRedelivered } from "./restore";

/** Deliveries of one step before its job is failed: below the queue's max_retries (5). */
export const STEP_ATTEMPTS = 5;

export async function processBackupTask(
  deps: BackupTaskDeps,
  body: unknown,
  attempts: number,
): Promise<Decision> {
  const parsed = BackupTaskSchema.safeParse(body);
  if (!parsed.success) {
    return {
      type: "dead-letter",
      reason: `invalid backup task: ${parsed.error.issues[0]?.message ?? "bad shape"}`,
    };
  }
  const task = parsed.data;
  const jobs = new JobStore(deps.db);
  const job = await jobs.byId(task.job);
  if (!job || `${job.kind}.step` !== task.kind) {
    return { type: "ack", outcome: "skipped", reason: `no ${task.kind.split(".")[0]} ${task.job}` };
  }
  if (job.state !== "running") {
    return { type: "ack", outcome: "skipped", reason: `${job.kind} ${job.id} is ${job.state}` };
  }
  const log = deps.logger.child({ namespace: job.namespace, job: job.id, kind: job.kind, step: task.step });
  try {
    if (task.step < job.step) {
      // Applied by an earlier delivery; only the one just before the job's step can have left the
      // next step unsent.
      if (task.step === job.step - 1) {
        await (job.kind === "backup"
          ? backupStepRedelivered(deps, job, task.step)
          : restoreStepRedelivered(deps, job, task.step));
      }
      return { type: "ack", outcome: "skipped", reason: `step ${task.step} was applied already` };
    }
    if (task.step > job.step) {
      return {
        type: "ack",
        outcome: "skipped",
        reason: `step ${task.step} is ahead of the job (${job.step})`,
      };
    }
    if (job.kind === "backup") {
      const applied = await backupStep(deps, job);
      return applied
        ? { type: "ack", outcome: "indexed" }
        : { type: "ack", outcome: "skipped", reason: "applied by another delivery" };
    }
    const { applied, changed } = await restoreStep(deps, job);
    // The namespace in the decision makes the consumer publish its new generation (cache keys).
    return changed
      ? { type: "ack", outcome: "indexed", namespace: job.namespace }
      : { type: "ack", outcome: "skipped", reason: applied ? "no rows written" : "not applied" };
  } catch (err) {
    const error = errorMessage(err);
    // Another delivery of the step applied it meanwhile (the first restore write, say, then finds
    // the namespace no longer empty): this one's failure is moot.
    const now = await jobs.byId(job.id);
    if (now && (now.step > task.step || now.state !== "running")) {
      return { type: "ack", outcome: "skipped", reason: `step ${task.step} was applied by another delivery` };
    }
    if (isRetryable(err) && attempts < STEP_ATTEMPTS) {
      log.warn("backup.step_retry", { error, attempts });
      return { type: "retry", delaySeconds: backoffSeconds(attempts), error };
    }
    // Verification writes nothing; from the first write on, the target holds part of the backup.
    const partial =
      job.kind === "restore" && job.phase !== "verify"
        ? `; namespace "${job.namespace}" may hold part of the backup (${job.documents} documents committed): delete its documents before restoring again`
        : "";
    const reason = `step ${task.step} (${job.phase}) failed${isRetryable(err) ? ` after ${attempts} attempts` : ""}: ${error}${partial}`;
    await jobs.fail(job.id, reason);
    log.error("backup.failed", { error: reason });
    return { type: "ack", outcome: "failed", reason };
  }
}
