// Replay of dead letters: each message is sent to the ingest queue again, its document (failed
// when it was dead-lettered) queued again so the consumer does not skip it, and the dead letter
// marked replayed. Used by POST /v1/admin/dead-letters/replay and the scheduled check.
import { AppError, errorMessage } from "../errors";
import { type D1Like, d1 } from "../store/d1";
import { QUEUE_MAX_BATCH_MESSAGES, sendPaged } from "../util/queue-limits";

export interface ReplayRow {
  id: number;
  namespace: string | null;
  doc_id: string | null;
  body: string;
}

/**
 * The rows replayed (those with a namespace and a parseable body), in order. `db` holds the dead
 * letters; `documents` answers a namespace's database of the pool, where its document rows are.
 */
export async function replayDeadLetters(
  db: D1Database,
  documents: (namespace: string) => D1Like,
  queue: Queue,
  rows: readonly ReplayRow[],
  options: { now?: number; auto?: boolean } = {},
): Promise<ReplayRow[]> {
  const now = options.now ?? Date.now();
  const replayable = rows.filter((r) => {
    // Rows without a namespace (unparseable messages) have nothing to replay into.
    if (r.namespace === null) return false;
    try {
      JSON.parse(r.body);
      return true;
    } catch {
      return false;
    }
  });
  for (let i = 0; i < replayable.length; i += QUEUE_MAX_BATCH_MESSAGES) {
    const slice = replayable.slice(i, i + QUEUE_MAX_BATCH_MESSAGES);
    // A failed document is queued again, or the consumer would skip it as already failed: one
    // batch per namespace, in the namespace's own database.
    const byNamespace = Map.groupBy(slice, (r) => r.namespace ?? "");
    for (const [namespace, rows] of byNamespace) {
      const target = documents(namespace);
      await d1("requeue documents", () =>
        target.batch(
          rows.map((r) =>
            target
              .prepare(
                `UPDATE documents SET status = 'queued', error = NULL, attempts = 0, updated_at = ?3
                 WHERE namespace = ?1 AND id = ?2 AND status = 'failed'`,
              )
              .bind(r.namespace, r.doc_id, now),
          ),
        ),
      );
    }
    try {
      await sendPaged(
        queue,
        slice.map((r) => ({ body: JSON.parse(r.body), contentType: "json" as const })),
      );
    } catch (err) {
      throw new AppError("unavailable", `could not enqueue: ${errorMessage(err)}`, { retryable: true });
    }
    await d1("mark replayed", () =>
      db
        .prepare(
          `UPDATE dead_letters SET replayed_at = ?2, auto_replayed = ?3
           WHERE id IN (SELECT value FROM json_each(?1))`,
        )
        .bind(JSON.stringify(slice.map((r) => r.id)), now, options.auto ? 1 : 0)
        .run(),
    );
  }
  return replayable;
}
