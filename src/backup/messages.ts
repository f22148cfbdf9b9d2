// Backup and restore steps travel through the ingest queue next to document events and version
// work. A message names its job and the step it runs; the job's row in D1 says what that step
// does (where it starts, which phase), so a redelivered message repeats the same step. Sending
// records itself on the job, so that a redelivered step re-sends its successor only when missing.
import { z } from "zod";
import type { Config } from "../config";
import { AppError } from "../errors";
import type { Logger } from "../observe/logger";
import type { D1Like } from "../store/d1";
import type { VersionServices } from "../versions/services";
import { BackupIdSchema } from "./format";
import { type Job, JobStore, type NewJob } from "./jobs";

/** What backup and restore steps use: the consumer's services, and D1 itself. */
export interface BackupTaskDeps {
  /** The control database: jobs and their parts. */
  db: D1Database;
  /** The pool of data databases: the namespace's rows. */
  pool: { writes(namespace: string): D1Like };
  /** The documents bucket: what a backup reads and a restore writes. */
  blobs: R2Bucket;
  /** The backups bucket: manifests and parts. */
  backups: R2Bucket;
  queue: Queue;
  versions: VersionServices;
  config: Config;
  logger: Logger;
}

export const BackupTaskSchema = z.object({
  kind: z.enum(["backup.step", "restore.step"]),
  job: BackupIdSchema,
  step: z.number().int().min(0),
});
export type BackupTask = z.infer<typeof BackupTaskSchema>;

export function stepMessage(kind: "backup" | "restore", job: string, step: number): BackupTask {
  return { kind: kind === "backup" ? "backup.step" : "restore.step", job, step };
}

/** Whether a queue message is a backup or restore step (as opposed to a document event). */
export function isBackupTask(body: unknown): boolean {
  return (
    typeof body === "object" &&
    body !== null &&
    "kind" in body &&
    (body.kind === "backup.step" || body.kind === "restore.step")
  );
}

/**
 * Creates the job (409 while its namespace has one running) and sends its first step; a job whose
 * first message cannot be sent is failed at once.
 */
export async function startJob(
  deps: Pick<BackupTaskDeps, "db" | "queue">,
  job: NewJob,
  now = Date.now(),
): Promise<Job> {
  const jobs = new JobStore(deps.db);
  const created = await jobs.create(job, now);
  try {
    await deps.queue.send(stepMessage(created.kind, created.id, 0), { contentType: "json" });
  } catch (err) {
    await jobs.fail(created.id, "its first step could not be queued");
    throw new AppError("unavailable", `the ${created.kind} could not be queued; retry`, { cause: err });
  }
  return created;
}

export async function sendStep(deps: Pick<BackupTaskDeps, "db" | "queue">, job: Job, step: number) {
  await deps.queue.send(stepMessage(job.kind, job.id, step), { contentType: "json" });
  await new JobStore(deps.db).sent(job.id, step);
}
