// Shared input rules for names, ids and metadata: used by the API (zod schemas) and by the
// ingest consumer for objects uploaded straight to R2, so both paths accept the same things.
import { z } from "zod";

export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const MAX_DOC_ID_BYTES = 512;
export const MAX_TITLE_CHARS = 1024;
export const MAX_METADATA_BYTES = 4096;
export const MAX_METADATA_KEYS = 32;
// Keys starting with "_" are reserved for the service (e.g. DOC_ID_FIELD on every vector).
export const METADATA_KEY_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** Vector metadata field holding the document id, so vector results can name documents without D1. */
export const DOC_ID_FIELD = "_doc";

const encoder = new TextEncoder();
export const byteLength = (s: string): number => encoder.encode(s).length;

// Control characters would corrupt logs and R2 keys; "/" is fine (ids may be paths).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export const NamespaceSchema = z
  .string()
  .regex(NAMESPACE_PATTERN, "namespace must match [a-z0-9][a-z0-9_-]{0,62}");

export const DocumentIdSchema = z
  .string()
  .min(1, "id must not be empty")
  .refine((s) => byteLength(s) <= MAX_DOC_ID_BYTES, `id must be at most ${MAX_DOC_ID_BYTES} bytes of UTF-8`)
  .refine((s) => !CONTROL_CHARS.test(s), "id must not contain control characters")
  // A lone surrogate cannot be stored or addressed faithfully (storage would replace it).
  .refine((s) => s.isWellFormed(), "id must be well-formed Unicode")
  // URLs resolve "." and ".." segments away: such a document could never be read or deleted.
  .refine((s) => s !== "." && s !== "..", 'id must not be "." or ".."');

export const MetadataValueSchema = z.union([z.string().max(1024), z.number().finite(), z.boolean()]);

export const MetadataSchema = z
  .record(
    z.string().regex(METADATA_KEY_PATTERN, "metadata keys must match [A-Za-z][A-Za-z0-9_]{0,63}"),
    MetadataValueSchema,
  )
  .refine((m) => Object.keys(m).length <= MAX_METADATA_KEYS, `at most ${MAX_METADATA_KEYS} metadata keys`)
  .refine(
    (m) => byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES,
    `metadata must be at most ${MAX_METADATA_BYTES} bytes as JSON`,
  );

export type Metadata = z.infer<typeof MetadataSchema>;

export const TitleSchema = z.string().max(MAX_TITLE_CHARS);

/** R2 key of a document: "<namespace>/<document id>". */
export function documentKey(namespace: string, id: string): string {
  return `${namespace}/${id}`;
}

/** Splits an R2 key back into namespace and id; null when it is not a valid document key. */
export function parseDocumentKey(key: string): { namespace: string; id: string } | null {
  const slash = key.indexOf("/");
  if (slash <= 0) return null;
  const namespace = key.slice(0, slash);
  const id = key.slice(slash + 1);
  if (!NAMESPACE_PATTERN.test(namespace) || !DocumentIdSchema.safeParse(id).success) return null;
  return { namespace, id };
}
