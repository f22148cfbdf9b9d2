// The upload tool's core: walk the inputs, turn files into documents, skip what the manifest
// says was already sent unchanged, send the rest in batches with bounded concurrency, and report
// one outcome per document. File access and sending are injected (no Node APIs here), so the
// tests run it inside workerd against the real Worker.

import type { DocumentInput as ClientDocumentInput, MetadataValue } from "../../client/src/index.ts";
import { mapConcurrent } from "../../client/src/index.ts";
// The API's rules, checked here so a bad document fails alone, before sending.
import {
  byteLength,
  MAX_DOC_ID_BYTES,
  MAX_METADATA_BYTES,
  MAX_METADATA_KEYS,
  MAX_TITLE_CHARS,
  METADATA_KEY_PATTERN,
} from "../../src/validation.ts";

/** Content type of each supported extension; ".jsonl" holds one document per line. */
export const EXTENSION_TYPES = {
  ".txt": "text/plain",
  ".text": "text/plain",
  ".md": "text/markdown",
  ".markdown": "text/markdown",
  ".html": "text/html",
  ".htm": "text/html",
  ".json": "application/json",
  ".jsonl": "jsonl",
} as Readonly<Record<string, string>>;
export const CONTENT_TYPES = ["text/plain", "text/markdown", "text/html", "application/json"];
/**
 * Files sent as they are, which the service converts to text (src/ingest/convert/converter.ts):
 * through the documents API one request each, or as R2 objects with --r2 --env.
 */
export const FILE_TYPES: Record<string, string> = {
  ".pdf": "application/pdf",
  ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  ".csv": "text/csv",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".png": "image/png",
  ".webp": "image/webp",
  ".svg": "image/svg+xml",
};
export const DEFAULT_MAX_DOCUMENT_BYTES = 1024 * 1024;
/** Request bodies stay well under the API's 8 MiB limit. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const MANIFEST_VERSION = 1;
// Directories that never hold documents worth indexing.
const SKIPPED_DIRECTORIES = new Set(["node_modules"]);

export type { MetadataValue };
/** A document to send; `data` holds a file of FILE_TYPES (its `text` is then empty). */
export type DocumentInput = ClientDocumentInput & { data?: Uint8Array<ArrayBuffer> };

export type FileAccess = {
  stat(path: string): Promise<"file" | "directory" | null>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
};

export type PlannedDocument = { file: string; id: string; line?: number; doc: DocumentInput; hash: string };

export type Outcome = {
  file: string;
  id?: string;
  line?: number;
  status: "uploaded" | "skipped" | "failed";
  reason?: string;
};

export type SendResult = { id: string; ok: boolean; reason?: string };

export type Sender = { maxBatch: number; send(docs: DocumentInput[]): Promise<SendResult[]> };

export type Manifest = {
  version: number;
  namespace: string;
  targets: Record<string, Record<string, { hash: string; file: string }>>;
};

export type Progress = { done: number; total: number; uploaded: number; skipped: number; failed: number };

const encoder = new TextEncoder();
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Why an id is not a valid document id, or null when it is (src/validation.ts DocumentIdSchema).
 */
export function invalidDocumentId(id: string): string | null {
  if (id.length === 0) return "id must not be empty";
  if (byteLength(id) > MAX_DOC_ID_BYTES) return `id must be at most ${MAX_DOC_ID_BYTES} bytes of UTF-8`;
  // The API's rules (src/validation.ts): characters that change how the text around them shows.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f]/.test(id))
    return "id must not contain control characters (U+0000-U+001F, U+007F-U+009F)";
  if (/[\u2028\u2029]/.test(id)) return "id must not contain line or paragraph separators (U+2028, U+2029)";
  if (/[\u202a-\u202e\u2066-\u2069]/.test(id))
    return "id must not contain bidirectional overrides or isolates (U+202A-U+202E, U+2066-U+2069)";
  if (!id.isWellFormed()) return "id must be well-formed Unicode";
  if (id === "." || id === "..") return 'id must not be "." or ".."';
  return null;
}

/**
 * Why metadata is not acceptable to the API, or null when it is.
 */
export function invalidMetadata(metadata: unknown): string | null {
  if (!isRecord(metadata)) return '"metadata" must be an object';
  const keys = Object.keys(metadata);
  if (keys.length > MAX_METADATA_KEYS) return `at most ${MAX_METADATA_KEYS} metadata keys`;
  for (const [key, value] of Object.entries(metadata)) {
    if (!METADATA_KEY_PATTERN.test(key)) return `metadata key "${key}" must match [A-Za-z][A-Za-z0-9_]{0,63}`;
    const ok =
      (typeof value === "string" && value.length <= 1024) ||
      (typeof value === "number" && Number.isFinite(value)) ||
      typeof value === "boolean";
    if (!ok)
      return `metadata "${key}" must be a string (at most 1,024 characters), a finite number or a boolean`;
  }
  if (byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
    return `metadata must be at most ${MAX_METADATA_BYTES} bytes as JSON`;
  }
  return null;
}

export function extensionOf(path: string) {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot <= 0 ? "" : name.slice(dot).toLowerCase();
}

/**
 * Expands the inputs into files with their document ids: a directory's files (recursively,
 * hidden entries skipped) are named by their path relative to it, a file given by itself by its
 * name. `prefix` is put before every id.
 */
export async function walkInputs(
  fs: FileAccess,
  inputs: string[],
  options: { prefix?: string } = {},
): Promise<{ files: { path: string; id: string }[]; failures: Outcome[] }> {
  const prefix = options.prefix ?? "";
  const files: { path: string; id: string }[] = [];
  const failures: Outcome[] = [];
  const seen: Map<string, string> = new Map();
  const add = (path: string, relative: string) => {
    const id = prefix + relative;
    const other = seen.get(id);
    if (other !== undefined) {
      failures.push({ file: path, id, status: "failed", reason: `document id "${id}" is also ${other}` });
      return;
    }
    seen.set(id, path);
    files.push({ path, id });
  };
  const walk = async (dir: string, relative: string) => {
    let names: string[];
    try {
      names = [...(await fs.readdir(dir))].sort();
    } catch (err) {
      failures.push({ file: dir, status: "failed", reason: `cannot list: ${message(err)}` });
      return;
    }
    for (const name of names) {
      if (name.startsWith(".") || SKIPPED_DIRECTORIES.has(name)) continue;
      const path = `${dir.replace(/\/+$/, "")}/${name}`;
      const kind = await fs.stat(path);
      if (kind === "directory") await walk(path, `${relative}${name}/`);
      else if (kind === "file") add(path, `${relative}${name}`);
    }
  };
  for (const input of inputs) {
    const kind = await fs.stat(input);
    if (kind === "directory") await walk(input, "");
    else if (kind === "file") add(input, input.slice(input.lastIndexOf("/") + 1));
    else failures.push({ file: input, status: "failed", reason: "no such file or directory" });
  }
  return { files, failures };
}

function recordToDocument(record: unknown): { doc: DocumentInput } | { reason: string } {
  if (!isRecord(record)) return { reason: "expected a JSON object" };
  const known = new Set(["id", "text", "title", "contentType", "metadata"]);
  const unknown = Object.keys(record).filter((k) => !known.has(k));
  if (unknown.length > 0)
    return { reason: `unknown field "${unknown[0]}" (expected id, text, title, contentType, metadata)` };
  if (typeof record.id !== "string") return { reason: '"id" must be a string' };
  if (typeof record.text !== "string" || record.text.trim() === "") {
    return { reason: '"text" must be a non-empty string' };
  }
  const doc: DocumentInput = { id: record.id, text: record.text };
  if (record.title !== undefined) {
    if (typeof record.title !== "string" || record.title.length > MAX_TITLE_CHARS) {
      return { reason: `"title" must be a string of at most ${MAX_TITLE_CHARS} characters` };
    }
    doc.title = record.title;
  }
  if (record.contentType !== undefined) {
    const type =
      typeof record.contentType === "string" ? record.contentType.split(";")[0]?.trim().toLowerCase() : "";
    if (!type || !CONTENT_TYPES.includes(type))
      return { reason: `"contentType" must be one of ${CONTENT_TYPES.join(", ")}` };
    doc.contentType = type;
  }
  if (record.metadata !== undefined) {
    const bad = invalidMetadata(record.metadata);
    if (bad) return { reason: bad };
    doc.metadata = record.metadata as Record<string, MetadataValue>;
  }
  return { doc };
}

/**
 * The documents a file holds, and the reasons it (or some of its lines) cannot be sent.
 */
export async function readDocuments(
  fs: FileAccess,
  file: { path: string; id: string },
  options: { maxDocumentBytes?: number } = {},
): Promise<{ docs: { doc: DocumentInput; line?: number }[]; failures: Outcome[] }> {
  const maxBytes = options.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  const ext = extensionOf(file.path);
  const type = EXTENSION_TYPES[ext];
  const failure: Failure = (reason, more = {}) => ({
    file: file.path,
    status: "failed",
    reason,
    ...more,
  });
  const fileType = FILE_TYPES[ext];
  if (fileType !== undefined) return readFileDocument(fs, file, fileType, maxBytes, failure);
  if (type === undefined) {
    const supported = [...Object.keys(EXTENSION_TYPES), ...Object.keys(FILE_TYPES)].join(" ");
    return {
      docs: [],
      failures: [
        failure(`unsupported extension "${ext || "(none)"}" (supported: ${supported})`, { id: file.id }),
      ],
    };
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(await fs.readFile(file.path));
  } catch (err) {
    const reason = err instanceof TypeError ? "not UTF-8 text" : `cannot read: ${message(err)}`;
    return { docs: [], failures: [failure(reason, { id: file.id })] };
  }

  const check: Check = (doc, line) => {
    const badId = invalidDocumentId(doc.id);
    if (badId) return badId;
    const bytes = byteLength(doc.text);
    if (bytes > maxBytes) return `${bytes} bytes, over the ${maxBytes}-byte document limit`;
    if (line === undefined && doc.text.trim() === "") return "empty";
    return null;
  };

  if (type !== "jsonl") {
    const doc: DocumentInput = { id: file.id, text, contentType: type };
    let bad = check(doc);
    if (!bad && type === "application/json") {
      try {
        JSON.parse(text);
      } catch (err) {
        bad = `not valid JSON (${message(err).replace(/ in JSON.*$/, "")})`;
      }
    }
    return bad ? { docs: [], failures: [failure(bad, { id: file.id })] } : { docs: [{ doc }], failures: [] };
  }

  return jsonLinesDocuments(text, check, failure);
}

/** A file sent as it is: refused here when empty or over the document limit, as the API would. */
async function readFileDocument(
  fs: FileAccess,
  file: { path: string; id: string },
  contentType: string,
  maxBytes: number,
  failure: Failure,
): Promise<{ docs: { doc: DocumentInput }[]; failures: Outcome[] }> {
  let data: Uint8Array<ArrayBuffer>;
  try {
    data = new Uint8Array(await fs.readFile(file.path));
  } catch (err) {
    return { docs: [], failures: [failure(`cannot read: ${message(err)}`, { id: file.id })] };
  }
  const bad =
    invalidDocumentId(file.id) ??
    (data.length > maxBytes
      ? `${data.length} bytes, over the ${maxBytes}-byte document limit`
      : data.length === 0
        ? "empty"
        : null);
  if (bad) return { docs: [], failures: [failure(bad, { id: file.id })] };
  return { docs: [{ doc: { id: file.id, text: "", contentType, data } }], failures: [] };
}

/** Why a document is refused, or null; `line` is set for a .jsonl line. */
type Check = (doc: DocumentInput, line?: number) => string | null;
type Failure = (reason: string, more?: Partial<Outcome>) => Outcome;

/** The documents of a .jsonl file, one per line: a bad line fails alone. */
function jsonLinesDocuments(
  text: string,
  check: Check,
  failure: Failure,
): { docs: { doc: DocumentInput; line: number }[]; failures: Outcome[] } {
  const docs: { doc: DocumentInput; line: number }[] = [];
  const failures: Outcome[] = [];
  const lines: Map<string, number> = new Map();
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch (err) {
      failures.push(failure(`not JSON (${message(err).replace(/ in JSON.*$/, "")})`, { line }));
      return;
    }
    const result = recordToDocument(record);
    if ("reason" in result) {
      const id = isRecord(record) && typeof record.id === "string" ? record.id : undefined;
      failures.push(failure(result.reason, { line, ...(id === undefined ? {} : { id }) }));
      return;
    }
    const bad = check(result.doc, line);
    const earlier = lines.get(result.doc.id);
    if (bad || earlier !== undefined) {
      failures.push(
        failure(bad ?? `duplicate id "${result.doc.id}" (first on line ${earlier})`, {
          line,
          id: result.doc.id,
        }),
      );
      return;
    }
    lines.set(result.doc.id, line);
    docs.push({ doc: result.doc, line });
  });
  if (docs.length === 0 && failures.length === 0) failures.push(failure("holds no documents"));
  return { docs, failures };
}

/**
 * A stable digest of everything the service stores of a document: a different digest means the
 * document must be sent again.
 */
export async function documentHash(doc: DocumentInput): Promise<string> {
  const metadata = doc.metadata
    ? Object.fromEntries(Object.entries(doc.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : null;
  const body = doc.data ? `file:${await sha256(doc.data)}` : doc.text;
  const canonical = JSON.stringify([body, doc.title ?? null, doc.contentType ?? "text/plain", metadata]);
  return sha256(new Uint8Array(encoder.encode(canonical)));
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function emptyManifest(namespace: string): Manifest {
  return { version: MANIFEST_VERSION, namespace, targets: {} };
}

/**
 * Reads a manifest's JSON; anything unreadable counts as empty (the cost is a resend).
 */
export function parseManifest(text: string | undefined, namespace: string): Manifest {
  if (text === undefined) return emptyManifest(namespace);
  try {
    const raw = JSON.parse(text);
    if (
      isRecord(raw) &&
      raw.version === MANIFEST_VERSION &&
      raw.namespace === namespace &&
      isRecord(raw.targets)
    ) {
      return raw as Manifest;
    }
  } catch {
    // Corrupt: start over.
  }
  return emptyManifest(namespace);
}

/**
 * Groups documents into batches of at most `maxBatch` documents and about MAX_BATCH_BYTES of JSON.
 */
export function toBatches<T extends { doc: DocumentInput }>(items: T[], maxBatch: number): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = item.doc.data ? item.doc.data.length : byteLength(JSON.stringify(item.doc));
    if (current.length > 0 && (current.length >= maxBatch || bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Walks, plans and sends: every document found gets one outcome. Unchanged documents (same hash
 * in the manifest for this target) are skipped unless `force`; the returned manifest records what
 * was accepted, and keeps what was skipped.
 */
export async function runUpload(options: {
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
}): Promise<{ outcomes: Outcome[]; manifest: Manifest }> {
  const { fs, target, sender } = options;
  const { planned, outcomes } = await planDocuments(fs, options);

  const previous = options.manifest.targets[target] ?? {};
  const next: Record<string, { hash: string; file: string }> = { ...previous };
  const toSend: PlannedDocument[] = [];
  const ids: Set<string> = new Set();
  for (const p of planned) {
    if (ids.has(p.id)) {
      outcomes.push(outcome(p, "failed", `document id "${p.id}" appears in more than one input`));
      continue;
    }
    ids.add(p.id);
    if (!options.force && previous[p.id]?.hash === p.hash) outcomes.push(outcome(p, "skipped"));
    else toSend.push(p);
  }

  const progress = {
    done: 0,
    total: toSend.length,
    uploaded: 0,
    skipped: planned.length - toSend.length,
    failed: outcomes.filter((o) => o.status === "failed").length,
  };
  options.onProgress?.({ ...progress });
  await mapConcurrent(
    toBatches(toSend, Math.max(1, sender.maxBatch)),
    options.concurrency ?? 4,
    async (batch) => {
      let results: SendResult[];
      try {
        results = await sender.send(batch.map((p) => p.doc));
      } catch (err) {
        results = batch.map((p) => ({ id: p.id, ok: false, reason: message(err) }));
      }
      const byId = new Map(results.map((r) => [r.id, r]));
      for (const p of batch) {
        const r = byId.get(p.id) ?? { id: p.id, ok: false, reason: "no answer for this document" };
        if (r.ok) {
          next[p.id] = { hash: p.hash, file: p.file };
          outcomes.push(outcome(p, "uploaded"));
          progress.uploaded++;
        } else {
          outcomes.push(outcome(p, "failed", r.reason ?? "failed"));
          progress.failed++;
        }
        progress.done++;
      }
      options.onProgress?.({ ...progress });
    },
  );

  return {
    outcomes: sortOutcomes(outcomes),
    manifest: { ...options.manifest, targets: { ...options.manifest.targets, [target]: next } },
  };
}

/** Every document of the inputs, hashed, and an outcome for each input that failed to read. */
async function planDocuments(
  fs: FileAccess,
  options: { inputs: string[]; prefix?: string; maxDocumentBytes?: number },
): Promise<{ planned: PlannedDocument[]; outcomes: Outcome[] }> {
  const { files, failures } = await walkInputs(fs, options.inputs, { prefix: options.prefix ?? "" });
  const outcomes: Outcome[] = [...failures];
  const planned: PlannedDocument[] = [];
  const readAll = await mapConcurrent(files, 8, (file) =>
    readDocuments(fs, file, { maxDocumentBytes: options.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES }),
  );
  for (const [i, read] of readAll.entries()) {
    const file = files[i] as { path: string; id: string };
    outcomes.push(...read.failures);
    for (const { doc, line } of read.docs) {
      planned.push({
        file: file.path,
        id: doc.id,
        doc,
        hash: await documentHash(doc),
        ...(line ? { line } : {}),
      });
    }
  }
  return { planned, outcomes };
}

function outcome(p: PlannedDocument, status: Outcome["status"], reason?: string): Outcome {
  return {
    file: p.file,
    id: p.id,
    ...(p.line === undefined ? {} : { line: p.line }),
    status,
    ...(reason === undefined ? {} : { reason }),
  };
}

function sortOutcomes(outcomes: Outcome[]) {
  return [...outcomes].sort((a, b) =>
    a.file === b.file ? (a.line ?? 0) - (b.line ?? 0) : a.file < b.file ? -1 : 1,
  );
}

/**
 * Counts per file (a file failed if any of its documents did, else uploaded if any was sent)
 * and per document.
 */
export function summarize(outcomes: Outcome[]) {
  const byFile: Map<string, Outcome[]> = new Map();
  for (const o of outcomes) byFile.set(o.file, [...(byFile.get(o.file) ?? []), o]);
  const files = { uploaded: 0, skipped: 0, failed: 0 };
  for (const list of byFile.values()) {
    if (list.some((o) => o.status === "failed")) files.failed++;
    else if (list.some((o) => o.status === "uploaded")) files.uploaded++;
    else files.skipped++;
  }
  const documents = { uploaded: 0, skipped: 0, failed: 0 };
  // A file that could not be read or holds nothing names no document: it counts as a file only.
  for (const o of outcomes) if (o.id !== undefined || o.line !== undefined) documents[o.status]++;
  return { files, documents };
}

/**
 * One line per file (and one per failed line of a .jsonl file), then the totals.
 */
export function formatReport(outcomes: Outcome[]): string {
  const byFile: Map<string, Outcome[]> = new Map();
  for (const o of outcomes) byFile.set(o.file, [...(byFile.get(o.file) ?? []), o]);
  const lines: string[] = [];
  for (const [file, list] of byFile) {
    const multi = list.length > 1 || list.some((o) => o.line !== undefined);
    if (!multi) {
      const o = list[0] as Outcome;
      const label = o.status === "skipped" ? "unchanged" : o.status;
      lines.push(`${label.padEnd(9)} ${file}${o.reason ? `: ${o.reason}` : ""}`);
      continue;
    }
    const count = (s: Outcome["status"]) => list.filter((o) => o.status === s).length;
    const failed = list.filter((o) => o.status === "failed");
    const label = failed.length > 0 ? "failed" : count("uploaded") > 0 ? "uploaded" : "unchanged";
    lines.push(
      `${label.padEnd(9)} ${file}: ${count("uploaded")} sent, ${count("skipped")} unchanged, ${failed.length} failed`,
    );
    for (const o of failed) {
      lines.push(
        `            ${o.line === undefined ? "" : `line ${o.line}: `}${o.id && o.line === undefined ? `${o.id}: ` : ""}${o.reason}`,
      );
    }
  }
  const { files, documents } = summarize(outcomes);
  lines.push(
    "",
    `files:     ${files.uploaded} uploaded, ${files.skipped} unchanged, ${files.failed} failed`,
    `documents: ${documents.uploaded} uploaded, ${documents.skipped} unchanged, ${documents.failed} failed`,
  );
  return lines.join("\n");
}

/**
 * A progress bar for a status line.
 */
export function progressBar(p: Progress, width: number = 24) {
  const ratio = p.total === 0 ? 1 : p.done / p.total;
  const filled = Math.round(ratio * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${p.done}/${p.total} sent  (${p.uploaded} ok, ${p.failed} failed, ${p.skipped} unchanged)`;
}
