// The write side of the documents API: store each document in R2 under <namespace>/<id>,
// record it as queued in D1, and enqueue the R2-event-shaped message (unless R2 event
// notifications do that). Validation happens before any write, so a rejected request writes
// nothing; a failed write is retryable and a retry is idempotent.
import type { Config } from "../config";
import { AppError, errorMessage } from "../errors";
import type { DocumentStore } from "../store/documents";
import { r2 } from "../store/r2";
import { mapLimit } from "../util/concurrency";
import { sendPaged } from "../util/queue-limits";
import { byteLength, documentKey, type Metadata } from "../validation";
import { VECTORIZE_LIMITS } from "../vectors/vector-index";
import { convertedType } from "./convert/converter";
import { deleteMessage, type IngestMessage, putMessage } from "./messages";
import { checkJson, normalizeContentType } from "./parse";

export interface NewDocument {
  id: string;
  /** The text; empty when `data` holds the document. */
  text: string;
  /** A PDF, Office document or image as sent (contentType names which); converted when indexed. */
  data?: Uint8Array;
  title?: string;
  contentType?: string;
  metadata?: Metadata;
  /** RFC 3339 (validated by the request schema); absent = never expires. */
  expiresAt?: string;
}

export interface SubmitDeps {
  blobs: R2Bucket;
  store: DocumentStore;
  queue: Queue;
  config: Config;
}

const R2_CONCURRENCY = 16;
// R2 custom metadata is small (2 KiB): title and metadata ride along only when they fit; the
// D1 row is the record of truth for documents written through the API.
export const MAX_CUSTOM_METADATA_BYTES = 1800;

/** A document's R2 custom metadata (what the consumer reads, upload-metadata.ts), and whether title and metadata fit in it. */
export function customMetadataOf(
  doc: NewDocument,
  contentType: string,
): { custom: Record<string, string>; complete: boolean } {
  const custom: Record<string, string> = { contentType };
  const extra = { title: doc.title, metadata: doc.metadata ? JSON.stringify(doc.metadata) : undefined };
  if (byteLength(JSON.stringify(extra)) > MAX_CUSTOM_METADATA_BYTES) return { custom, complete: false };
  if (extra.title) custom.title = extra.title;
  if (extra.metadata) custom.metadata = extra.metadata;
  return { custom, complete: true };
}

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
    const bytes = documentBytes(doc);
    if (bytes > config.maxDocumentBytes) {
      throw new AppError(
        "payload_too_large",
        `document ${doc.data ? "body" : "text"} is ${bytes} bytes; the limit is ${config.maxDocumentBytes} (MAX_DOCUMENT_BYTES)`,
        { field: doc.data ? "body" : `${at}.text` },
      );
    }
    if (doc.expiresAt !== undefined && expiryOf(doc) === null) {
      throw new AppError("validation_failed", `expiresAt "${doc.expiresAt}" is not an RFC 3339 time`, {
        field: `${at}.expiresAt`,
      });
    }
    if (doc.data) {
      if (bytes === 0) throw new AppError("validation_failed", "document body is empty", { field: "body" });
      return;
    }
    if (doc.text.trim().length === 0) {
      throw new AppError("validation_failed", "document text is empty", { field: `${at}.text` });
    }
    // Vectorize filters a string on its first 64 bytes: a longer value of a filterable field
    // could be matched or excluded by its prefix alone.
    for (const field of config.filterableFields) {
      const value = doc.metadata?.[field];
      if (typeof value !== "string") continue;
      const length = byteLength(value);
      if (length > VECTORIZE_LIMITS.maxIndexedStringBytes) {
        throw new AppError(
          "validation_failed",
          `metadata "${field}" is filterable and ${length} bytes; a filterable string is at most ${VECTORIZE_LIMITS.maxIndexedStringBytes} bytes, the part Vectorize filters on`,
          { field: `${at}.metadata.${field}` },
        );
      }
    }
    const type = doc.contentType === undefined ? "text/plain" : normalizeContentType(doc.contentType);
    if (type === null) {
      throw new AppError(
        "unsupported_media_type",
        convertedType(doc.contentType ?? "")
          ? `content type "${doc.contentType}" is binary: PUT the file itself as the body of /v1/namespaces/{ns}/documents/{id} with that Content-Type`
          : `content type "${doc.contentType}" is not supported; use text/plain, text/markdown, text/html or application/json`,
        { field: `${at}.contentType` },
      );
    }
    if (type === "application/json") checkJson(doc.text, config.parseLimits, `${at}.text`);
  });
}

/** A document's size in bytes: its body as sent, or its text as UTF-8. */
export function documentBytes(doc: Pick<NewDocument, "text" | "data">): number {
  return doc.data ? doc.data.byteLength : byteLength(doc.text);
}

/** A document's expiry in epoch ms; null when it has none (or it does not parse). */
export function expiryOf(doc: Pick<NewDocument, "expiresAt">): number | null {
  if (doc.expiresAt === undefined) return null;
  const ms = Date.parse(doc.expiresAt);
  return Number.isFinite(ms) ? ms : null;
}

export async function submitDocuments(
  deps: SubmitDeps,
  namespace: string,
  docs: NewDocument[],
): Promise<void> {
  const stored = await mapLimit(docs, R2_CONCURRENCY, async (doc) => {
    const contentType =
      (doc.data
        ? convertedType(doc.contentType ?? "")
        : normalizeContentType(doc.contentType ?? "text/plain")) ?? "text/plain";
    const { custom } = customMetadataOf(doc, contentType);
    const key = documentKey(namespace, doc.id);
    const object = await r2("write", () =>
      deps.blobs.put(key, doc.data ?? doc.text, { httpMetadata: { contentType }, customMetadata: custom }),
    );
    return { doc, key, contentType, etag: object.etag, size: object.size };
  });
  // After the R2 writes (the row records their eTags): with notifications on, the consumer may
  // have ingested a write before its row exists. upsertQueued keeps such a row indexed, and names
  // the rows it had to queue again, whose notification may be spent.
  const reopened = new Set(
    await deps.store.upsertQueued(
      namespace,
      stored.map((s) => ({
        id: s.doc.id,
        title: s.doc.title ?? null,
        contentType: s.contentType,
        metadata: s.doc.metadata ?? {},
        bytes: s.size,
        etag: s.etag,
        expiresAt: expiryOf(s.doc),
      })),
    ),
  );
  const messages = stored.filter((s) => !deps.config.r2Notifications || reopened.has(s.doc.id));
  await enqueue(
    deps.queue,
    messages.map((s) => putMessage(deps.config.documentsBucketName, s.key, s.size, s.etag)),
  );
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
      keys.map((key) => deleteMessage(deps.config.documentsBucketName, key)),
    );
  }
}

export async function enqueue(queue: Queue, messages: IngestMessage[]): Promise<void> {
  try {
    await sendPaged(
      queue,
      messages.map((body) => ({ body, contentType: "json" as const })),
    );
  } catch (err) {
    throw new AppError("unavailable", `could not enqueue for indexing: ${errorMessage(err)}`, {
      retryable: true,
      cause: err,
    });
  }
}
