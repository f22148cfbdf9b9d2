// Documents that are not text (PDF, Office, images) become Markdown before parsing: through
// Workers AI's toMarkdown in production, a small local converter offline. The types are those
// toMarkdown lists (https://developers.cloudflare.com/workers-ai/features/markdown-conversion/supported-formats/,
// cloudflare-docs src/content/partials/workers-ai/markdown-conversion-support.mdx).
export const CONVERTED_CONTENT_TYPES = {
  "application/pdf": "pdf",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
  "text/csv": "csv",
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
  "image/svg+xml": "svg",
} as const;

export type ConvertedContentType = keyof typeof CONVERTED_CONTENT_TYPES;

/** The converted media type a Content-Type header names (parameters ignored), or null. */
export function convertedType(contentType: string): ConvertedContentType | null {
  const essence = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return Object.hasOwn(CONVERTED_CONTENT_TYPES, essence) ? (essence as ConvertedContentType) : null;
}

export interface Converter {
  /**
   * The document as Markdown, at most `maxBytes` long. Throws a non-retryable AppError the
   * document fails with (unsupported, corrupt, over a bound), a retryable one when the service
   * behind it is briefly unavailable.
   */
  toMarkdown(bytes: Uint8Array, contentType: ConvertedContentType, maxBytes: number): Promise<string>;
}
