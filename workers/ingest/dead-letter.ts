// The dead-letter queue's consumer: a message lands here after exhausting its retries. It is
// recorded in D1 (with the document's last error) and its document marked failed, so nothing
// disappears silently; records can be inspected and replayed. A message that reached this queue
// exhausted its retries, which the ingest consumer gives only to retryable errors: its record is
// `transient`, and the scheduled check replays it with backoff (src/observe/dead-letter-replay.ts).
import { errorMessage } from "../../src/errors";
import { IngestMessageSchema } from "../../src/ingest/messages";
import type { Logger } from "../../src/observe/logger";
import type { DocumentStore } from "../../src/store/documents";
import { parseDocumentKey } from "../../src/validation";

export async function recordDeadLetter(
  db: D1Database,
  message: Message<unknown>,
  reason: string | null,
  target: { namespace: string; id: string } | null = null,
  transient = false,
  attempts = message.attempts,
): Promise<void> {
  await db
    .prepare(
      `INSERT INTO dead_letters (message_id, namespace, doc_id, body, error, attempts, received_at, transient)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (message_id) DO NOTHING`,
    )
    .bind(
      message.id,
      target?.namespace ?? null,
      target?.id ?? null,
      JSON.stringify(message.body ?? null).slice(0, 64 * 1024),
      reason,
      attempts,
      Date.now(),
      transient ? 1 : 0,
    )
    .run();
}

export async function consumeDeadLetters(
  batch: MessageBatch<unknown>,
  store: DocumentStore,
  db: D1Database,
  logger: Logger,
): Promise<void> {
  for (const message of batch.messages) {
    try {
      const parsed = IngestMessageSchema.safeParse(message.body);
      const target = parsed.success ? parseDocumentKey(parsed.data.object.key) : null;
      const row = target ? await store.get(target.namespace, target.id) : null;
      // This queue counts its own deliveries from 1: a message moved here is a new message
      // (Miniflare: workers-sdk packages/miniflare/src/workers/queues/broker.worker.ts, #flush).
      // The ingest queue's deliveries are on the document, from its last failed one (recordAttempt).
      const attempts = row && row.attempts > 0 ? row.attempts : message.attempts;
      const reason = `indexing failed after ${attempts} attempts: ${row?.error ?? "unknown error"}`;
      await recordDeadLetter(db, message, reason, target, true, attempts);
      if (target && row?.etag && row.status === "queued") {
        await store.markFailed(target.namespace, target.id, row.etag, reason);
      }
      logger.warn("ingest.dead_lettered", { messageId: message.id, namespace: target?.namespace, reason });
      message.ack();
    } catch (err) {
      logger.error("dead_letter.failed", { messageId: message.id, error: errorMessage(err) });
      message.retry({ delaySeconds: 30 });
    }
  }
}
