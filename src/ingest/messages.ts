// The ingest queue's message: the shape of an R2 event notification, whether R2 sent it or the
// documents API enqueued it itself (local dev, or where notifications are not configured).
import { z } from "zod";

export const PUT_ACTIONS = ["PutObject", "CopyObject", "CompleteMultipartUpload"] as const;
export const DELETE_ACTIONS = ["DeleteObject", "LifecycleDeletion"] as const;

export const IngestMessageSchema = z.looseObject({
  account: z.string(),
  action: z.enum([...PUT_ACTIONS, ...DELETE_ACTIONS]),
  bucket: z.string(),
  object: z.looseObject({
    key: z.string().min(1).max(1024),
    size: z.number().int().nonnegative().optional(),
    eTag: z.string().optional(),
  }),
  eventTime: z.string(),
});

export type IngestMessage = z.infer<typeof IngestMessageSchema>;
export type ActionName = IngestMessage["action"];

export function isDeleteAction(action: IngestMessage["action"]): boolean {
  return (DELETE_ACTIONS as readonly string[]).includes(action);
}

export function putMessage(
  bucket: string,
  key: string,
  size: number,
  eTag: string,
  now = new Date(),
): IngestMessage {
  return {
    account: "edgesearch",
    action: "PutObject",
    bucket,
    object: { key, size, eTag },
    eventTime: now.toISOString(),
  };
}

export function deleteMessage(bucket: string, key: string, now = new Date()): IngestMessage {
  return {
    account: "edgesearch",
    action: "DeleteObject",
    bucket,
    object: { key },
    eventTime: now.toISOString(),
  };
}
