// What an R2 object says about the document it holds: title, content type and metadata from
// its custom metadata (set by the API and the upload tool), else from its HTTP metadata and
// file extension. Invalid metadata is dropped, never fatal: the text is still indexed.

import { ownValue } from "../util/lookup";
import { type Metadata, MetadataSchema, TitleSchema } from "../validation";

const EXTENSION_TYPES: Record<string, string> = {
  txt: "text/plain",
  text: "text/plain",
  md: "text/markdown",
  markdown: "text/markdown",
  html: "text/html",
  htm: "text/html",
  json: "application/json",
  pdf: "application/pdf",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  csv: "text/csv",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  svg: "image/svg+xml",
};

export interface UploadMetadata {
  title: string | null;
  contentType: string;
  metadata: Metadata;
}

export function readUploadMetadata(object: R2Object, id: string): UploadMetadata {
  const custom = object.customMetadata ?? {};
  const title = TitleSchema.safeParse(custom.title);
  let metadata: Metadata = {};
  if (custom.metadata) {
    try {
      const m = MetadataSchema.safeParse(JSON.parse(custom.metadata));
      if (m.success) metadata = m.data;
    } catch {
      // Not JSON: ignored (documented: metadata must be a JSON object).
    }
  }
  return {
    title: title.success && title.data.length > 0 ? title.data : null,
    contentType: custom.contentType ?? namedType(object.httpMetadata?.contentType) ?? contentTypeFromName(id),
    metadata,
  };
}

/** An HTTP content type that names a format; "application/octet-stream" (a tool's default) does not. */
function namedType(type: string | undefined): string | undefined {
  return type === undefined || /^application\/octet-stream\b/i.test(type) ? undefined : type;
}

export function contentTypeFromName(name: string): string {
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  return ownValue(EXTENSION_TYPES, ext) ?? "text/plain";
}
