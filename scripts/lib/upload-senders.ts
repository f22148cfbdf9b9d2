// Where the upload tool sends documents: the documents API (batches, falling back to one
// request per document when a batch is refused, so one bad document never fails the others),
// or R2 objects under "<namespace>/<id>" with the custom metadata the ingest consumer reads
// (src/ingest/upload-metadata.ts), for R2 event notifications to drive ingestion: written by
// the Worker's objects route (same batching), or by `wrangler r2 object put` for --env.

import type { Client, FetchFn } from "../../client/src/index.ts";
import { ApiError, createClient } from "../../client/src/index.ts";
import type { DocumentInput, Sender, SendResult } from "./upload-core.ts";

/** The batch endpoint's limit is 1,000; smaller batches keep a refused batch's retry cheap. */
export const DEFAULT_API_BATCH = 100;
/** What the API itself keeps in custom metadata (src/ingest/submit.ts); R2 allows 2 KiB in all. */
export const MAX_CUSTOM_METADATA_BYTES = 1800;

/** Statuses that blame the batch's content (not auth, not the server): worth retrying one by one. */
const REFUSED_CONTENT = [400, 413, 415, 422];

export type ObjectUpload = {
  key: string;
  body: string | Uint8Array;
  contentType: string;
  customMetadata: Record<string, string>;
};

function reasonOf(err: unknown) {
  if (err instanceof ApiError) {
    const p = err.problem ?? {};
    const detail =
      typeof p.detail === "string" ? p.detail : typeof p.title === "string" ? p.title : err.message;
    const field = typeof p.field === "string" ? ` (${p.field})` : "";
    return err.status > 0 ? `${err.status}: ${detail}${field}` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * `objects`: write R2 objects through the Worker (POST .../objects) instead of documents.
 */
export function createApiSender({
  client,
  namespace,
  batchSize = DEFAULT_API_BATCH,
  objects = false,
}: {
  client: Client;
  namespace: string;
  batchSize?: number;
  objects?: boolean;
}): Sender {
  const putMany = (docs: DocumentInput[]) =>
    objects ? client.putObjects(namespace, docs) : client.putDocuments(namespace, docs);
  const putOne = async (doc: DocumentInput): Promise<SendResult> => {
    try {
      await (objects ? client.putObjects(namespace, [doc]) : client.putDocument(namespace, doc));
      return { id: doc.id, ok: true };
    } catch (err) {
      return { id: doc.id, ok: false, reason: reasonOf(err) };
    }
  };
  // A file goes alone, as the body of PUT /documents/{id}; the objects route takes JSON only.
  const putFile = async (doc: DocumentInput & { data: Uint8Array<ArrayBuffer> }): Promise<SendResult> => {
    if (objects) {
      return {
        id: doc.id,
        ok: false,
        reason: "a file cannot go through the objects route: send it without --r2, or with --r2 --env",
      };
    }
    try {
      await client.putFile(namespace, doc.id, doc.data, doc.contentType ?? "application/octet-stream");
      return { id: doc.id, ok: true };
    } catch (err) {
      return { id: doc.id, ok: false, reason: reasonOf(err) };
    }
  };
  const sendTexts = async (docs: DocumentInput[]): Promise<SendResult[]> => {
    if (docs.length === 0) return [];
    if (docs.length === 1) return [await putOne(docs[0] as DocumentInput)];
    try {
      await putMany(docs);
      return docs.map((d) => ({ id: d.id, ok: true }));
    } catch (err) {
      // The API validates a whole batch before writing any of it: find the culprits one by one.
      if (err instanceof ApiError && REFUSED_CONTENT.includes(err.status)) {
        const results: SendResult[] = [];
        for (const doc of docs) results.push(await putOne(doc));
        return results;
      }
      const reason = reasonOf(err);
      return docs.map((d) => ({ id: d.id, ok: false, reason }));
    }
  };
  return {
    maxBatch: batchSize,
    async send(docs) {
      const results: SendResult[] = [];
      for (const doc of docs) if (doc.data) results.push(await putFile({ ...doc, data: doc.data }));
      return [...results, ...(await sendTexts(docs.filter((d) => !d.data)))];
    },
  };
}

/**
 * An API sender over a fetch function of its own (the tests pass the Worker's).
 */
export function createFetchApiSender({
  fetch,
  baseUrl,
  apiKey,
  namespace,
  batchSize,
  objects,
}: {
  fetch: FetchFn;
  baseUrl: string;
  apiKey?: string;
  namespace: string;
  batchSize?: number;
  objects?: boolean;
}): Sender {
  const client = createClient({ fetch, baseUrl, ...(apiKey === undefined ? {} : { apiKey }) });
  return createApiSender({
    client,
    namespace,
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(objects === undefined ? {} : { objects }),
  });
}

/**
 * The R2 object of a document, with the custom metadata the ingest consumer reads.
 */
export function objectUpload(namespace: string, doc: DocumentInput): ObjectUpload {
  const contentType = doc.contentType ?? "text/plain";
  const customMetadata: Record<string, string> = { contentType };
  if (doc.title) customMetadata.title = doc.title;
  if (doc.metadata && Object.keys(doc.metadata).length > 0)
    customMetadata.metadata = JSON.stringify(doc.metadata);
  return { key: `${namespace}/${doc.id}`, body: doc.data ?? doc.text, contentType, customMetadata };
}

export function createR2Sender({
  namespace,
  putObject,
}: {
  namespace: string;
  putObject: (upload: ObjectUpload) => Promise<void>;
}): Sender {
  return {
    maxBatch: 1,
    async send(docs) {
      const results: SendResult[] = [];
      for (const doc of docs) {
        const upload = objectUpload(namespace, doc);
        const extra = { title: upload.customMetadata.title, metadata: upload.customMetadata.metadata };
        if (new TextEncoder().encode(JSON.stringify(extra)).length > MAX_CUSTOM_METADATA_BYTES) {
          results.push({
            id: doc.id,
            ok: false,
            reason: `title and metadata exceed the ${MAX_CUSTOM_METADATA_BYTES} bytes R2 custom metadata can carry; send it through the API`,
          });
          continue;
        }
        try {
          await putObject(upload);
          results.push({ id: doc.id, ok: true });
        } catch (err) {
          results.push({ id: doc.id, ok: false, reason: reasonOf(err) });
        }
      }
      return results;
    },
  };
}
