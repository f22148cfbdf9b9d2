// The write side of R2 uploads: documents become objects "<namespace>/<id>" in the documents
// bucket with the custom metadata the consumer reads (title, metadata, content type), and
// nothing else: no D1 row, no message of the API's own. Ingestion then runs on the bucket's
// event notifications (R2's when deployed, the local stand-in offline), as for any object put
// there. Where notifications are off, the put messages are enqueued here instead, so an object
// written through this path is never left unindexed.
import { AppError } from "../errors";
import { r2 } from "../store/r2";
import { mapLimit } from "../util/concurrency";
import { documentKey } from "../validation";
import { putMessage } from "./messages";
import { normalizeContentType } from "./parse";
import {
  customMetadataOf,
  enqueue,
  MAX_CUSTOM_METADATA_BYTES,
  type NewDocument,
  type SubmitDeps,
} from "./submit";

const R2_CONCURRENCY = 16;

/** Writes each document as an R2 object; every document is checked before any is written. */
export async function putObjects(
  deps: Pick<SubmitDeps, "blobs" | "queue" | "config">,
  namespace: string,
  docs: NewDocument[],
): Promise<void> {
  const planned = docs.map((doc, i) => {
    const contentType = normalizeContentType(doc.contentType ?? "text/plain") ?? "text/plain";
    const { custom, complete } = customMetadataOf(doc, contentType);
    if (!complete) {
      // Without a D1 row to hold them, title and metadata that do not fit would be lost.
      throw new AppError(
        "validation_failed",
        `title and metadata are over the ${MAX_CUSTOM_METADATA_BYTES} bytes an R2 object's custom metadata carries here; write this document through /documents instead`,
        { field: `body.documents.${i}` },
      );
    }
    return { doc, key: documentKey(namespace, doc.id), contentType, custom };
  });
  const written = await mapLimit(planned, R2_CONCURRENCY, async (p) => {
    const object = await r2("write", () =>
      deps.blobs.put(p.key, p.doc.text, {
        httpMetadata: { contentType: p.contentType },
        customMetadata: p.custom,
      }),
    );
    return { key: p.key, size: object.size, etag: object.etag };
  });
  if (!deps.config.r2Notifications) {
    await enqueue(
      deps.queue,
      written.map((w) => putMessage(deps.config.documentsBucketName, w.key, w.size, w.etag)),
    );
  }
}
