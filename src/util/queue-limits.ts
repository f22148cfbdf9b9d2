// Queues' producer limits: every sendBatch goes out in pages the platform accepts, and local mode
// wraps the producer binding in StrictQueue so an oversize call fails the way it does on Cloudflare.
//
// https://developers.cloudflare.com/queues/platform/limits/ (cloudflare-docs
// src/content/docs/queues/platform/limits.mdx), all plans: message size 128 KB; "Maximum messages
// per `sendBatch` call: 100 (or 256KB in total)"; "1 KB is measured as 1000 bytes. Messages can
// include up to ~100 bytes of internal metadata that counts towards total message limits."
// Error codes 10204 MessageSizeOutOfBounds, 10205 BatchSizeOutOfBounds, 10206 BatchCountOutOfBounds
// (src/content/docs/queues/reference/error-codes.mdx); with queue_expose_error_codes (on from
// compatibility date 2026-03-12) workerd's message is "<cause> (<code>)" (src/workerd/api/queue.c++,
// buildQueueErrorMessage). Production's text for 10205, quoted in fedify-dev/fedify#958: "batch size
// of 291898 bytes exceeds limit of 256000 bytes (10205)"; the other two causes follow Miniflare's
// wording (packages/miniflare/src/workers/queues/broker.worker.ts). Miniflare itself enforces
// 128,000 bytes per message and 100 messages per batch but allows (256 + 32) * 1000 bytes per batch.

export const QUEUE_MAX_MESSAGE_BYTES = 128_000;
export const QUEUE_MAX_BATCH_MESSAGES = 100;
export const QUEUE_MAX_BATCH_BYTES = 256_000;
/** Internal metadata the platform may add to each message and count against the limits. */
export const QUEUE_MESSAGE_METADATA_BYTES = 100;

const encoder = new TextEncoder();

/**
 * Bytes a message counts against the limits: its serialized body plus the metadata allowance.
 * JSON is the format of a message sent without a content type (queues_json_messages, on from
 * compatibility date 2024-03-18); "v8" is estimated as JSON.
 */
export function queueMessageBytes(body: unknown, contentType?: QueueContentType): number {
  let bytes: number;
  if (contentType === "bytes" && (body instanceof ArrayBuffer || ArrayBuffer.isView(body))) {
    bytes = body.byteLength;
  } else if (contentType === "text" && typeof body === "string") {
    bytes = encoder.encode(body).byteLength;
  } else {
    bytes = encoder.encode(JSON.stringify(body) ?? "").byteLength;
  }
  return bytes + QUEUE_MESSAGE_METADATA_BYTES;
}

const tooLarge = (bytes: number) =>
  new Error(`message length of ${bytes} bytes exceeds limit of ${QUEUE_MAX_MESSAGE_BYTES} bytes (10204)`);

/**
 * Splits messages into sendBatch calls of at most 100 messages and 256,000 bytes, in order.
 * Throws the platform's 10204 error for a message over 128,000 bytes, before anything is sent.
 */
export function pageQueueMessages(messages: MessageSendRequest[]): MessageSendRequest[][] {
  const pages: MessageSendRequest[][] = [];
  let page: MessageSendRequest[] = [];
  let pageBytes = 0;
  for (const message of messages) {
    const bytes = queueMessageBytes(message.body, message.contentType);
    if (bytes > QUEUE_MAX_MESSAGE_BYTES) throw tooLarge(bytes);
    if (page.length === QUEUE_MAX_BATCH_MESSAGES || pageBytes + bytes > QUEUE_MAX_BATCH_BYTES) {
      pages.push(page);
      page = [];
      pageBytes = 0;
    }
    page.push(message);
    pageBytes += bytes;
  }
  if (page.length > 0) pages.push(page);
  return pages;
}

/** Sends every message, one sendBatch call per page, in order; an empty list sends nothing. */
export async function sendPaged(queue: Queue, messages: MessageSendRequest[]): Promise<void> {
  for (const page of pageQueueMessages(messages)) await queue.sendBatch(page);
}

/** A producer binding that refuses what Cloudflare Queues refuses, with its error text. */
export class StrictQueue<Body = unknown> implements Queue<Body> {
  constructor(private readonly inner: Queue<Body>) {}

  metrics(): Promise<QueueMetrics> {
    return this.inner.metrics();
  }

  send(body: Body, options?: QueueSendOptions): Promise<QueueSendResponse> {
    const bytes = queueMessageBytes(body, options?.contentType);
    if (bytes > QUEUE_MAX_MESSAGE_BYTES) return Promise.reject(tooLarge(bytes));
    return this.inner.send(body, options);
  }

  sendBatch(
    messages: Iterable<MessageSendRequest<Body>>,
    options?: QueueSendBatchOptions,
  ): Promise<QueueSendBatchResponse> {
    const all = [...messages];
    if (all.length > QUEUE_MAX_BATCH_MESSAGES) {
      return Promise.reject(
        new Error(
          `batch message count of ${all.length} exceeds limit of ${QUEUE_MAX_BATCH_MESSAGES} (10206)`,
        ),
      );
    }
    let total = 0;
    for (const m of all) {
      const bytes = queueMessageBytes(m.body, m.contentType);
      if (bytes > QUEUE_MAX_MESSAGE_BYTES) return Promise.reject(tooLarge(bytes));
      total += bytes;
    }
    if (total > QUEUE_MAX_BATCH_BYTES) {
      return Promise.reject(
        new Error(`batch size of ${total} bytes exceeds limit of ${QUEUE_MAX_BATCH_BYTES} bytes (10205)`),
      );
    }
    return this.inner.sendBatch(all, options);
  }
}

// Isolate-lifetime: one wrapped env per env object, so loadConfig's per-env cache still hits.
const strict = new WeakMap<object, object>();

/** The env with INGEST_QUEUE held to the platform's limits when BACKEND=local; the env itself otherwise. */
export function withLocalQueueLimits<E extends { BACKEND?: string; INGEST_QUEUE: Queue }>(env: E): E {
  if (env.BACKEND !== "local") return env;
  const hit = strict.get(env);
  if (hit) return hit as E;
  const wrapped = { ...env, INGEST_QUEUE: new StrictQueue(env.INGEST_QUEUE) };
  strict.set(env, wrapped);
  return wrapped;
}
