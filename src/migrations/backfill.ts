// Version work in the ingest consumer. A build embeds every indexed document of the namespace
// into the new version, one batch of documents per queue message: from the active version's
// stored chunk text when the chunking is unchanged (no R2 read, no parsing), else from the R2
// object, chunked the new version's way. The coordinator accepts each batch's report once and
// hands out the next batch, so a redelivered message or a restarted object repeats at most one
// batch, whose writes are idempotent (same ids, same rows). A purge deletes a retired version's
// vectors, chunk rows and keyword table, a batch at a time.
import { errorMessage, isRetryable } from "../errors";
import { chunkDocument, embeddingTextOf } from "../ingest/chunk";
import { chunkIdPrefix } from "../ingest/ids";
import {
  backoffSeconds,
  chunkVectors,
  type Decision,
  type IngestDeps,
  readDocument,
  upsertAll,
  versionTarget,
  type WriteTarget,
} from "../ingest/pipeline";
import { readUploadMetadata } from "../ingest/upload-metadata";
import { redactDocument } from "../redaction/document";
import type { RedactionSettings } from "../redaction/scan";
import { RedactionStore } from "../redaction/settings";
import type { DocumentRecord } from "../store/documents";
import { r2 } from "../store/r2";
import { mapLimit } from "../util/concurrency";
import { DOC_ID_FIELD, documentKey } from "../validation";
import { deleteVectors } from "../vectors/paging";
import { type BackfillTask, type PurgeTask, VersionTaskSchema } from "../versions/messages";
import { sameChunking, type VersionSpec, versionChunkPrefix } from "../versions/model";
import type { VersionServices } from "../versions/services";
import { awaitingPurge } from "../versions/transitions";

export interface VersionTaskDeps extends IngestDeps {
  versions: VersionServices;
  queue: Queue;
}

/**
 * Documents per build batch (one queue message) at most. A build is a chain of messages, so the
 * batch sets its pace; 50 documents (an embedding call, an upsert and a D1 batch each) stay well
 * within one invocation's subrequest and time limits, and take under half of its D1 queries on
 * Workers Paid. Where fewer queries are left (the Free plan, or other work in the invocation), the
 * consumer asks for fewer (stepDocuments).
 */
export const BACKFILL_BATCH = 50;
/**
 * D1 queries of a build step whatever its size: the page of documents, their count and the
 * namespace's redaction settings (test/integration/version-build-cost.test.ts holds them).
 */
export const STEP_QUERIES = 3;
/**
 * D1 queries per document of a step, at most: its commit batch of 8 statements, and the read of
 * the chunk text it copies when the chunking is unchanged. A document whose chunk rows are over
 * D1's 2,000,000-byte value limit adds one statement per further slice (replaceChunks).
 */
export const STEP_DOCUMENT_QUERIES = 9;

/**
 * Documents of a build step that makes at most `queries` D1 queries ("Queries per Worker
 * invocation": 1,000 on Workers Paid, 50 on Free, https://developers.cloudflare.com/d1/platform/limits/):
 * BACKFILL_BATCH at most, 0 when not one fits.
 */
export function stepDocuments(queries: number): number {
  const fit = Math.floor((queries - STEP_QUERIES) / STEP_DOCUMENT_QUERIES);
  return Math.max(0, Math.min(BACKFILL_BATCH, fit));
}
const BACKFILL_CONCURRENCY = 8;
/**
 * Chunk ids read from D1 and deleted per purge round (the index takes them in pages of
 * VECTORIZE_LIMITS.maxDeleteBatch), and rounds per message.
 */
const PURGE_BATCH = 1000;
const PURGE_ROUNDS = 5;

type DocumentOutcome =
  | { status: "done" | "skipped"; mutationId: string | null; requestedAt: number }
  | { status: "failed"; error: string };

/**
 * Runs one version task; a build step takes up to `documents` documents (the consumer sizes it to
 * the D1 queries its invocation has left, stepDocuments).
 */
export async function processVersionTask(
  deps: VersionTaskDeps,
  body: unknown,
  attempts: number,
  documents = BACKFILL_BATCH,
): Promise<Decision> {
  const parsed = VersionTaskSchema.safeParse(body);
  if (!parsed.success) {
    return {
      type: "dead-letter",
      reason: `invalid version task: ${parsed.error.issues[0]?.message ?? "bad shape"}`,
    };
  }
  const task = parsed.data;
  const log = deps.logger.child({ namespace: task.namespace, version: task.version, task: task.kind });
  try {
    return task.kind === "version.backfill"
      ? await backfillBatch(deps, task, Math.max(1, Math.floor(documents)))
      : await purgeBatch(deps, task);
  } catch (err) {
    const error = errorMessage(err);
    if (!isRetryable(err)) {
      log.error("versions.task_failed", { error });
      return { type: "dead-letter", reason: `${task.kind} failed: ${error}` };
    }
    log.warn("versions.task_retry", { error, attempts });
    return { type: "retry", delaySeconds: backoffSeconds(attempts), error };
  }
}

async function backfillBatch(deps: VersionTaskDeps, task: BackfillTask, size: number): Promise<Decision> {
  const coordinator = deps.versions.coordinator(task.namespace);
  const record = await coordinator.version(task.version);
  if (record?.state !== "building") {
    return { type: "ack", outcome: "skipped", reason: `version ${task.version} is not building` };
  }
  const { active } = await coordinator.writeTargets();
  const target = versionTarget(deps, record);
  const source = versionTarget(deps, active);
  const known = new Set(record.backfill?.failures.map((f) => f.id) ?? []);
  const docs =
    task.phase === "scan"
      ? await deps.store.listIndexed(task.namespace, task.cursor, size)
      : (await deps.store.missingFromVersion(task.namespace, task.version, task.cursor, size)).filter(
          (d) => !known.has(d.id),
        );
  const redaction = settingsOnce(deps, task.namespace);
  const outcomes = await mapLimit(docs, BACKFILL_CONCURRENCY, (doc) =>
    backfillDocument(deps, task.namespace, doc, target, source, redaction),
  );
  const last = docs[docs.length - 1]?.id ?? task.cursor;
  // A full page: more may follow. The size may differ from step to step; the cursor carries on.
  const full = docs.length === size;
  const next =
    task.phase === "scan"
      ? full
        ? { phase: "scan" as const, cursor: last }
        : { phase: "sweep" as const, cursor: "" }
      : full
        ? { phase: "sweep" as const, cursor: last }
        : null;
  let mutationId: string | null = null;
  let mutationAt: number | null = null;
  const failures: { id: string; error: string }[] = [];
  let done = 0;
  outcomes.forEach((o, i) => {
    if (o.status === "failed") {
      failures.push({ id: docs[i]?.id ?? "", error: o.error.slice(0, 300) });
      return;
    }
    done += 1;
    if (o.mutationId !== null && (mutationAt === null || o.requestedAt >= mutationAt)) {
      mutationId = o.mutationId;
      mutationAt = o.requestedAt;
    }
  });
  const total = await deps.store.countIndexed(task.namespace);
  const reply = await coordinator.recordBackfill(task.version, {
    from: { phase: task.phase, cursor: task.cursor },
    next,
    done,
    failures,
    total,
    mutationId,
    mutationAt,
  });
  if (reply.next) await deps.queue.send(reply.next, { contentType: "json" });
  deps.logger.info("versions.backfill_batch", {
    namespace: task.namespace,
    version: task.version,
    phase: task.phase,
    documents: docs.length,
    done,
    failed: failures.length,
    accepted: reply.accepted,
    finished: reply.accepted && next === null,
  });
  // No namespace in the decision: answers are cached per version, so a build invalidates nothing.
  return { type: "ack", outcome: "indexed" };
}

/**
 * The namespace's redaction settings for one batch: read from D1 when the batch's first document
 * read from R2 needs them (a batch that only copies chunks reads none), then shared by its other
 * documents: one query a batch instead of one a document. A change of the settings applies from
 * the next batch, as an ingest's applies from the next document; what the build wrote before (this
 * batch included) keeps its text until the document is written again, like a document indexed
 * before the change.
 */
function settingsOnce(deps: VersionTaskDeps, namespace: string): () => Promise<RedactionSettings> {
  let settings: Promise<RedactionSettings> | undefined;
  return () => {
    settings ??= new RedactionStore(deps.db).get(namespace);
    return settings;
  };
}

/**
 * Writes one document into the version being built. A permanent failure is reported (the build
 * goes on); a transient one fails the batch, which the queue retries.
 */
async function backfillDocument(
  deps: VersionTaskDeps,
  namespace: string,
  doc: DocumentRecord,
  target: WriteTarget,
  source: WriteTarget,
  redaction: () => Promise<RedactionSettings>,
): Promise<DocumentOutcome> {
  const etag = doc.indexedEtag;
  if (etag === null) return { status: "skipped", mutationId: null, requestedAt: 0 };
  try {
    const chunks = await versionChunks(deps, namespace, doc, etag, target, source, redaction);
    if (chunks === null) return { status: "skipped", mutationId: null, requestedAt: 0 };
    const prefix = versionChunkPrefix(await chunkIdPrefix(namespace, doc.id), target.spec.id);
    const metadata = { ...doc.metadata, [DOC_ID_FIELD]: doc.id };
    const records = await chunkVectors(target, namespace, prefix, chunks, metadata);
    const requestedAt = Date.now();
    const mutationId = await upsertAll(target.index, records);
    const committed = await deps.store.commitVersion(namespace, doc.id, etag, {
      version: target.spec.id,
      chunks: chunks.map((c) => ({
        chunkId: `${prefix}-${c.index}`,
        index: c.index,
        title: c.title,
        headings: c.headings,
        text: c.text,
        tokens: c.tokens,
      })),
    });
    // Not committed: the document changed meanwhile, and its own ingest writes every live version.
    return { status: committed ? "done" : "skipped", mutationId, requestedAt };
  } catch (err) {
    if (isRetryable(err)) throw err;
    return { status: "failed", error: errorMessage(err) };
  }
}

interface BuildChunk {
  index: number;
  title: string | null;
  headings: string[];
  text: string;
  tokens: number;
  embeddingText: string;
}

/** The document's chunks for the target version, or null when the document changed meanwhile. */
async function versionChunks(
  deps: VersionTaskDeps,
  namespace: string,
  doc: DocumentRecord,
  etag: string,
  target: WriteTarget,
  source: WriteTarget,
  redaction: () => Promise<RedactionSettings>,
): Promise<BuildChunk[] | null> {
  const maxInput = target.embedder.maxInputTokens;
  if (
    sameChunking(target.spec.chunking, source.spec.chunking) &&
    source.embedder.maxInputTokens === maxInput
  ) {
    const rows = await deps.store.documentChunks(namespace, doc.id, source.spec.id);
    if (rows.length > 0) return rows.map((r) => ({ ...r, embeddingText: embeddingTextOf(r, maxInput) }));
  }
  const object = await r2("read", () => deps.blobs.get(documentKey(namespace, doc.id)));
  if (!object) return null;
  if (object.etag !== etag) {
    await object.body.cancel();
    return null;
  }
  const upload = readUploadMetadata(object, doc.id);
  // Redacted as the ingest does: a new version holds no more than the active one.
  const { doc: parsed } = redactDocument(
    await readDocument(deps, object, doc.contentType || upload.contentType),
    await redaction(),
  );
  const title = doc.title ?? upload.title ?? parsed.title ?? null;
  const chunks = chunkDocument(
    { ...parsed, title: title ?? undefined },
    {
      maxTokens: target.spec.chunking.maxTokens,
      overlapTokens: target.spec.chunking.overlapTokens,
      modelMaxTokens: maxInput,
    },
  );
  return chunks.map((c) => ({
    index: c.index,
    title,
    headings: c.headings,
    text: c.text,
    tokens: c.tokens,
    embeddingText: c.embeddingText,
  }));
}

async function purgeBatch(deps: VersionTaskDeps, task: PurgeTask): Promise<Decision> {
  const coordinator = deps.versions.coordinator(task.namespace);
  const record = await coordinator.version(task.version);
  if (!record || !awaitingPurge(record)) {
    return { type: "ack", outcome: "skipped", reason: `version ${task.version} is not awaiting a purge` };
  }
  const spec: VersionSpec = record;
  const index = versionTarget(deps, spec).index;
  for (let round = 0; round < PURGE_ROUNDS; round++) {
    const ids = await deps.store.versionChunkIds(task.namespace, task.version, PURGE_BATCH);
    if (ids.length === 0) {
      await deps.store.dropVersionKeywordTable(task.namespace, task.version);
      await coordinator.recordPurged(task.version);
      deps.logger.info("versions.purged", { namespace: task.namespace, version: task.version });
      return { type: "ack", outcome: "deleted" };
    }
    await deleteVectors(index, ids);
    await deps.store.deleteVersionChunks(task.namespace, task.version, ids);
  }
  // More to delete: the next message goes on where this one stopped.
  await deps.queue.send(task, { contentType: "json" });
  return { type: "ack", outcome: "deleted" };
}
