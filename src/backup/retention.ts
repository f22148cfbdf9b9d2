// Retention of a namespace's backups under its policy: which backups go (pure), and removing one
// (its objects under "_backups/<ns>/<id>/" in pages, then its part and job rows). The newest
// complete backup always stays, whatever the policy says, so a namespace with a policy always has
// one to restore.

import { d1 } from "../store/d1";
import { r2 } from "../store/r2";
import { backupPrefix } from "./format";
import { DAY_MS } from "./policy";

export interface BackupSummary {
  id: string;
  state: "running" | "complete" | "failed";
  createdAt: number;
}

/**
 * The backups that `keep` lets go: complete ones past the newest `count` or older than
 * `maxAgeDays`, failed ones older than `maxAgeDays`; never a running one nor the newest complete.
 */
export function backupsToPrune(
  backups: readonly BackupSummary[],
  keep: { count: number; maxAgeDays: number },
  now: number,
): string[] {
  const maxAge = keep.maxAgeDays * DAY_MS;
  const complete = backups
    .filter((b) => b.state === "complete")
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  const prune = complete.filter((b, rank) => rank > 0 && (rank >= keep.count || now - b.createdAt > maxAge));
  const failed = backups.filter((b) => b.state === "failed" && now - b.createdAt > maxAge);
  return [...prune, ...failed].map((b) => b.id);
}

/**
 * R2 list returns at most 1,000 keys per call and delete takes at most 1,000 keys
 * (https://developers.cloudflare.com/r2/api/workers/workers-api-reference/, R2ListOptions `limit`;
 * workers-sdk packages/miniflare/src/workers/r2/s3/common.worker.ts: MAX_LIST_KEYS = 1000,
 * MAX_DELETE_KEYS = 1000; a larger list limit is refused with "MaxKeys params must be positive
 * integer <= 1000.").
 */
export const R2_PAGE_KEYS = 1000;

export interface PruneBudget {
  /** List-and-delete rounds left in this run (two subrequests each). */
  pages: number;
}

/**
 * Deletes one backup's objects a page at a time, then its rows. Answers false when the budget ran
 * out first: the rows stay, and the next run finishes the objects. A backup that a running
 * restore reads is left alone.
 */
export async function pruneBackup(
  deps: { db: D1Database; backups: R2Bucket },
  namespace: string,
  backupId: string,
  budget: PruneBudget,
): Promise<boolean> {
  const reading = await d1("check backup in use", () =>
    deps.db
      .prepare(
        `SELECT 1 FROM backup_jobs WHERE kind = 'restore' AND state = 'running'
           AND source_namespace = ?1 AND backup_id = ?2`,
      )
      .bind(namespace, backupId)
      .first(),
  );
  if (reading !== null) return false;
  const prefix = backupPrefix(namespace, backupId);
  for (;;) {
    if (budget.pages <= 0) return false;
    budget.pages -= 1;
    // Deleted keys leave the listing, so each round lists from the start.
    const page = await r2("list", () => deps.backups.list({ prefix, limit: R2_PAGE_KEYS }));
    const keys = page.objects.map((o) => o.key);
    if (keys.length > 0) await r2("delete", () => deps.backups.delete(keys));
    if (!page.truncated) break;
  }
  await d1("delete backup rows", () =>
    deps.db.batch([
      deps.db.prepare("DELETE FROM backup_parts WHERE job_id = ?1").bind(backupId),
      deps.db
        .prepare(
          "DELETE FROM backup_jobs WHERE id = ?1 AND namespace = ?2 AND kind = 'backup' AND state != 'running'",
        )
        .bind(backupId, namespace),
    ]),
  );
  return true;
}
