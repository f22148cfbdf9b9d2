// Scheduled backups, run by the scheduled handler every 5 minutes: starts the backups that
// policies say are due (through the same requestBackup as POST /backups, so the same job and the
// same 409 while a backup or restore runs), reports scheduled backups that failed since the last
// run (error level, once each), and prunes backups beyond each policy's retention. Each part is
// bounded per run; what is left waits for the next run.
import type { Config } from "../config";
import { AppError, errorMessage } from "../errors";
import type { Logger } from "../observe/logger";
import type { CoordinatorClient } from "../versions/coordinator";
import { JobStore } from "./jobs";
import type { BackupTaskDeps } from "./messages";
import { HOUR_MS, PolicyStore } from "./policy";
import { requestBackup } from "./requests";
import { backupsToPrune, type PruneBudget, pruneBackup } from "./retention";

/**
 * Backups started per run: each start reads the namespace's coordinator and counts its rows
 * (a few subrequests), well inside a cron invocation's budget next to the health check.
 */
export const MAX_SCHEDULED_STARTS_PER_RUN = 10;
/** Namespaces whose backups a run checks against their policy. */
export const MAX_PRUNE_NAMESPACES_PER_RUN = 10;
/** R2 list-and-delete rounds per run, across namespaces (see R2_PAGE_KEYS). */
export const MAX_PRUNE_PAGES_PER_RUN = 20;
/** Backups listed per namespace in a retention pass. */
const MAX_LISTED = 1000;
/** A start that failed (not a 409) is tried again after this long rather than every run. */
export const FAILED_START_RETRY_MS = HOUR_MS;

export interface ScheduleDeps extends Pick<BackupTaskDeps, "db" | "pool" | "queue" | "backups"> {
  coordinator(namespace: string): Pick<CoordinatorClient, "writeTargets" | "namespace">;
  config: Pick<Config, "backupSigningKey" | "adminApiKey" | "backupPageDocuments">;
  logger: Logger;
}

/** Per namespace: scheduled backups started, skipped (a job was running), failed, and pruned. */
export interface ScheduleCounts {
  started: number;
  skipped: number;
  failed: number;
  pruned: number;
}

export interface ScheduleResult {
  byNamespace: Map<string, ScheduleCounts>;
  started: number;
  skipped: number;
  failed: number;
  pruned: number;
}

export async function runScheduledBackups(deps: ScheduleDeps, now = Date.now()): Promise<ScheduleResult> {
  const policies = new PolicyStore(deps.db);
  const result: ScheduleResult = { byNamespace: new Map(), started: 0, skipped: 0, failed: 0, pruned: 0 };
  const count = (namespace: string, field: keyof ScheduleCounts, n = 1) => {
    const counts = result.byNamespace.get(namespace) ?? { started: 0, skipped: 0, failed: 0, pruned: 0 };
    counts[field] += n;
    result.byNamespace.set(namespace, counts);
    result[field] += n;
  };

  // Failures of backups started by earlier runs (their steps fail on the queue, later).
  for (const failure of await policies.unreportedFailures(MAX_SCHEDULED_STARTS_PER_RUN)) {
    count(failure.namespace, "failed");
    deps.logger.error("backup.schedule_failed", {
      namespace: failure.namespace,
      job: failure.backupId,
      error: failure.error,
    });
  }

  for (const policy of await policies.due(now, MAX_SCHEDULED_STARTS_PER_RUN)) {
    const namespace = policy.namespace;
    try {
      const job = await requestBackup({ ...deps, coordinator: deps.coordinator(namespace) });
      await policies.started(namespace, job.id, policy.intervalHours, now);
      count(namespace, "started");
      deps.logger.info("backup.schedule_started", { namespace, job: job.id });
    } catch (err) {
      const reason = errorMessage(err);
      if (err instanceof AppError && err.code === "conflict") {
        // A backup or restore of the namespace runs: tried again next run.
        await policies.skipped(namespace, reason, now, now);
        count(namespace, "skipped");
        deps.logger.info("backup.schedule_skipped", { namespace, reason });
      } else {
        await policies.skipped(namespace, reason, now + FAILED_START_RETRY_MS, now);
        count(namespace, "failed");
        deps.logger.error("backup.schedule_failed", { namespace, error: `could not start: ${reason}` });
      }
    }
  }

  const budget: PruneBudget = { pages: MAX_PRUNE_PAGES_PER_RUN };
  const passed: string[] = [];
  const jobs = new JobStore(deps.db);
  for (const policy of await policies.toPrune(MAX_PRUNE_NAMESPACES_PER_RUN)) {
    if (budget.pages <= 0) break;
    const namespace = policy.namespace;
    try {
      const backups = await jobs.list(namespace, "backup", MAX_LISTED, now);
      let done = true;
      for (const id of backupsToPrune(backups, policy.keep, now)) {
        if (!(await pruneBackup(deps, namespace, id, budget))) {
          done = false;
          continue;
        }
        count(namespace, "pruned");
        deps.logger.info("backup.pruned", { namespace, job: id });
      }
      if (done) passed.push(namespace);
    } catch (err) {
      deps.logger.warn("backup.prune_failed", { namespace, error: errorMessage(err) });
    }
  }
  await policies.pruned(passed, now);
  return result;
}
