// The local stand-in for R2 event notifications (BACKEND=local with R2_NOTIFICATIONS on):
// Miniflare does not emulate them, so the documents bucket binding is wrapped and every create
// and delete made through it sends the message R2 would send, under the rule `npm run provision`
// creates (notification-rule.ts), to the ingest queue. The message is sent once the write
// succeeded and before the call returns; a failed send fails the call (the object is written,
// the caller retries, and ingestion is idempotent), so no write goes unannounced.
//
// Message shape (https://developers.cloudflare.com/r2/buckets/event-notifications/#message-format):
// account, action, bucket, object.key, eventTime; object.size and object.eTag only for creates
// ("not present for object-delete events").
//
// Writes that bypass the Worker (`wrangler r2 object put --local`, which writes Miniflare's
// storage from another process) are announced by the bucket watcher (bucket-watch.ts), through
// `notifier` below; each write made here is recorded with it (`claims`), so it is announced once.
import { sendPaged } from "../util/queue-limits";
import type { NotificationClaims } from "./bucket-watch";
import { type ActionName, deleteMessage, type IngestMessage, putMessage } from "./messages";
import { type NotificationRule, ruleMatches } from "./notification-rule";

export interface LocalNotificationOptions {
  /** DOCUMENTS_BUCKET_NAME: the bucket the messages name. */
  bucketName: string;
  rule: NotificationRule;
  queue: Queue;
  /** Where each write is recorded for the bucket watcher (none: no watcher). */
  claims?: NotificationClaims;
  now?: () => Date;
}

/** Sends the messages `rule` covers to `queue`, paged to the queue's limits. */
export function notifier(rule: NotificationRule, queue: Queue): (messages: IngestMessage[]) => Promise<void> {
  return async (messages) => {
    const due = messages.filter((m) => ruleMatches(rule, m.action, m.object.key));
    if (due.length === 0) return;
    await sendPaged(
      queue,
      due.map((body) => ({ body, contentType: "json" as const })),
    );
  };
}

/** `bucket` with R2's event notifications: creates and deletes through it enqueue their message. */
export function withLocalNotifications(bucket: R2Bucket, options: LocalNotificationOptions): R2Bucket {
  const now = options.now ?? (() => new Date());
  const notify = notifier(options.rule, options.queue);
  const claims = options.claims;
  const created = async (action: ActionName, object: R2Object): Promise<IngestMessage[]> => {
    if (claims && !(await claims.created(object.key, object.etag))) return [];
    return [{ ...putMessage(options.bucketName, object.key, object.size, object.etag, now()), action }];
  };
  const withComplete = (upload: R2MultipartUpload): R2MultipartUpload =>
    new Proxy(upload, {
      get(target, prop) {
        if (prop === "complete") {
          return async (parts: R2UploadedPart[]) => {
            const object = await target.complete(parts);
            await notify(await created("CompleteMultipartUpload", object));
            return object;
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });

  const wrapped: Partial<R2Bucket> = {
    put: async (key, value, putOptions) => {
      const object = await bucket.put(key, value, putOptions);
      // null: an onlyIf condition failed and nothing was written.
      if (object) await notify(await created("PutObject", object));
      return object;
    },
    delete: async (keys) => {
      await bucket.delete(keys);
      // One message per key named, existing or not (the consumer skips an unknown document).
      const named = typeof keys === "string" ? [keys] : keys;
      const list = claims ? await claims.deleted(named) : named;
      await notify(list.map((key) => deleteMessage(options.bucketName, key, now())));
    },
    createMultipartUpload: async (key, uploadOptions) =>
      withComplete(await bucket.createMultipartUpload(key, uploadOptions)),
    resumeMultipartUpload: (key, uploadId) => withComplete(bucket.resumeMultipartUpload(key, uploadId)),
  };
  return new Proxy(bucket, {
    get(target, prop) {
      if (typeof prop === "string" && Object.hasOwn(wrapped, prop)) return Reflect.get(wrapped, prop);
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
