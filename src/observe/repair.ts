// Self-repair by the scheduled index health check: a document stuck in `queued` (its message lost,
// or dropped after the row was written) is sent to the ingest queue again, as the put notification
// of its current version. The consumer is idempotent on (key, eTag): a document that has since
// been indexed, failed or rewritten makes the message a no-op. A version re-enqueued
// MAX_REPAIRS_PER_DOCUMENT times and still queued is marked failed with the reason.
import { putMessage } from "../ingest/messages";
import { QUEUE_MAX_BATCH_MESSAGES, sendPaged } from "../util/queue-limits";
import { documentKey } from "../validation";
import type { Logger } from "./logger";

/**
 * Documents re-enqueued per run, across the pool: one sendBatch call, which takes at most 100
 * messages or 256 KB (https://developers.cloudflare.com/queues/platform/limits/, "Maximum
 * messages per `sendBatch` call"); sendPaged pages by bytes as well. Older stuck documents wait
 * for the next run (every 5 minutes).
 */
export const MAX_REPAIRS_PER_RUN = QUEUE_MAX_BATCH_MESSAGES;
/** Re-enqueues of one version before the document is marked failed. */
export const MAX_REPAIRS_PER_DOCUMENT = 3;

export interface RepairDeps {
  /** Every database of the pool (documents live in one of them per namespace). */
  databases: readonly D1Database[];
  queue: Queue;
  bucketName: string;
  logger: Logger;
}

export interface RepairOptions {
  now?: number;
  /** A document queued (and not re-enqueued) longer than this is stuck. */
  stuckAfterMs: number;
  maxPerRun?: number;
  maxPerDocument?: number;
}

/** Per namespace: documents re-enqueued, and documents given up on (marked failed). */
export interface RepairCounts {
  requeued: number;
  abandoned: number;
}

export interface RepairResult {
  byNamespace: Map<string, RepairCounts>;
  requeued: number;
  abandoned: number;
}

interface StuckRow {
  namespace: string;
  id: string;
  etag: string | null;
  bytes: number;
  /** Re-enqueues of the current version so far. */
  repairs: number;
}

export function abandonReason(repairs: number): string {
  return `not indexed after ${repairs} re-enqueues by the index health check: the document stayed queued; write it again to retry`;
}

/** Re-enqueues stuck documents, or marks failed those re-enqueued too often; bounded per run. */
export async function repairStuckDocuments(deps: RepairDeps, options: RepairOptions): Promise<RepairResult> {
  const now = options.now ?? Date.now();
  const cutoff = now - options.stuckAfterMs;
  const maxPerDocument = options.maxPerDocument ?? MAX_REPAIRS_PER_DOCUMENT;
  let budget = options.maxPerRun ?? MAX_REPAIRS_PER_RUN;
  const result: RepairResult = { byNamespace: new Map(), requeued: 0, abandoned: 0 };
  const count = (namespace: string, field: keyof RepairCounts) => {
    const counts = result.byNamespace.get(namespace) ?? { requeued: 0, abandoned: 0 };
    counts[field] += 1;
    result.byNamespace.set(namespace, counts);
    result[field] += 1;
  };
  for (const db of deps.databases) {
    if (budget <= 0) break;
    const rows = await readStuck(db, cutoff, budget);
    budget -= rows.length;
    const abandon = rows.filter((r) => r.repairs >= maxPerDocument);
    const requeue = rows.filter((r) => r.repairs < maxPerDocument);
    if (requeue.length > 0) {
      // Sent before the rows are updated: a failed update only means one more (no-op) message.
      await sendPaged(
        deps.queue,
        requeue.map((r) => ({ body: repairMessage(deps.bucketName, r, now), contentType: "json" as const })),
      );
      await markRequeued(db, requeue, now);
      for (const r of requeue) {
        count(r.namespace, "requeued");
        deps.logger.info("repair.requeued", { namespace: r.namespace, docId: r.id, repairs: r.repairs + 1 });
      }
    }
    if (abandon.length > 0) {
      await markAbandoned(db, abandon, abandonReason(maxPerDocument), now);
      for (const r of abandon) {
        count(r.namespace, "abandoned");
        deps.logger.error("repair.abandoned", {
          namespace: r.namespace,
          docId: r.id,
          repairs: r.repairs,
          error: abandonReason(maxPerDocument),
        });
      }
    }
  }
  return result;
}

async function readStuck(db: D1Database, cutoff: number, limit: number): Promise<StuckRow[]> {
  // A version other than the one last re-enqueued starts counting again.
  const { results } = await db
    .prepare(
      `SELECT namespace, id, etag, bytes,
         CASE WHEN repair_etag IS etag THEN repairs ELSE 0 END AS repairs
       FROM documents
       WHERE status = 'queued' AND updated_at < ?1 AND (repaired_at IS NULL OR repaired_at < ?1)
       ORDER BY updated_at LIMIT ?2`,
    )
    .bind(cutoff, limit)
    .all<StuckRow>();
  return results;
}

/** The put notification of the document's current version; without an eTag, of whatever is stored. */
function repairMessage(bucket: string, row: StuckRow, now: number) {
  const key = documentKey(row.namespace, row.id);
  const message = putMessage(bucket, key, row.bytes, row.etag ?? "", new Date(now));
  return row.etag === null ? { ...message, object: { key, size: row.bytes } } : message;
}

/** The rows as one JSON parameter: one statement per database, whatever the number of rows. */
const rowsParam = (rows: readonly StuckRow[]) => JSON.stringify(rows.map((r) => [r.namespace, r.id, r.etag]));

async function markRequeued(db: D1Database, rows: readonly StuckRow[], now: number): Promise<void> {
  await db
    .prepare(
      `UPDATE documents SET
         repairs = CASE WHEN repair_etag IS etag THEN repairs + 1 ELSE 1 END,
         repair_etag = etag, repaired_at = ?2
       FROM (SELECT json_extract(value, '$[0]') AS ns, json_extract(value, '$[1]') AS doc,
               json_extract(value, '$[2]') AS tag FROM json_each(?1)) AS r
       WHERE documents.namespace = r.ns AND documents.id = r.doc AND documents.etag IS r.tag
         AND documents.status = 'queued'`,
    )
    .bind(rowsParam(rows), now)
    .run();
}

async function markAbandoned(
  db: D1Database,
  rows: readonly StuckRow[],
  reason: string,
  now: number,
): Promise<void> {
  await db
    .prepare(
      `UPDATE documents SET status = 'failed', error = ?3, updated_at = ?2
       FROM (SELECT json_extract(value, '$[0]') AS ns, json_extract(value, '$[1]') AS doc,
               json_extract(value, '$[2]') AS tag FROM json_each(?1)) AS r
       WHERE documents.namespace = r.ns AND documents.id = r.doc AND documents.etag IS r.tag
         AND documents.status = 'queued'`,
    )
    .bind(rowsParam(rows), now, reason)
    .run();
}
