// Delivers one message to the Worker's queue handler as the Queues runtime would, and reports what
// the consumer did with it (acknowledged, retried).
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  type QueueResult,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { putMessage } from "../../src/ingest/messages";
import { DocumentStore } from "../../src/store/documents";
import worker from "../../workers/index";
import { putObject } from "./index";

export interface DeliverOptions {
  /** The queue it arrives on: the ingest queue unless given. */
  queue?: string;
  /** Its delivery attempt, this one included (a message reaches the dead-letter queue at 6). */
  attempts?: number;
  /** The environment the handler runs with: the test environment unless given. */
  env?: Env;
}

export async function deliverMessage(body: unknown, options: DeliverOptions = {}): Promise<QueueResult> {
  const batch = createMessageBatch(options.queue ?? "edgesearch-ingest", [
    { id: `msg-${crypto.randomUUID()}`, timestamp: new Date(), attempts: options.attempts ?? 1, body },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, options.env ?? env, ctx);
  return getQueueResult(batch, ctx);
}

/**
 * A document whose ingest exhausted its retries on `error`, as after a dependency outage: its
 * object stored, its 6th failed delivery recorded, its message handed to the dead-letter queue's
 * consumer (as its first delivery there: a moved message counts again from 1), which records the
 * dead letter and marks the document failed. Its replay indexes it.
 */
export async function deadLetteredDocument(
  ns: string,
  id: string,
  text: string,
  error: string,
): Promise<QueueResult> {
  const key = `${ns}/${id}`;
  const object = await putObject(key, text);
  const store = new DocumentStore(env.DB);
  await store.upsertQueued(ns, [
    { id, title: null, contentType: "text/plain", metadata: {}, bytes: object.size, etag: object.etag },
  ]);
  await store.recordAttempt(ns, id, error, 6);
  const message = putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag);
  return deliverMessage(message, { queue: "edgesearch-ingest-dlq", attempts: 1 });
}
