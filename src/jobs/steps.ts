// The step mechanism erasures, backups, restores and moves share. A job lives in a D1 row whose
// `step` says which step is due; each step travels as one queue message naming the job and the
// step; a delivery applies its step only while the row is at it (a compare-and-set on `step`), then
// sends the next step. So a duplicate message applies nothing twice, and a lost one is repaired by
// sending the job's step again:
// - at once, when a retried delivery finds its step applied (its next step's send may be what
//   failed): nextStepMayBeLost;
// - by the scheduled handler otherwise (the send failed on every attempt, the message went to the
//   dead letters, or was dropped): resendStalledSteps re-sends the step of a running job that
//   showed no progress for STEP_STALL_MS, at most `limit` jobs per run, and fails a job whose step
//   it re-sent MAX_STEP_RESENDS times, with the reason on the job and an error-level log line.
import { errorMessage } from "../errors";
import type { Logger } from "../observe/logger";
import { d1 } from "../store/d1";

/**
 * How long a running job may show no progress before its step is taken as lost: longer than the
 * ingest queue's normal delivery and retries of one step. Per wrangler.toml's consumer
 * (max_retries = 5, max_batch_timeout = 1 s) a step is delivered at most 6 times, each delivery
 * within the 15-minute wall-clock limit of a consumer invocation ("Consumer duration (wall clock
 * time) | 15 minutes", https://developers.cloudflare.com/queues/platform/limits/), the retries
 * delayed by backoffSeconds (2, 4, 8, 16, 32 s at most: about a minute in all). Steps are bounded
 * far below 15 minutes each, so a step that succeeds at all does so within about 16 minutes; the
 * longest a healthy job waits without a new step is the restore's wait for the index (15 minutes,
 * src/backup/restore.ts), and a move's settle and drain, which the move records as `wait_until`.
 * Queues deliver at least once ("messages are guaranteed to be delivered at least once, and in rare
 * occasions, may be delivered more than once",
 * https://developers.cloudflare.com/queues/reference/delivery-guarantees/): a re-sent step that
 * meets the original is a duplicate, which the compare-and-set makes harmless.
 */
export const STEP_STALL_MS = 20 * 60_000;
/** Re-sends of one step before the job is failed. */
export const MAX_STEP_RESENDS = 3;
/**
 * Jobs re-sent (or failed) per run, by plan: each costs up to 3 D1 queries and a queue send, next
 * to the health check's own in one invocation (Free: 50 queries, 50 subrequests).
 */
export const STEP_RESENDS_PER_RUN = { free: 2, paid: 10 } as const;

/**
 * Whether a delivery of step `step` finds the job just past it on a retry: the step applied, and
 * the next step's send may be what failed, so the delivery sends it again. A duplicate is harmless.
 */
export function nextStepMayBeLost(
  job: { state: string; step: number } | null,
  step: number,
  attempts: number,
): boolean {
  return job?.state === "running" && job.step === step + 1 && attempts > 1;
}

/**
 * What a delivery whose step failed answers when another delivery of the step (a duplicate)
 * applied it meanwhile, or the job ended: its failure is moot and must not fail the job. Null: the
 * job is still at the step.
 */
export function movedOn(
  now: { state: string; step: number } | null,
  step: number,
  kind: string,
): { type: "ack"; outcome: "skipped"; reason: string } | null {
  if (now?.state === "running" && now.step === step) return null;
  return { type: "ack", outcome: "skipped", reason: `${kind} step ${step} was applied by another delivery` };
}

/** One table of step jobs: what the sweep needs to find a stalled job, re-send it, and fail it. */
export interface StepJobKind {
  table: "erasure_jobs" | "backup_jobs" | "move_jobs";
  /** SQL: the job's kind as logs and findings name it ("erasure", "move", or a column). */
  kind: string;
  /**
   * SQL: the last time the job gave a sign of life (a step applied, a re-send, a wait it set
   * itself): it stalls STEP_STALL_MS after.
   */
  seen: string;
  /** Sends the message that makes the job go on from `step`. */
  resend(id: string, step: number): Promise<void>;
  /** Fails the job with `reason`, as its own failures do. */
  fail(id: string, reason: string): Promise<void>;
}

export interface StalledStep {
  kind: string;
  id: string;
  namespace: string;
  step: number;
}

export interface ResendResult {
  resent: StalledStep[];
  failed: StalledStep[];
}

const toStalled = (r: Record<string, unknown>) => ({
  kind: String(r.kind),
  id: String(r.id),
  namespace: String(r.namespace),
  step: Number(r.step),
  resends: Number(r.resends),
  resentStep: Number(r.resent_step),
  table: String(r.tbl),
});

/** Re-sends the steps of stalled jobs, or fails those re-sent too often (see the header). */
export async function resendStalledSteps(
  deps: { db: D1Database; logger: Logger },
  kinds: readonly StepJobKind[],
  limit: number,
  now = Date.now(),
): Promise<ResendResult> {
  const result: ResendResult = { resent: [], failed: [] };
  if (kinds.length === 0 || limit <= 0) return result;
  const before = now - STEP_STALL_MS;
  const select = kinds
    .map(
      (k) =>
        `SELECT '${k.table}' AS tbl, ${k.kind} AS kind, id, namespace, step, resends, resent_step, ${k.seen} AS seen
         FROM ${k.table} WHERE state = 'running' AND ${k.seen} < ?1`,
    )
    .join(" UNION ALL ");
  const { results } = await d1("read stalled jobs", () =>
    deps.db.prepare(`${select} ORDER BY seen LIMIT ?2`).bind(before, limit).all<Record<string, unknown>>(),
  );
  for (const row of results.map(toStalled)) {
    const kind = kinds.find((k) => k.table === row.table);
    if (!kind) continue;
    const job = { kind: row.kind, id: row.id, namespace: row.namespace, step: row.step };
    const fields = { kind: row.kind, job: row.id, namespace: row.namespace, step: row.step };
    try {
      if (row.resentStep === row.step && row.resends >= MAX_STEP_RESENDS) {
        const minutes = Math.round(((MAX_STEP_RESENDS + 1) * STEP_STALL_MS) / 60_000);
        const reason = `step ${row.step} made no progress in about ${minutes} minutes although it was sent again ${row.resends} times; the job was failed (see the dead letters and the ${row.kind}.step log lines)`;
        await kind.fail(row.id, reason);
        deps.logger.error(`${row.kind}.failed`, { ...fields, error: reason });
        result.failed.push(job);
        continue;
      }
      // Claimed first: of two overlapping runs only one re-sends, and a failed send counts too.
      const claim = await d1("claim stalled job", () =>
        deps.db
          .prepare(
            `UPDATE ${kind.table} SET resends = CASE WHEN resent_step = ?2 THEN resends + 1 ELSE 1 END,
               resent_step = ?2, resent_at = ?3
             WHERE id = ?1 AND step = ?2 AND state = 'running' AND ${kind.seen} < ?4`,
          )
          .bind(row.id, row.step, now, before)
          .run(),
      );
      if ((claim.meta.changes ?? 0) !== 1) continue;
      await kind.resend(row.id, row.step);
      deps.logger.warn("step.resent", {
        ...fields,
        resends: row.resentStep === row.step ? row.resends + 1 : 1,
      });
      result.resent.push(job);
    } catch (err) {
      // The next run tries again (the claim keeps it from doing so before another stall period).
      deps.logger.warn("step.resend_failed", { ...fields, error: errorMessage(err) });
    }
  }
  return result;
}
