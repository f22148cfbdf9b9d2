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

// Characters an id may not hold, because they change how logs, terminals and pages show the text
// around them: control characters (C0, DEL and C1, U+0080-U+009F), the line and paragraph
// separators (U+2028, U+2029), and the bidirectional overrides and isolates (U+202A-U+202E,
// U+2066-U+2069), which can make "report\u202Efdp.exe" read as "reportexe.pdf". "/" is fine (ids
// may be paths).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
const LINE_SEPARATORS = /[\u2028\u2029]/;
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every character an id may not hold written as \uXXXX: safe to log or show. */
export function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE_CHARS, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export const NamespaceSchema = z
  .string()
  .regex(NAMESPACE_PATTERN, "namespace must match [a-z0-9][a-z0-9_-]{0,62}");

export const DocumentIdSchema = z
  .string()
  .min(1, "id must not be empty")
  .refine((s) => byteLength(s) <= MAX_DOC_ID_BYTES, `id must be at most ${MAX_DOC_ID_BYTES} bytes of UTF-8`)
  .refine(
    (s) => !CONTROL_CHARS.test(s),
    "id must not contain control characters (U+0000-U+001F, U+007F-U+009F)",
  )
  .refine(
    (s) => !LINE_SEPARATORS.test(s),
    "id must not contain line or paragraph separators (U+2028, U+2029)",
  )
  .refine(
    (s) => !BIDI_CONTROLS.test(s),
    "id must not contain bidirectional overrides or isolates (U+202A-U+202E, U+2066-U+2069)",
  )
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

/**
 * A document's expiry: an RFC 3339 timestamp with a time zone ("2027-01-31T00:00:00Z" or with an
 * offset). A time already past is accepted: the document is then never searchable.
 */
export const ExpiresAtSchema = z.iso.datetime({ offset: true });

/** R2 key of a document: "<namespace>/<document id>". */
export function documentKey(namespace: string, id: string): string {
  return `${namespace}/${id}`;
}

/** Why an R2 key is not a document key ("<namespace>/<document id>"), or null when it is one. */
export function documentKeyProblem(key: string): string | null {
  const slash = key.indexOf("/");
  if (slash <= 0) return 'not "<namespace>/<document id>"';
  if (!NAMESPACE_PATTERN.test(key.slice(0, slash))) return "namespace must match [a-z0-9][a-z0-9_-]{0,62}";
  const id = DocumentIdSchema.safeParse(key.slice(slash + 1));
  return id.success ? null : (id.error.issues[0]?.message ?? "invalid document id");
}

/** Splits an R2 key back into namespace and id; null when it is not a valid document key. */
export function parseDocumentKey(key: string): { namespace: string; id: string } | null {
  if (documentKeyProblem(key) !== null) return null;
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), id: key.slice(slash + 1) };
}
