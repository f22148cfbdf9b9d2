// A namespace's documents a page at a time, all of them or those of one status, in id order:
// keyset pagination (each page starts after the last id of the one before, so a page costs its
// own rows whatever its depth; documents_by_status and the primary key both hold that order).
// The cursor is opaque to clients: base64url of the namespace, the status and the last id, so a
// cursor sent for another namespace or status is refused rather than silently misread. It grants
// nothing: the caller's key is checked for the namespace as on every document route. Used by
// GET /v1/namespaces/{ns}/documents and the console's documents page.
import { z } from "zod";
import { AppError } from "../errors";
import { base64url, fromBase64url } from "../util/encoding";
import { MAX_DOC_ID_BYTES } from "../validation";
import type { DocumentRecord, DocumentStore } from "./documents";

export const DOCUMENT_STATUSES = ["queued", "indexed", "failed", "deleted"] as const;
export type DocumentStatusName = (typeof DOCUMENT_STATUSES)[number];

export const DOCUMENT_PAGE_LIMITS = {
  defaultLimit: 50,
  maxLimit: 100,
  /**
   * Longer than any cursor issued: a 512-byte id whose every byte JSON escapes (1,024 bytes), a
   * 63-character namespace and the rest, about 1,500 characters of base64url.
   */
  maxCursorChars: 2048,
} as const;

export interface DocumentPageRequest {
  /** All statuses when absent. */
  status?: DocumentStatusName;
  cursor?: string;
  limit: number;
}

export interface DocumentPage {
  documents: DocumentRecord[];
  /** Absent on the last page. */
  nextCursor?: string;
}

const CursorPayload = z.strictObject({
  n: z.string(),
  s: z.enum(DOCUMENT_STATUSES).nullable(),
  a: z
    .string()
    .min(1)
    .refine((s) => new TextEncoder().encode(s).length <= MAX_DOC_ID_BYTES),
});

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

export function documentCursor(
  namespace: string,
  status: DocumentStatusName | undefined,
  after: string,
): string {
  return base64url(encoder.encode(JSON.stringify({ n: namespace, s: status ?? null, a: after })));
}

function invalidCursor(detail: string): AppError {
  return new AppError("invalid_cursor", `cursor ${detail}: start again without one`, { field: "cursor" });
}

/** The id a cursor resumes after; a 400 (invalid_cursor) when it is damaged or not this listing's. */
export function cursorAfter(
  namespace: string,
  status: DocumentStatusName | undefined,
  cursor: string,
): string {
  if (cursor.length > DOCUMENT_PAGE_LIMITS.maxCursorChars) throw invalidCursor("is too long");
  const bytes = fromBase64url(cursor);
  let payload: z.infer<typeof CursorPayload> | null = null;
  if (bytes) {
    try {
      payload = CursorPayload.parse(JSON.parse(decoder.decode(bytes)));
    } catch {
      payload = null;
    }
  }
  if (!payload) throw invalidCursor("is not one this API issued");
  if (payload.n !== namespace || payload.s !== (status ?? null)) {
    throw invalidCursor("was issued for another namespace or status");
  }
  return payload.a;
}

/** One page of the namespace's documents, and the cursor of the next when there is one. */
export async function listDocumentPage(
  store: Pick<DocumentStore, "listPage">,
  namespace: string,
  request: DocumentPageRequest,
): Promise<DocumentPage> {
  const limit = Math.min(Math.max(1, Math.trunc(request.limit)), DOCUMENT_PAGE_LIMITS.maxLimit);
  const after = request.cursor === undefined ? "" : cursorAfter(namespace, request.status, request.cursor);
  // One row past the page says whether another page follows.
  const rows = await store.listPage(namespace, request.status ?? null, after, limit + 1);
  const documents = rows.slice(0, limit);
  const last = documents[documents.length - 1];
  return rows.length > limit && last
    ? { documents, nextCursor: documentCursor(namespace, request.status, last.id) }
    : { documents };
}
