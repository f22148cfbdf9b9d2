// Erasure by metadata filter. Starting one marks every live matching document expired at the
// start time, in one statement: from then on searches leave them out as they leave out any
// expired document (hydration and the keyword query check expires_at), and that statement is the
// snapshot: a document written afterwards carries its own expiry and is not erased. The job then
// deletes the snapshot a page per queue message through the path a DELETE takes (R2 object, D1
// and keyword rows, vectors of every live version by the consumer, the namespace's generation
// published). Should the job fail, the marked documents are still expired: the scheduled purge
// deletes them.
import { AppError, errorMessage, isRetryable } from "../errors";
import { PURGE_LIMITS } from "../ingest/expiry";
import { backoffSeconds, type Decision } from "../ingest/pipeline";
import { type DeleteDeps, deleteExpired, publishGeneration } from "../ingest/requests";
import { movedOn, nextStepMayBeLost } from "../jobs/steps";
import { type D1Like, d1 } from "../store/d1";
import { D1_LIMITS } from "../store/d1-limits";
import { metadataFilterSql } from "../store/keyword";
import type { MetadataFilter } from "../vectors/vector-index";
import { type ErasureJob, ErasureJobStore, ErasureTaskSchema } from "./jobs";

/**
 * Documents deleted per step: the expiry purge's page, whose cost in one invocation is measured
 * (about 5 subrequests and 11 D1 queries, test/integration/expiry-budget.test.ts); a step adds
 * 4 D1 queries (the job, the page, the count, the advance) and the next step's send.
 */
export const ERASURE_PAGE = PURGE_LIMITS.documents;
const STEP_ATTEMPTS = 5;

export interface ErasureDeps extends DeleteDeps {
  /** The control database (the jobs). */
  db: D1Like;
  pool: { writes(namespace: string): D1Like };
}

/** The filter as a condition on `documents` (parameters from ?3), every document without one. */
function matching(filter: MetadataFilter | null): { sql: string; params: (string | number)[] } {
  return filter === null ? { sql: "1", params: [] } : metadataFilterSql(filter, "metadata", 3);
}

/**
 * Refuses a filter whose condition binds more parameters than one D1 statement takes: "Maximum
 * bound parameters per query 100" (https://developers.cloudflare.com/d1/platform/limits/; local
 * D1 answers "D1_ERROR: variable number must be between ?1 and ?100"). Search never meets it (it
 * filters on the few filterable fields); an erasure takes any field, up to 3 parameters each.
 */
export function checkErasureFilter(filter: MetadataFilter): void {
  const bound = 2 + matching(filter).params.length;
  if (bound > D1_LIMITS.maxBoundParameters) {
    throw new AppError(
      "invalid_filter",
      `the filter needs ${bound} bound parameters in D1, which takes ${D1_LIMITS.maxBoundParameters} per statement; use fewer fields or erase in several requests`,
      { field: "body.filter", retryable: false },
    );
  }
}

/**
 * Marks the namespace's live documents matching `filter` expired at `now`, and counts the
 * snapshot (those, and matching ones that had expired already but were not purged yet). One
 * batch: D1 runs it as one transaction, so the count is of exactly what was marked. It reads
 * every row of the namespace: measured on local D1, 0.3 s to test a filter against 100,000
 * documents (the default documents quota) and 0.6 s to mark all of them, far inside D1's 30 s
 * "Maximum SQL query duration" (https://developers.cloudflare.com/d1/platform/limits/).
 */
export async function markForErasure(
  db: D1Like,
  namespace: string,
  filter: MetadataFilter | null,
  now: number,
): Promise<number> {
  const where = matching(filter);
  const [, , counted] = await d1("mark documents for erasure", () =>
    db.batch([
      db
        .prepare(
          `UPDATE documents SET expires_at = ?2
           WHERE namespace = ?1 AND status != 'deleted' AND (expires_at IS NULL OR expires_at > ?2) AND ${where.sql}`,
        )
        .bind(namespace, now, ...where.params),
      // The new generation retires cached answers that hold a marked document.
      db
        .prepare("UPDATE namespaces SET generation = generation + 1, updated_at = ?2 WHERE name = ?1")
        .bind(namespace, now),
      db
        .prepare(
          `SELECT COUNT(*) AS n FROM documents WHERE ${SNAPSHOT} AND status != 'deleted' AND ${where.sql}`,
        )
        .bind(namespace, now, ...where.params),
    ]),
  );
  return (counted?.results?.[0] as { n: number } | undefined)?.n ?? 0;
}

/** The snapshot of an erasure started at ?2: what expired by then (a later write moved its expiry). */
const SNAPSHOT = "namespace = ?1 AND expires_at IS NOT NULL AND expires_at <= ?2";

async function nextPage(db: D1Like, job: ErasureJob, limit: number): Promise<string[]> {
  const where = matching(job.filter);
  const { results } = await d1("list documents to erase", () =>
    db
      .prepare(
        `SELECT id FROM documents WHERE ${SNAPSHOT} AND status != 'deleted' AND ${where.sql}
         ORDER BY id LIMIT ${limit}`,
      )
      .bind(job.namespace, job.startedAt, ...where.params)
      .all<{ id: string }>(),
  );
  return results.map((r) => r.id);
}

/** How many of the snapshot are deleted: counted, so a step run twice does not count twice. */
async function countErased(db: D1Like, job: ErasureJob): Promise<number> {
  const where = matching(job.filter);
  const row = await d1("count erased documents", () =>
    db
      .prepare(
        `SELECT COUNT(*) AS n FROM documents WHERE ${SNAPSHOT} AND status = 'deleted'
           AND updated_at >= ?2 AND ${where.sql}`,
      )
      .bind(job.namespace, job.startedAt, ...where.params)
      .first<{ n: number }>(),
  );
  return Math.min(job.matched, row?.n ?? 0);
}

export async function sendErasureStep(queue: Queue, job: string, step: number): Promise<void> {
  await queue.send({ kind: "erasure.step", job, step }, { contentType: "json" });
}

export async function processErasureTask(
  deps: ErasureDeps,
  body: unknown,
  attempts: number,
): Promise<Decision> {
  const parsed = ErasureTaskSchema.safeParse(body);
  if (!parsed.success)
    return { type: "dead-letter", reason: `invalid erasure task: ${parsed.error.issues[0]?.message}` };
  const jobs = new ErasureJobStore(deps.db);
  const job = await jobs.byId(parsed.data.job);
  if (job && nextStepMayBeLost(job, parsed.data.step, attempts)) {
    await sendErasureStep(deps.queue, job.id, job.step);
    return { type: "ack", outcome: "skipped", reason: `erasure step ${parsed.data.step} was applied` };
  }
  if (job?.state !== "running" || job.step !== parsed.data.step) {
    return { type: "ack", outcome: "skipped", reason: `erasure step ${parsed.data.step} is not due` };
  }
  try {
    const db = deps.pool.writes(job.namespace);
    const ids = await nextPage(db, job, ERASURE_PAGE);
    // Those of the page a write since the start moved the expiry of are left alone.
    if (ids.length > 0) await deleteExpired(deps, job.namespace, ids, job.startedAt);
    const done = ids.length < ERASURE_PAGE;
    const deleted = await countErased(db, job);
    if (await jobs.advance(job, job.step, deleted, done)) {
      if (!done) await sendErasureStep(deps.queue, job.id, job.step + 1);
      deps.logger.info("erasure.step", {
        namespace: job.namespace,
        job: job.id,
        step: job.step,
        deleted,
        done,
      });
    }
    return { type: "ack", outcome: "deleted", namespace: job.namespace };
  } catch (err) {
    const error = errorMessage(err);
    if (isRetryable(err) && attempts < STEP_ATTEMPTS) {
      return { type: "retry", delaySeconds: backoffSeconds(attempts), error };
    }
    const moot = movedOn(await jobs.byId(job.id), job.step, "erasure");
    if (moot) return moot;
    await jobs.fail(job.id, error);
    deps.logger.error("erasure.failed", { namespace: job.namespace, job: job.id, error });
    return { type: "ack", outcome: "failed", reason: error };
  }
}

/** Starts an erasure: marks the snapshot, records the job, queues its first step. */
export async function startErasure(
  deps: ErasureDeps & { queue: Queue },
  request: { namespace: string; filter: MetadataFilter | null; createdBy: string },
  now = Date.now(),
): Promise<ErasureJob> {
  const matched = await markForErasure(
    deps.pool.writes(request.namespace),
    request.namespace,
    request.filter,
    now,
  );
  await publishGeneration(deps, request.namespace);
  const jobs = new ErasureJobStore(deps.db);
  const job = await jobs.create({ id: crypto.randomUUID(), ...request, matched, startedAt: now });
  try {
    await sendErasureStep(deps.queue, job.id, 0);
  } catch (err) {
    // The marked documents are out of search results and the expiry purge deletes them.
    await jobs.fail(job.id, "its first step could not be queued; the expiry purge deletes the documents");
    throw new AppError(
      "unavailable",
      "the erasure could not be queued; its documents are expired and will be purged",
      {
        cause: err,
      },
    );
  }
  return job;
}
