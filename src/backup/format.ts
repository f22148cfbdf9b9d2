// The backup format: a manifest and NDJSON parts under "_backups/<namespace>/<backupId>/" in the
// backups bucket (BACKUPS), which has no event notification rule, so writing a backup or reading it
// back never reaches the ingest queue. The prefix starts with "_", which no namespace can (see
// NamespaceSchema): deployments that kept backups in the documents bucket have them under it, and
// the ingest consumer skips notifications there. The manifest is written last (and signed, see
// signature.ts): a backup whose manifest exists is complete.
import { z } from "zod";
import { MetadataSchema } from "../validation";
import { VersionSpecSchema } from "../versions/model";

/** 2: parts are written per step and name it; 1: parts per kind, split by size (still restorable). */
export const BACKUP_FORMAT = 2;
export const BACKUP_PREFIX = "_backups";

/** Documents per step (one queue message) unless BACKUP_PAGE_DOCUMENTS says otherwise. */
export const DEFAULT_PAGE_DOCUMENTS = 100;
export const MAX_PAGE_DOCUMENTS = 200;
/**
 * A step also stops once its documents hold this many bytes or this many chunks (at least one
 * document per step): it bounds the memory a step holds (bodies, vectors at ~8 KB each for 768
 * dimensions) and its subrequests (a vector read per 20 chunks).
 */
export const STEP_BYTES = 8 * 1024 * 1024;
export const STEP_CHUNKS = 1000;

export const BackupIdSchema = z
  .string()
  .regex(/^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$/, "a backup id such as 20260101T120000Z-0a1b2c3d");

export const PART_KINDS = ["documents", "chunks", "vectors"] as const;
export type PartKind = (typeof PART_KINDS)[number];

export const DocumentLineSchema = z.object({
  id: z.string(),
  title: z.string().nullable(),
  contentType: z.string(),
  metadata: MetadataSchema,
  createdAt: z.number(),
  /**
   * When the document expires (ms since the epoch); null: never. Absent in backups written
   * before backups carried it: such documents are restored without an expiry.
   */
  expiresAt: z.number().nullable().optional(),
  /** The R2 object: its text, or for a file (PDF, Office, image) its bytes in base64, and custom metadata. */
  body: z.string(),
  /** "base64" for a file's bytes; absent for text (and in backups written before files were taken). */
  bodyEncoding: z.literal("base64").optional(),
  customMetadata: z.record(z.string(), z.string()),
});
export type DocumentLine = z.infer<typeof DocumentLineSchema>;

export const ChunkLineSchema = z.object({
  docId: z.string(),
  index: z.number().int().min(0),
  title: z.string().nullable(),
  headings: z.array(z.string()),
  text: z.string(),
  tokens: z.number().int(),
});
export type ChunkLine = z.infer<typeof ChunkLineSchema>;

export const VectorLineSchema = z.object({
  /** The id in the source namespace; a restore recomputes it from docId and index. */
  id: z.string(),
  docId: z.string(),
  index: z.number().int().min(0),
  values: z.array(z.number()),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});
export type VectorLine = z.infer<typeof VectorLineSchema>;

export const PartSchema = z.object({
  kind: z.enum(PART_KINDS),
  /** Relative to the backup's prefix, e.g. "chunks-000003.ndjson". */
  name: z.string().regex(/^(documents|chunks|vectors)-[0-9]{3,9}\.ndjson$/),
  /**
   * Format 2: the step that wrote it. A step's three parts hold the same documents (their rows,
   * their chunks, their vectors), so a restore writes them together. Absent in format 1.
   */
  step: z.number().int().min(0).optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  lines: z.number().int().min(0),
  bytes: z.number().int().min(0),
});
export type Part = z.infer<typeof PartSchema>;

export const ManifestSchema = z.object({
  format: z.union([z.literal(1), z.literal(BACKUP_FORMAT)]),
  namespace: z.string(),
  backupId: BackupIdSchema,
  createdAt: z.string(),
  /** The version exported (the namespace's active one when the backup ran). */
  version: VersionSpecSchema,
  counts: z.object({
    documents: z.number().int().min(0),
    chunks: z.number().int().min(0),
    vectors: z.number().int().min(0),
  }),
  files: z.array(PartSchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const backupPrefix = (namespace: string, backupId: string) =>
  `${BACKUP_PREFIX}/${namespace}/${backupId}/`;
export const manifestKey = (namespace: string, backupId: string) =>
  `${backupPrefix(namespace, backupId)}manifest.json`;
export const partName = (kind: PartKind, step: number) => `${kind}-${String(step).padStart(6, "0")}.ndjson`;

/** A part's step group: format 1 backups are one group (they were at most 500 documents). */
export const partGroup = (part: Part) => part.step ?? 0;

/** Sortable by time, unique by its random suffix. */
export function newBackupId(now = Date.now()): string {
  const stamp = new Date(now)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  const random = crypto.getRandomValues(new Uint8Array(4));
  return `${stamp}-${hex(random)}`;
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const encoder = new TextEncoder();

export async function sha256Hex(text: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}

export const utf8Bytes = (text: string) => encoder.encode(text).length;
