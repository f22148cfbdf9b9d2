// Type declarations for upload-core.mjs, so TypeScript callers (the tests) import it typed.
export type MetadataValue = string | number | boolean;
export interface DocumentInput {
  id: string;
  text: string;
  title?: string;
  contentType?: string;
  metadata?: Record<string, MetadataValue>;
}
export interface FileAccess {
  stat(path: string): Promise<"file" | "directory" | null>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
}
export interface Outcome {
  file: string;
  id?: string;
  line?: number;
  status: "uploaded" | "skipped" | "failed";
  reason?: string;
}
export interface SendResult {
  id: string;
  ok: boolean;
  reason?: string;
}
export interface Sender {
  maxBatch: number;
  send(docs: DocumentInput[]): Promise<SendResult[]>;
}
export interface Manifest {
  version: number;
  namespace: string;
  targets: Record<string, Record<string, { hash: string; file: string }>>;
}
export interface Progress {
  done: number;
  total: number;
  uploaded: number;
  skipped: number;
  failed: number;
}
export declare const EXTENSION_TYPES: Readonly<Record<string, string>>;
export declare const CONTENT_TYPES: string[];
export declare const MAX_DOC_ID_BYTES: number;
export declare const MAX_TITLE_CHARS: number;
export declare const MAX_METADATA_KEYS: number;
export declare const MAX_METADATA_BYTES: number;
export declare const METADATA_KEY_PATTERN: RegExp;
export declare const DEFAULT_MAX_DOCUMENT_BYTES: number;
export declare function invalidDocumentId(id: string): string | null;
export declare function invalidMetadata(metadata: unknown): string | null;
export declare function extensionOf(path: string): string;
export declare function walkInputs(
  fs: FileAccess,
  inputs: string[],
  options?: { prefix?: string },
): Promise<{ files: { path: string; id: string }[]; failures: Outcome[] }>;
export declare function readDocuments(
  fs: FileAccess,
  file: { path: string; id: string },
  options?: { maxDocumentBytes?: number },
): Promise<{ docs: { doc: DocumentInput; line?: number }[]; failures: Outcome[] }>;
export declare function documentHash(doc: DocumentInput): Promise<string>;
export declare function emptyManifest(namespace: string): Manifest;
export declare function parseManifest(text: string | undefined, namespace: string): Manifest;
export declare function toBatches<T extends { doc: DocumentInput }>(items: T[], maxBatch: number): T[][];
export declare function runUpload(options: {
  fs: FileAccess;
  inputs: string[];
  target: string;
  manifest: Manifest;
  sender: Sender;
  concurrency?: number;
  force?: boolean;
  prefix?: string;
  maxDocumentBytes?: number;
  onProgress?: (progress: Progress) => void;
}): Promise<{ outcomes: Outcome[]; manifest: Manifest }>;
export declare function summarize(outcomes: Outcome[]): {
  files: { uploaded: number; skipped: number; failed: number };
  documents: { uploaded: number; skipped: number; failed: number };
};
export declare function formatReport(outcomes: Outcome[]): string;
export declare function progressBar(p: Progress, width?: number): string;
