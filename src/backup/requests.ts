// What the API asks of backups: start a backup of a namespace's active version, start a restore
// of a verified backup into an empty namespace, and read the jobs back. The jobs themselves run
// on the ingest queue (export.ts, restore.ts); these only check, record and enqueue their start.
import type { Config } from "../config";
import { AppError } from "../errors";
import type { Logger } from "../observe/logger";
import { d1 } from "../store/d1";
import type { CoordinatorClient } from "../versions/coordinator";
import { startBackup } from "./export";
import { newBackupId } from "./format";
import { type Job, JobStore } from "./jobs";
import type { BackupTaskDeps } from "./messages";
import { readManifest } from "./parts";
import { restoreConflict, startRestore } from "./restore";
import { signingSource } from "./signature";
import { BackupStore } from "./store";

type Signing = Pick<Config, "backupSigningKey" | "adminApiKey">;

export interface RequestBackupDeps extends Pick<BackupTaskDeps, "db" | "queue" | "pool"> {
  coordinator: Pick<CoordinatorClient, "writeTargets" | "namespace">;
  config: Signing & Pick<Config, "backupPageDocuments">;
  logger: Logger;
}

/** Starts a backup of the namespace's active version; 409 while a backup or restore runs. */
export async function requestBackup(deps: RequestBackupDeps): Promise<Job> {
  const namespace = deps.coordinator.namespace;
  // Refused up front rather than at the manifest, the backup's last step.
  signingSource(deps.config);
  const { active } = await deps.coordinator.writeTargets();
  const job = await startBackup(deps, namespace, active, deps.config.backupPageDocuments, newBackupId());
  deps.logger.info("backup.started", { namespace, job: job.id, documents: job.totalDocuments });
  return job;
}

export interface RequestRestoreDeps extends Pick<BackupTaskDeps, "db" | "queue" | "backups" | "pool"> {
  /** The coordinator of the namespace restored into. */
  coordinator: Pick<CoordinatorClient, "writeTargets" | "namespace">;
  config: Signing & Pick<Config, "backupPageDocuments">;
  logger: Logger;
}

/**
 * Starts restoring backup `from` into the coordinator's namespace, once its manifest's signature
 * verifies and the namespace can take it (empty, same model and version layout).
 */
export async function requestRestore(
  deps: RequestRestoreDeps,
  from: { namespace: string; backupId: string },
): Promise<Job> {
  const namespace = deps.coordinator.namespace;
  const backup = await readManifest(deps.backups, deps.config, from.namespace, from.backupId);
  if (!backup) throw await missingBackup(deps.db, from);
  const { active, live } = await deps.coordinator.writeTargets();
  const conflict = await restoreConflict(
    new BackupStore(deps.pool.writes(namespace)),
    backup.manifest,
    namespace,
    active,
    live,
  );
  if (conflict !== null) throw new AppError("conflict", conflict);
  const job = await startRestore(
    deps,
    namespace,
    active,
    backup,
    deps.config.backupPageDocuments,
    newBackupId(),
  );
  deps.logger.info("restore.started", { namespace, job: job.id, from });
  return job;
}

/** Why a backup has no manifest to restore from: still running, failed, or never was. */
async function missingBackup(
  db: D1Database,
  from: { namespace: string; backupId: string },
): Promise<AppError> {
  const job = await new JobStore(db).get(from.namespace, from.backupId);
  if (job?.kind === "backup" && job.state === "running") {
    return new AppError(
      "conflict",
      `backup ${from.backupId} is still running; restore it once it is complete`,
    );
  }
  if (job?.kind === "backup" && job.state === "failed") {
    return new AppError("unprocessable", `backup ${from.backupId} failed and has no manifest: ${job.error}`);
  }
  return new AppError("not_found", `backup ${from.backupId} of namespace "${from.namespace}" does not exist`);
}

/** A backup of, or a restore into, `namespace` by id; a 404 when there is none of that kind. */
export async function findJob(
  db: D1Database,
  namespace: string,
  kind: Job["kind"],
  id: string,
): Promise<Job> {
  const job = await new JobStore(db).get(namespace, id);
  if (job?.kind !== kind) {
    throw new AppError(
      "not_found",
      kind === "backup"
        ? `backup ${id} of namespace "${namespace}" does not exist`
        : `restore ${id} into namespace "${namespace}" does not exist`,
    );
  }
  return job;
}

/**
 * The namespace's backups, newest first, with the bytes of their parts (the manifest, a few KB,
 * aside) and their age.
 */
export async function listBackups(
  db: D1Database,
  namespace: string,
  limit: number,
  now = Date.now(),
): Promise<(Job & { bytes: number; ageSeconds: number })[]> {
  const jobs = await new JobStore(db).list(namespace, "backup", limit, now);
  const { results } = await d1("read backup sizes", () =>
    db
      .prepare(
        `SELECT job_id, SUM(bytes) AS bytes FROM backup_parts
         WHERE job_id IN (SELECT value FROM json_each(?1)) GROUP BY job_id`,
      )
      .bind(JSON.stringify(jobs.map((j) => j.id)))
      .all<{ job_id: string; bytes: number }>(),
  );
  const bytes = new Map(results.map((r) => [r.job_id, r.bytes]));
  return jobs.map((job) => ({
    ...job,
    bytes: bytes.get(job.id) ?? 0,
    ageSeconds: Math.max(0, Math.floor((now - job.createdAt) / 1000)),
  }));
}

/** The namespace's backups or restores, newest first. */
export function listJobs(
  db: D1Database,
  namespace: string,
  kind: Job["kind"],
  limit: number,
): Promise<Job[]> {
  return new JobStore(db).list(namespace, kind, limit);
}
