// Backup policies in D1 (migrations/0016_backup_schedules.sql): how often a namespace is backed
// up and which of its backups are kept. The API sets and reads them; the scheduled handler finds
// the due ones and records each start or skip (schedule.ts).
import { z } from "zod";
import { d1 } from "../store/d1";

export const HOUR_MS = 3600_000;
export const DAY_MS = 24 * HOUR_MS;

/** Bounds of a policy: at least hourly is what the 5-minute cron can keep; the rest are sanity caps. */
export const MAX_INTERVAL_HOURS = 24 * 366;
export const MAX_KEEP_COUNT = 1000;
export const MAX_KEEP_DAYS = 3660;

export const BackupPolicySchema = z.strictObject({
  intervalHours: z.number().int().min(1).max(MAX_INTERVAL_HOURS),
  keep: z.strictObject({
    count: z.number().int().min(1).max(MAX_KEEP_COUNT),
    maxAgeDays: z.number().int().min(1).max(MAX_KEEP_DAYS),
  }),
});
export type BackupPolicy = z.infer<typeof BackupPolicySchema>;

export interface StoredPolicy extends BackupPolicy {
  namespace: string;
  nextDueAt: number;
  lastStartedAt: number | null;
  lastBackupId: string | null;
  lastSkipReason: string | null;
  reportedFailureId: string | null;
  createdAt: number;
  updatedAt: number;
}

const Row = z.object({
  namespace: z.string(),
  interval_hours: z.number(),
  keep_count: z.number(),
  keep_max_age_days: z.number(),
  next_due_at: z.number(),
  last_started_at: z.number().nullable(),
  last_backup_id: z.string().nullable(),
  last_skip_reason: z.string().nullable(),
  reported_failure_id: z.string().nullable(),
  created_at: z.number(),
  updated_at: z.number(),
});

function toPolicy(raw: unknown): StoredPolicy {
  const r = Row.parse(raw);
  return {
    namespace: r.namespace,
    intervalHours: r.interval_hours,
    keep: { count: r.keep_count, maxAgeDays: r.keep_max_age_days },
    nextDueAt: r.next_due_at,
    lastStartedAt: r.last_started_at,
    lastBackupId: r.last_backup_id,
    lastSkipReason: r.last_skip_reason,
    reportedFailureId: r.reported_failure_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class PolicyStore {
  constructor(private readonly db: D1Database) {}

  async get(namespace: string): Promise<StoredPolicy | null> {
    const row = await d1("read backup policy", () =>
      this.db
        .prepare("SELECT * FROM backup_policies WHERE namespace = ?1 AND stopped_at IS NULL")
        .bind(namespace)
        .first(),
    );
    return row === null ? null : toPolicy(row);
  }

  /**
   * Sets the namespace's policy. A new one is due at once; a changed one is due an interval after
   * its last scheduled start, so shortening the interval can make it due now.
   */
  async put(namespace: string, policy: BackupPolicy, now = Date.now()): Promise<StoredPolicy> {
    const row = await d1("write backup policy", () =>
      this.db
        .prepare(
          `INSERT INTO backup_policies (namespace, interval_hours, keep_count, keep_max_age_days, next_due_at,
             created_at, updated_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5)
           ON CONFLICT (namespace) DO UPDATE SET interval_hours = excluded.interval_hours,
             keep_count = excluded.keep_count, keep_max_age_days = excluded.keep_max_age_days,
             next_due_at = COALESCE(last_started_at + excluded.interval_hours * ?6, excluded.next_due_at),
             stopped_at = NULL, updated_at = excluded.updated_at
           RETURNING *`,
        )
        .bind(namespace, policy.intervalHours, policy.keep.count, policy.keep.maxAgeDays, now, HOUR_MS)
        .first(),
    );
    return toPolicy(row);
  }

  /** Removes the policy; false when there was none. Existing backups are kept. */
  async delete(namespace: string): Promise<boolean> {
    const result = await d1("delete backup policy", () =>
      this.db.prepare("DELETE FROM backup_policies WHERE namespace = ?1").bind(namespace).run(),
    );
    return result.meta.changes > 0;
  }

  /**
   * Stops the schedule of a namespace being deleted; false when it had none running. The policy
   * stays for retention (toPrune), so its backups are pruned by its keep rules as before.
   */
  async stop(namespace: string, now = Date.now()): Promise<boolean> {
    const result = await d1("stop backup policy", () =>
      this.db
        .prepare(
          "UPDATE backup_policies SET stopped_at = ?2, updated_at = ?2 WHERE namespace = ?1 AND stopped_at IS NULL",
        )
        .bind(namespace, now)
        .run(),
    );
    return result.meta.changes > 0;
  }

  /** Policies whose backup is due, longest overdue first. */
  async due(now: number, limit: number): Promise<StoredPolicy[]> {
    const { results } = await d1("read due backup policies", () =>
      this.db
        .prepare(
          "SELECT * FROM backup_policies WHERE next_due_at <= ?1 AND stopped_at IS NULL ORDER BY next_due_at LIMIT ?2",
        )
        .bind(now, limit)
        .all(),
    );
    return results.map(toPolicy);
  }

  /** Policies for a retention pass, least recently pruned first. */
  async toPrune(limit: number): Promise<StoredPolicy[]> {
    const { results } = await d1("read backup policies to prune", () =>
      this.db
        .prepare("SELECT * FROM backup_policies ORDER BY COALESCE(pruned_at, 0), namespace LIMIT ?1")
        .bind(limit)
        .all(),
    );
    return results.map(toPolicy);
  }

  async started(namespace: string, backupId: string, intervalHours: number, now: number): Promise<void> {
    await d1("record scheduled backup", () =>
      this.db
        .prepare(
          `UPDATE backup_policies SET last_started_at = ?2, last_backup_id = ?3, last_skip_reason = NULL,
             next_due_at = ?2 + ?4, updated_at = ?2
           WHERE namespace = ?1`,
        )
        .bind(namespace, now, backupId, intervalHours * HOUR_MS)
        .run(),
    );
  }

  /** Records why a due backup did not start; it stays due until `retryAt`. */
  async skipped(namespace: string, reason: string, retryAt: number, now: number): Promise<void> {
    await d1("record skipped backup", () =>
      this.db
        .prepare(
          `UPDATE backup_policies SET last_skip_reason = ?2, next_due_at = MAX(next_due_at, ?3), updated_at = ?4
           WHERE namespace = ?1`,
        )
        .bind(namespace, reason.slice(0, 500), retryAt, now)
        .run(),
    );
  }

  async pruned(namespaces: readonly string[], now: number): Promise<void> {
    if (namespaces.length === 0) return;
    await d1("record backup retention pass", () =>
      this.db
        .prepare(
          "UPDATE backup_policies SET pruned_at = ?2 WHERE namespace IN (SELECT value FROM json_each(?1))",
        )
        .bind(JSON.stringify(namespaces), now)
        .run(),
    );
  }

  /**
   * Scheduled backups that failed and have not been reported: each is answered once (its id is
   * recorded as reported in the same call).
   */
  async unreportedFailures(limit: number): Promise<{ namespace: string; backupId: string; error: string }[]> {
    const { results } = await d1("read failed scheduled backups", () =>
      this.db
        .prepare(
          `UPDATE backup_policies SET reported_failure_id = last_backup_id
           WHERE namespace IN (
             SELECT p.namespace FROM backup_policies p JOIN backup_jobs j ON j.id = p.last_backup_id
             WHERE j.state = 'failed' AND p.reported_failure_id IS NOT p.last_backup_id LIMIT ?1)
           RETURNING namespace, last_backup_id AS backup_id,
             (SELECT error FROM backup_jobs WHERE id = last_backup_id) AS error`,
        )
        .bind(limit)
        .all<{ namespace: string; backup_id: string; error: string | null }>(),
    );
    return results.map((r) => ({
      namespace: r.namespace,
      backupId: r.backup_id,
      error: r.error ?? "failed",
    }));
  }
}
