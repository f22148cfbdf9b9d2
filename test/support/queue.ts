// Delivers one message to the Worker's queue handler as the Queues runtime would, and reports what
// the consumer did with it (acknowledged, retried).
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  type QueueResult,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../workers/index";

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
