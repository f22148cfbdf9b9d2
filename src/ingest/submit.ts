// The write side of the documents API: store each document in R2 under <namespace>/<id>,
// record it as queued in D1, and enqueue the R2-event-shaped message (unless R2 event
// notifications do that). Validation happens before any write, so a rejected request writes
// nothing; a failed write is retryable and a retry is idempotent.
import type { Config } from "../config";
import { AppError, errorMessage } from "../errors";
import type { DocumentStore } from "../store/documents";
import { r2 } from "../store/r2";
import { mapLimit } from "../util/concurrency";
import { byteLength, documentKey, type Metadata } from "../validation";
import { deleteMessage, type IngestMessage, putMessage } from "./messages";
import { checkJson, normalizeContentType } from "./parse";

export interface NewDocument {
  id: string;
  text: string;
  title?: string;
  contentType?: string;
  metadata?: Metadata;
}

export interface SubmitDeps {
  blobs: R2Bucket;
  store: DocumentStore;
  queue: Queue;
  config: Config;
}

const R2_CONCURRENCY = 16;
const QUEUE_BATCH = 100;
// R2 custom metadata is small (2 KiB): title and metadata ride along only when they fit; the
// D1 row is the record of truth for documents written through the API.
const MAX_CUSTOM_METADATA_BYTES = 1800;

/** Checks what the zod schema cannot (limits from config), naming the offending field. */
export function checkDocuments(
  docs: NewDocument[],
  config: Config,
  fieldPrefix: (i: number) => string,
): void {
  const seen = new Set<string>();
  docs.forEach((doc, i) => {
    const at = fieldPrefix(i);
    if (seen.has(doc.id)) {
      throw new AppError("validation_failed", `duplicate document id "${doc.id}" in the batch`, {
        field: `${at}.id`,
      });
    }
    seen.add(doc.id);
    const bytes = byteLength(doc.text);
    if (bytes > config.maxDocumentBytes) {
      throw new AppError(
        "payload_too_large",
        `document text is ${bytes} bytes; the limit is ${config.maxDocumentBytes}`,
        { field: `${at}.text` },
      );
    }
    if (doc.text.trim().length === 0) {
      throw new AppError("validation_failed", "document text is empty", { field: `${at}.text` });
    }
    const type = doc.contentType === undefined ? "text/plain" : normalizeContentType(doc.contentType);
    if (type === null) {
      throw new AppError(
        "unsupported_media_type",
        `content type "${doc.contentType}" is not supported; use text/plain, text/markdown, text/html or application/json`,
        { field: `${at}.contentType` },
      );
    }
    if (type === "application/json") checkJson(doc.text, config.parseLimits, `${at}.text`);
  });
}

export async function submitDocuments(
  deps: SubmitDeps,
  namespace: string,
  docs: NewDocument[],
): Promise<void> {
  const stored = await mapLimit(docs, R2_CONCURRENCY, async (doc) => {
    const contentType = normalizeContentType(doc.contentType ?? "text/plain") ?? "text/plain";
    const custom: Record<string, string> = { contentType };
    const extra = { title: doc.title, metadata: doc.metadata ? JSON.stringify(doc.metadata) : undefined };
    if (byteLength(JSON.stringify(extra)) <= MAX_CUSTOM_METADATA_BYTES) {
      if (extra.title) custom.title = extra.title;
      if (extra.metadata) custom.metadata = extra.metadata;
    }
    const key = documentKey(namespace, doc.id);
    const object = await r2("write", () =>
      deps.blobs.put(key, doc.text, { httpMetadata: { contentType }, customMetadata: custom }),
    );
    return { doc, key, contentType, etag: object.etag, size: object.size };
  });
  await deps.store.upsertQueued(
    namespace,
    stored.map((s) => ({
      id: s.doc.id,
      title: s.doc.title ?? null,
      contentType: s.contentType,
      metadata: s.doc.metadata ?? {},
      bytes: s.size,
      etag: s.etag,
    })),
  );
  if (!deps.config.r2Notifications) {
    const bucket = deps.config.backend === "local" ? "local" : "documents";
    await enqueue(
      deps.queue,
      stored.map((s) => putMessage(bucket, s.key, s.size, s.etag)),
    );
  }
}

export async function deleteDocuments(deps: SubmitDeps, namespace: string, ids: string[]): Promise<void> {
  const keys = ids.map((id) => documentKey(namespace, id));
  for (let i = 0; i < keys.length; i += 1000) {
    const slice = keys.slice(i, i + 1000);
    await r2("delete", () => deps.blobs.delete(slice));
  }
  await deps.store.markDeleted(namespace, ids);
  if (!deps.config.r2Notifications) {
    await enqueue(
      deps.queue,
      keys.map((key) => deleteMessage("documents", key)),
    );
  }
}

async function enqueue(queue: Queue, messages: IngestMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += QUEUE_BATCH) {
    const batch = messages.slice(i, i + QUEUE_BATCH).map((body) => ({ body, contentType: "json" as const }));
    try {
      await queue.sendBatch(batch);
    } catch (err) {
      throw new AppError("unavailable", `could not enqueue for indexing: ${errorMessage(err)}`, {
        retryable: true,
        cause: err,
      });
    }
  }
}
