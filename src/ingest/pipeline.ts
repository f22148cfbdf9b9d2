// Ingest of one queue message: decides from the R2 object and the document row what to do,
// and returns the decision for the consumer loop to apply. Idempotent on (key, eTag): a
// redelivered or stale message changes nothing.

import type { Config } from "../config";
import type { Embedder } from "../embed/embedder";
import { AppError, errorMessage, isRetryable } from "../errors";
import type { Logger } from "../observe/logger";
import type { Metrics } from "../observe/metrics";
import { IngestQuota } from "../quotas/enforce";
import type { QuotaDatabases } from "../quotas/store";
import { redactDocument } from "../redaction/document";
import type { RedactionCounts } from "../redaction/scan";
import type { DocumentRecord, DocumentStore } from "../store/documents";
import { r2 } from "../store/r2";
import { DOC_ID_FIELD, documentKeyProblem, escapeUnsafe, parseDocumentKey } from "../validation";
import { deleteVectors } from "../vectors/paging";
import type { VectorIndex, VectorRecord } from "../vectors/vector-index";
import { VECTORIZE_LIMITS } from "../vectors/vector-index";
import { defaultVersion, type VersionSpec, vectorNamespace, versionChunkPrefix } from "../versions/model";
import type { VersionServices } from "../versions/services";
import { DocumentBudget } from "./budget";
import { type Chunk, chunkDocument } from "./chunk";
import { type Converter, convertedType } from "./convert/converter";
import type { ParsedDocument } from "./document";
import { chunkId, chunkIdPrefix, chunkIds } from "./ids";
import { type IngestMessage, IngestMessageSchema, isDeleteAction } from "./messages";
import { ignoredNotification, restoreWriting } from "./notifications";
import { parseDocument } from "./parse";
import { readUploadMetadata, type UploadMetadata } from "./upload-metadata";

export interface IngestDeps {
  blobs: R2Bucket;
  /**
   * D1 itself: restore jobs (a running restore commits the rows of the documents it writes), and
   * quota state (src/quotas/).
   */
  db: D1Database;
  /** The pool of data databases (quota state lives in each namespace's database). */
  pool: QuotaDatabases["pool"];
  store: DocumentStore;
  embedder: Embedder;
  /** Turns PDF, Office and image documents into Markdown (Workers AI, or the local converter). */
  converter: Converter;
  index: VectorIndex;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** Index versions; without it, every document goes to the default version only. */
  versions?: VersionServices;
}

/** Where a document's vectors go: each live version with its embedder and index. */
export interface WriteTarget {
  spec: VersionSpec;
  embedder: Embedder;
  index: VectorIndex;
}

/** Every live version of the namespace (the active one first), as its coordinator knows them now. */
export async function writeTargets(deps: IngestDeps, namespace: string): Promise<WriteTarget[]> {
  if (!deps.versions) {
    return [{ spec: defaultVersion(deps.config), embedder: deps.embedder, index: deps.index }];
  }
  const { live } = await deps.versions.coordinator(namespace).writeTargets();
  return live.map((spec) => versionTarget(deps, spec));
}

/** A version's embedder and index; the default version's are the deps' own. */
export function versionTarget(
  deps: Pick<IngestDeps, "versions" | "config" | "embedder" | "index">,
  spec: VersionSpec,
): WriteTarget {
  const defaults = deps.versions?.defaults ?? defaultVersion(deps.config);
  const sameModel = spec.model === defaults.model && spec.pooling === defaults.pooling;
  return {
    spec,
    embedder: sameModel || !deps.versions ? deps.embedder : deps.versions.embedder(spec),
    index: spec.index === defaults.index || !deps.versions ? deps.index : deps.versions.index(spec),
  };
}

/** The vectors of a version's chunks of a document. */
export async function chunkVectors(
  target: WriteTarget,
  namespace: string,
  prefix: string,
  chunks: readonly { index: number; embeddingText: string }[],
  metadata: VectorRecord["metadata"],
): Promise<VectorRecord[]> {
  const vectors = await target.embedder.embed(
    chunks.map((c) => c.embeddingText),
    "document",
  );
  const vectorNs = await vectorNamespace(namespace, target.spec.id);
  return chunks.map((c, i) => ({
    id: chunkId(prefix, c.index),
    values: vectors[i] ?? new Float32Array(target.embedder.dimensions),
    namespace: vectorNs,
    metadata,
  }));
}

/** Upserts in Vectorize-sized batches; returns the last mutation id. */
export async function upsertAll(index: VectorIndex, records: VectorRecord[]): Promise<string | null> {
  let last: string | null = null;
  for (let i = 0; i < records.length; i += VECTORIZE_LIMITS.maxUpsertBatch) {
    last = (await index.upsert(records.slice(i, i + VECTORIZE_LIMITS.maxUpsertBatch))).mutationId;
  }
  return last;
}

export type Decision =
  | {
      type: "ack";
      outcome: "indexed" | "deleted" | "skipped" | "failed";
      reason?: string;
      namespace?: string;
    }
  | { type: "retry"; delaySeconds: number; error: string }
  | { type: "dead-letter"; reason: string };

/**
 * The longest delay Queues accepts on send or retry: 12 hours ("delaySeconds ... 12 hours",
 * https://developers.cloudflare.com/queues/platform/limits/).
 */
export const QUEUE_MAX_DELAY_SECONDS = 43_200;

/**
 * Retry delay: exponential in the attempt number, full jitter, capped (seconds, at least 1, at
 * most the 12 hours Queues accepts whatever cap is asked for).
 */
export function backoffSeconds(
  attempts: number,
  baseSeconds = 2,
  capSeconds = 300,
  random = Math.random,
): number {
  const cap = Math.min(capSeconds, QUEUE_MAX_DELAY_SECONDS);
  const ceiling = Math.min(cap, baseSeconds * 2 ** Math.max(0, attempts - 1));
  return Math.max(1, Math.ceil(random() * ceiling));
}

export async function processMessage(deps: IngestDeps, body: unknown, attempts: number): Promise<Decision> {
  const parsed = IngestMessageSchema.safeParse(body);
  if (!parsed.success) {
    return {
      type: "dead-letter",
      reason: `invalid ingest message: ${parsed.error.issues[0]?.message ?? "bad shape"}`,
    };
  }
  const message = parsed.data;
  const ignored = ignoredNotification(deps.config, message);
  if (ignored) {
    deps.logger[ignored.level]("ingest.ignored", {
      bucket: message.bucket,
      key: message.object.key,
      action: message.action,
      reason: ignored.reason,
    });
    deps.metrics.ingest({
      namespace: ignored.namespace,
      outcome: "ignored",
      chunks: 0,
      bytes: 0,
      totalMs: 0,
      lagMs: 0,
    });
    return { type: "ack", outcome: "skipped", reason: ignored.reason };
  }
  const target = parseDocumentKey(message.object.key);
  if (!target) {
    // The key as written may hold what an id may not (it reaches logs and the dead-letter table).
    return {
      type: "dead-letter",
      reason: `object key "${escapeUnsafe(message.object.key)}" is not a document key: ${documentKeyProblem(message.object.key)}`,
    };
  }
  const { namespace, id } = target;
  const log = deps.logger.child({ namespace, docId: id, action: message.action, attempts });
  try {
    if (isDeleteAction(message.action)) return await removeDocument(deps, namespace, id, message, log);
    const budget = new DocumentBudget(deps.config.ingestDocumentBudgetMs);
    return await budget.run(() => indexDocument(deps, namespace, id, message, log, budget));
  } catch (err) {
    const error = errorMessage(err);
    if (!isRetryable(err)) {
      // A permanent failure of this version: the document is marked failed, the message done.
      const row = await deps.store.get(namespace, id);
      if (row?.etag) await deps.store.markFailed(namespace, id, row.etag, error);
      log.warn("ingest.failed", { error });
      deps.metrics.ingest({ namespace, outcome: "failed", chunks: 0, bytes: 0, totalMs: 0, lagMs: 0 });
      return { type: "ack", outcome: "failed", reason: error };
    }
    log.warn("ingest.retry", { error });
    await deps.store.recordAttempt(namespace, id, error, attempts).catch(() => undefined);
    return { type: "retry", delaySeconds: backoffSeconds(attempts), error };
  }
}

async function indexDocument(
  deps: IngestDeps,
  namespace: string,
  id: string,
  message: IngestMessage,
  log: Logger,
  budget: DocumentBudget,
): Promise<Decision> {
  const started = Date.now();
  const object = await r2("read", () => deps.blobs.get(message.object.key));
  if (!object) return { type: "ack", outcome: "skipped", reason: "object no longer exists" };
  const etag = object.etag;
  const wanted = await checkWanted(deps, namespace, id, message, object, log);
  if (wanted.skip !== null) {
    await object.body.cancel();
    return { type: "ack", outcome: "skipped", reason: wanted.skip };
  }
  let row = wanted.row;
  const upload = readUploadMetadata(object, id);
  // The namespace's quota state and redaction settings, read once for the document (one D1 query
  // where the namespace's rows are in the control database) and before an upload is recorded:
  // its documents and bytes check, the chunk check and the redaction all see that moment.
  const quota = new IngestQuota(deps, namespace, row, true);
  if (!row || row.etag !== etag) row = await recordUnannounced(deps, namespace, id, object, quota, upload);
  // Redacted before anything is chunked, embedded or stored; the R2 object stays as uploaded.
  const redacted = redactDocument(
    await readAndParse(deps, object, upload.contentType, budget),
    await quota.redaction(),
  );
  const parsed = redacted.doc;
  const redactions = redacted.counts;
  const title = row?.title ?? upload.title ?? parsed.title ?? null;
  // The document id rides along, so a search can still name documents when D1 is unavailable.
  const metadata = { ...(row?.metadata ?? upload.metadata), [DOC_ID_FIELD]: id };
  const doc = { ...parsed, title: title ?? undefined };
  const written = await embedVersions(deps, namespace, id, quota, doc, metadata, budget);

  // Re-check right before writing vectors: a newer version may have landed meanwhile.
  const head = await r2("head", () => deps.blobs.head(message.object.key));
  if (!head || head.etag !== etag)
    return { type: "ack", outcome: "skipped", reason: "superseded during indexing" };

  await writeVersionVectors(written, row?.chunkCount ?? 0, budget);
  budget.check("commit");
  const hadChunks = row?.etag !== etag || row.chunkCount > 0;
  if (!(await commitVersions(deps.store, namespace, id, etag, { title, hadChunks, redactions }, written)))
    return { type: "ack", outcome: "skipped", reason: "superseded during indexing" };
  reportIndexed(deps, log, { namespace, message, bytes: object.size, started, written, redactions });
  return { type: "ack", outcome: "indexed", namespace };
}

/**
 * Whether this message has anything to index (`skip` says why not), with the document's row when
 * it was read.
 */
async function checkWanted(
  deps: IngestDeps,
  namespace: string,
  id: string,
  message: IngestMessage,
  object: R2Object,
  log: Logger,
): Promise<{ row: DocumentRecord | null; skip: string | null }> {
  const etag = object.etag;
  // A newer version was written; its own message indexes it.
  if (message.object.eTag && message.object.eTag !== etag)
    return { row: null, skip: "superseded by a newer version" };
  const row = await deps.store.get(namespace, id);
  if (
    row &&
    row.etag === etag &&
    (row.status === "failed" || (row.status === "indexed" && row.indexedEtag === etag))
  ) {
    return { row, skip: `already ${row.status}` };
  }
  if (!row || row.etag !== etag) {
    const restore = await restoreWriting(deps.db, namespace, object);
    if (restore !== null) {
      log.info("ingest.restoring", { restore });
      return { row, skip: `written by restore ${restore}, which commits its row` };
    }
  }
  return { row, skip: null };
}

/**
 * Uploaded straight to R2 (no API call recorded it): the object's metadata describes it, and it
 * gets the quota checks the API would have made, from the document's `quota` (built on its row
 * before this version). Recorded either way: it is stored. Returns the row as recorded.
 */
async function recordUnannounced(
  deps: IngestDeps,
  namespace: string,
  id: string,
  object: R2ObjectBody,
  quota: IngestQuota,
  upload: UploadMetadata,
): Promise<DocumentRecord | null> {
  const overQuota = await quota.upload(object.size);
  await deps.store.upsertQueued(namespace, [{ id, etag: object.etag, bytes: object.size, ...upload }]);
  const recorded = await deps.store.get(namespace, id);
  if (overQuota) {
    await object.body.cancel();
    throw overQuota;
  }
  return recorded;
}

/** The object's text, parsed; a document over the size limit fails without being read. */
async function readAndParse(
  deps: IngestDeps,
  object: R2ObjectBody,
  contentType: string,
  budget: DocumentBudget,
): Promise<ParsedDocument> {
  if (object.size > deps.config.maxDocumentBytes) {
    await object.body.cancel();
    throw new AppError(
      "payload_too_large",
      `document is ${object.size} bytes, over the limit of ${deps.config.maxDocumentBytes}`,
      { retryable: false },
    );
  }
  budget.check("read");
  return readDocument(deps, object, contentType, () => budget.check("parse"));
}

/**
 * An R2 object's body parsed by its content type; a PDF, Office document or image is converted
 * to Markdown first, and its Markdown parsed as any other (the same bounds and failures).
 */
export async function readDocument(
  deps: Pick<IngestDeps, "converter" | "config">,
  object: R2ObjectBody,
  contentType: string,
  beforeParse: () => void = () => undefined,
): Promise<ParsedDocument> {
  const limits = deps.config.parseLimits;
  const converted = convertedType(contentType);
  if (converted === null) {
    const text = await r2("read body", () => object.text());
    beforeParse();
    return parseDocument(text, contentType, limits);
  }
  const bytes = new Uint8Array(await r2("read body", () => object.arrayBuffer()));
  beforeParse();
  const markdown = await deps.converter.toMarkdown(bytes, converted, limits.maxParsedTextBytes);
  return parseDocument(markdown, "text/markdown", limits);
}

/** What one version gets written: its chunks of the document and their vectors. */
interface VersionWrite {
  target: WriteTarget;
  prefix: string;
  chunks: Chunk[];
  records: VectorRecord[];
}

/**
 * Each live version gets the document chunked its way and embedded by its model; versions with the
 * same chunking share the chunks. Nothing is written yet.
 */
async function embedVersions(
  deps: IngestDeps,
  namespace: string,
  id: string,
  quota: IngestQuota,
  doc: ParsedDocument,
  metadata: VectorRecord["metadata"],
  budget: DocumentBudget,
): Promise<VersionWrite[]> {
  const targets = await writeTargets(deps, namespace);
  const prefix = await chunkIdPrefix(namespace, id);
  const chunkings = new Map<string, Chunk[]>();
  const written: VersionWrite[] = [];
  for (const target of targets) {
    const { maxTokens, overlapTokens } = target.spec.chunking;
    const key = `${maxTokens}/${overlapTokens}/${target.embedder.maxInputTokens}`;
    let chunks = chunkings.get(key);
    if (!chunks) {
      budget.check("chunk");
      chunks = chunkDocument(doc, {
        maxTokens,
        overlapTokens,
        modelMaxTokens: target.embedder.maxInputTokens,
        maxChunks: deps.config.maxChunksPerDocument,
      });
      chunkings.set(key, chunks);
    }
    if (chunks.length === 0)
      throw new AppError("unprocessable", "document has no text", { retryable: false });
    // Before any vector is written: a document over the chunk quota fails whole.
    const overQuota = await quota.chunks(chunks.length);
    if (overQuota) throw overQuota;
    const versionPrefix = versionChunkPrefix(prefix, target.spec.id);
    budget.check("embed");
    const records = await chunkVectors(target, namespace, versionPrefix, chunks, metadata);
    written.push({ target, prefix: versionPrefix, chunks, records });
  }
  return written;
}

/** Upserts each version's vectors and deletes those of chunks the previous text had beyond them. */
async function writeVersionVectors(
  written: readonly VersionWrite[],
  previousCount: number,
  budget: DocumentBudget,
): Promise<void> {
  for (const w of written) {
    budget.check("vector write");
    await upsertAll(w.target.index, w.records);
    if (previousCount > w.chunks.length)
      await deleteVectors(w.target.index, chunkIds(w.prefix, w.chunks.length, previousCount));
  }
}

/** Records the chunks of every version in D1; false when a newer version of the object got there first. */
function commitVersions(
  store: DocumentStore,
  namespace: string,
  id: string,
  etag: string,
  { title, hadChunks, redactions }: { title: string | null; hadChunks: boolean; redactions: RedactionCounts },
  written: readonly VersionWrite[],
): Promise<boolean> {
  return store.commitIndexed(namespace, id, etag, {
    title,
    hadChunks,
    redactions,
    versions: written.map((w) => ({
      version: w.target.spec.id,
      chunks: w.chunks.map((c) => ({
        chunkId: chunkId(w.prefix, c.index),
        index: c.index,
        title,
        headings: c.headings,
        text: c.text,
        tokens: c.tokens,
      })),
    })),
  });
}

/** The indexed document's metric and log line. */
function reportIndexed(
  deps: IngestDeps,
  log: Logger,
  done: {
    namespace: string;
    message: IngestMessage;
    bytes: number;
    started: number;
    written: readonly VersionWrite[];
    redactions: RedactionCounts;
  },
): void {
  const chunkCount = done.written[0]?.chunks.length ?? 0;
  const now = Date.now();
  const eventTime = Date.parse(done.message.eventTime);
  deps.metrics.ingest({
    namespace: done.namespace,
    outcome: "indexed",
    chunks: chunkCount,
    bytes: done.bytes,
    totalMs: now - done.started,
    lagMs: Number.isFinite(eventTime) ? Math.max(0, now - eventTime) : 0,
    redactions: done.redactions,
  });
  log.info("ingest.indexed", {
    chunks: chunkCount,
    versions: done.written.length,
    bytes: done.bytes,
    ms: now - done.started,
    redactions: done.redactions,
  });
}

async function removeDocument(
  deps: IngestDeps,
  namespace: string,
  id: string,
  message: IngestMessage,
  log: Logger,
): Promise<Decision> {
  if (await r2("head", () => deps.blobs.head(message.object.key))) {
    return { type: "ack", outcome: "skipped", reason: "object was written again after the delete" };
  }
  const row: DocumentRecord | null = await deps.store.get(namespace, id);
  if (!row) return { type: "ack", outcome: "skipped", reason: "unknown document" };
  // Deleted straight from R2: the API did not mark it yet.
  if (row.status !== "deleted") await deps.store.markDeleted(namespace, [id]);
  if (row.chunkCount > 0) {
    const prefix = await chunkIdPrefix(namespace, id);
    for (const target of await writeTargets(deps, namespace)) {
      const versionPrefix = versionChunkPrefix(prefix, target.spec.id);
      await deleteVectors(target.index, chunkIds(versionPrefix, 0, row.chunkCount));
    }
  }
  await deps.store.clearVectors(namespace, id);
  deps.metrics.ingest({
    namespace,
    outcome: "deleted",
    chunks: row.chunkCount,
    bytes: 0,
    totalMs: 0,
    lagMs: 0,
  });
  log.info("ingest.deleted", { chunks: row.chunkCount });
  return { type: "ack", outcome: "deleted", namespace };
}
