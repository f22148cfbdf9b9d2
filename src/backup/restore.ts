// Restore steps, into a namespace that is empty when the restore starts. Three phases:
// - verify: every part is read and checked against the manifest (SHA-256, line count, each line's
//   shape, the vectors' dimensions), a bounded number of parts per step, before anything is
//   written: a damaged backup fails the job and leaves the target as it was.
// - write: one step per part group (a backup step's documents, chunks and vectors): the documents
//   to R2, the vectors (values copied, ids and vector namespace recomputed for the target) to the
//   target's index, then the D1 rows in the transaction that advances the job. R2 and vector
//   writes are idempotent (same keys, same ids, same values); the rows are written only by the
//   transaction that moves the job past the step, so a repeated step duplicates nothing.
// - settle: the job completes once the index has applied the last vector write, so a complete
//   restore answers searches as the source did.
import { AppError } from "../errors";
import { chunkId, chunkIdPrefix } from "../ingest/ids";
import { RESTORED_BY } from "../ingest/notifications";
import { upsertAll } from "../ingest/pipeline";
import { d1 } from "../store/d1";
import { r2 } from "../store/r2";
import { mapLimit } from "../util/concurrency";
import { fromBase64 } from "../util/encoding";
import { documentKey } from "../validation";
import type { VectorRecord } from "../vectors/vector-index";
import { DEFAULT_VERSION, type VersionSpec, vectorNamespace, versionChunkPrefix } from "../versions/model";
import {
  type ChunkLine,
  type DocumentLine,
  type Manifest,
  type PartKind,
  partGroup,
  utf8Bytes,
  type VectorLine,
} from "./format";
import { type Job, JobStore } from "./jobs";
import { type BackupTaskDeps, sendStep, startJob, stepMessage } from "./messages";
import { groupsOf, jobManifest, orderedParts, parseLines, readPart } from "./parts";
import { BackupStore, type RestoredDocument, type StoredChunk } from "./store";

const R2_CONCURRENCY = 8;
/** Verification reads at most this many parts, or bytes, per step. */
const VERIFY_PARTS = 24;
const VERIFY_BYTES = 48 * 1024 * 1024;
/** How long the settle phase waits for the index before completing regardless (logged). */
const SETTLE_LIMIT_MS = 15 * 60 * 1000;
const SETTLE_POLL_SECONDS = 1;

/** Why the target cannot take this backup, or null. */
export async function restoreConflict(
  store: BackupStore,
  manifest: Manifest,
  namespace: string,
  active: VersionSpec,
  live: VersionSpec[],
): Promise<string | null> {
  if (active.id !== DEFAULT_VERSION || live.length !== 1) {
    return `namespace "${namespace}" has index versions beyond ${DEFAULT_VERSION} (active: ${active.id}); restore needs a namespace that has only ${DEFAULT_VERSION}`;
  }
  const v = manifest.version;
  if (v.model !== active.model || v.dimensions !== active.dimensions || v.pooling !== active.pooling) {
    return `the backup's vectors come from ${v.model} (${v.dimensions} dimensions, ${v.pooling} pooling); namespace "${namespace}" uses ${active.model} (${active.dimensions} dimensions, ${active.pooling} pooling)`;
  }
  return store.notEmptyReason(namespace, active.id);
}

/** Starts a restore of `manifest` into `namespace` (written into `active`). */
export async function startRestore(
  deps: Pick<BackupTaskDeps, "db" | "queue">,
  namespace: string,
  active: VersionSpec,
  backup: { manifest: Manifest; sha256: string },
  pageSize: number,
  id: string,
  now = Date.now(),
): Promise<Job> {
  const { manifest } = backup;
  return startJob(
    deps,
    {
      id,
      kind: "restore",
      namespace,
      phase: "verify",
      pageSize,
      version: active,
      from: { namespace: manifest.namespace, backupId: manifest.backupId },
      manifestSha256: backup.sha256,
      totalDocuments: manifest.counts.documents,
      totalChunks: manifest.counts.chunks,
      totalParts: manifest.files.length,
    },
    now,
  );
}

/**
 * Runs step `job.step` of a restore: whether this delivery applied it, and whether the target's
 * answers changed (its cached results must go).
 */
/** Whether this delivery applied the step, and whether it wrote rows (a new generation to publish). */
interface RestoreStepResult {
  applied: boolean;
  changed: boolean;
}

export async function restoreStep(deps: BackupTaskDeps, job: Job): Promise<RestoreStepResult> {
  if (job.phase === "settle") return settle(deps, job);
  const manifest = await jobManifest(deps.backups, deps.config, job);
  if (job.phase === "verify") return verifyStep(deps, job, manifest);
  return writeStep(deps, job, manifest);
}

/** Reads the next parts of the backup, checking their vectors fit the target version's index. */
async function verifyStep(deps: BackupTaskDeps, job: Job, manifest: Manifest): Promise<RestoreStepResult> {
  const parts = orderedParts(manifest.files);
  const from = Number(job.cursor || "0");
  let bytes = 0;
  let n = 0;
  for (const part of parts.slice(from)) {
    if (n >= VERIFY_PARTS || (n > 0 && bytes + part.bytes > VERIFY_BYTES)) break;
    const lines = parseLines(await readPart(deps.backups, manifest, part), part);
    if (part.kind === "vectors") {
      for (const v of lines as { values: number[] }[]) {
        if (v.values.length !== job.version.dimensions) {
          throw new AppError(
            "unprocessable",
            `a vector in backup part ${part.name} has ${v.values.length} dimensions; the target's index has ${job.version.dimensions}`,
          );
        }
      }
    }
    bytes += part.bytes;
    n += 1;
  }
  const done = from + n >= parts.length;
  const applied = await new JobStore(deps.db).apply(job, job.step, {
    phase: done ? "write" : "verify",
    cursor: done ? "0" : String(from + n),
    verifiedParts: n,
  });
  if (applied) await sendStep(deps, job, job.step + 1);
  return { applied, changed: false };
}

/** Writes the next group of documents, with their chunks and vectors, into the target version. */
async function writeStep(deps: BackupTaskDeps, job: Job, manifest: Manifest): Promise<RestoreStepResult> {
  const jobs = new JobStore(deps.db);
  const step = job.step;
  const groups = groupsOf(manifest);
  const g = Number(job.cursor || "0");
  const store = new BackupStore(deps.pool.writes(job.namespace));
  if (g === 0) {
    // Checked again: documents may have been written to the target while the backup was verified.
    const reason = await store.notEmptyReason(job.namespace, job.version.id);
    if (reason !== null) throw new AppError("conflict", reason);
  }
  const group = groups[g];
  if (group === undefined) {
    const applied = await jobs.apply(job, step, { phase: "settle", cursor: "" });
    if (applied) await sendStep(deps, job, step + 1);
    return { applied, changed: false };
  }
  const written = await writeGroup(deps, job, manifest, group);
  const last = g + 1 >= groups.length;
  const advance = jobs.advance(job, step, {
    phase: last ? "settle" : "write",
    cursor: last ? "" : String(g + 1),
    documents: written.documents.length,
    chunks: written.chunks.length,
    vectors: written.vectors,
    lastMutationId: written.mutationId,
    lastMutationAt: written.mutationAt,
    probeVectorId: written.probeVectorId,
  });
  await store.writeRestoredStep(job.namespace, job.version.id, written.documents, written.chunks, {
    id: job.id,
    step,
  });
  const applied = (await d1("advance restore job", () => advance.run())).meta.changes === 1;
  if (applied) await sendStep(deps, job, step + 1);
  deps.logger.info("restore.step", {
    namespace: job.namespace,
    job: job.id,
    step,
    group,
    documents: written.documents.length,
    applied,
  });
  return { applied, changed: applied };
}

interface WrittenGroup {
  documents: RestoredDocument[];
  chunks: StoredChunk[];
  vectors: number;
  mutationId: string | null;
  mutationAt: number | null;
  probeVectorId: string | null;
}

/** Writes one part group's documents to R2 and vectors to the index; returns the rows to commit. */
async function writeGroup(
  deps: BackupTaskDeps,
  job: Job,
  manifest: Manifest,
  group: number,
): Promise<WrittenGroup> {
  const ns = job.namespace;
  const version = job.version.id;
  const parts = orderedParts(manifest.files).filter((p) => partGroup(p) === group);
  const read = async <T>(kind: PartKind): Promise<T[]> => {
    const out: T[] = [];
    for (const part of parts.filter((p) => p.kind === kind)) {
      out.push(...(parseLines(await readPart(deps.backups, manifest, part), part) as T[]));
    }
    return out;
  };
  const prefixes = new Map<string, string>();
  const prefixOf = async (docId: string) => {
    let p = prefixes.get(docId);
    if (p === undefined) {
      p = versionChunkPrefix(await chunkIdPrefix(ns, docId), version);
      prefixes.set(docId, p);
    }
    return p;
  };

  // A document whose expiry has passed is not restored (it would be out of every search and purged
  // at once); one that expires later keeps its expiry.
  const now = Date.now();
  const expired = new Set<string>();
  const docs = (await read<DocumentLine>("documents")).filter((d) => {
    const gone = d.expiresAt !== undefined && d.expiresAt !== null && d.expiresAt <= now;
    if (gone) expired.add(d.id);
    return !gone;
  });
  const chunks: StoredChunk[] = [];
  for (const c of await read<ChunkLine>("chunks")) {
    if (expired.has(c.docId)) continue;
    chunks.push({ ...c, chunkId: chunkId(await prefixOf(c.docId), c.index) });
  }
  const chunkCounts = new Map<string, number>();
  for (const c of chunks) chunkCounts.set(c.docId, (chunkCounts.get(c.docId) ?? 0) + 1);

  const documents = await mapLimit(docs, R2_CONCURRENCY, async (d): Promise<RestoredDocument> => {
    const object = await r2("write document", () =>
      deps.blobs.put(documentKey(ns, d.id), d.bodyEncoding === "base64" ? fromBase64(d.body) : d.body, {
        httpMetadata: { contentType: d.contentType },
        customMetadata: restoredMetadata(d.customMetadata, job.id),
      }),
    );
    return {
      id: d.id,
      title: d.title,
      contentType: d.contentType,
      metadata: d.metadata,
      bytes: object.size,
      etag: object.etag,
      chunkCount: chunkCounts.get(d.id) ?? 0,
      createdAt: d.createdAt,
      expiresAt: d.expiresAt ?? null,
    };
  });

  const vectorNs = await vectorNamespace(ns, version);
  const records: VectorRecord[] = [];
  for (const v of await read<VectorLine>("vectors")) {
    if (expired.has(v.docId)) continue;
    records.push({
      id: chunkId(await prefixOf(v.docId), v.index),
      values: v.values,
      namespace: vectorNs,
      metadata: v.metadata,
    });
  }
  const mutationId = await upsertAll(deps.versions.index(job.version), records);
  return {
    documents,
    chunks,
    vectors: records.length,
    mutationId,
    // After the write returned: the index accepted it at or before this time.
    mutationAt: records.length > 0 ? Date.now() : null,
    probeVectorId: records[records.length - 1]?.id ?? null,
  };
}

// R2 allows 8,192 bytes of object metadata (https://developers.cloudflare.com/r2/platform/limits/);
// the restore's mark is left off an object whose custom metadata leaves it no room. Its create
// notification is then handled like any write's: ingested before the step commits its rows, it
// embeds the document again and its chunk rows make the step fail (the job fails with the reason).
const MAX_MARKED_METADATA_BYTES = 7 * 1024;

/**
 * The object's custom metadata, marked with the restore writing it: until the step commits the
 * document's row, its create notification is then recognised as the restore's (src/ingest/notifications.ts).
 */
function restoredMetadata(custom: Record<string, string>, job: string): Record<string, string> {
  const marked = { ...custom, [RESTORED_BY]: job };
  return utf8Bytes(JSON.stringify(marked)) <= MAX_MARKED_METADATA_BYTES ? marked : custom;
}

/**
 * Completes the restore once the index has applied its last vector write (polling meanwhile). The
 * index applies writes in order, so that write applied means all of them are. It is applied when
 * the index says so (its mutation id, or a time past it), or when a vector it wrote is readable:
 * the index may have applied a later write, such as another delivery's copy of the last step.
 */
async function settle(deps: BackupTaskDeps, job: Job): Promise<RestoreStepResult> {
  const jobs = new JobStore(deps.db);
  let caughtUp = job.lastMutationId === null;
  if (!caughtUp) {
    const index = deps.versions.index(job.version);
    const info = await index.describe();
    caughtUp =
      info.processedUpToMutation === job.lastMutationId ||
      (info.processedUpToDatetime !== null &&
        job.lastMutationAt !== null &&
        info.processedUpToDatetime >= job.lastMutationAt);
    if (!caughtUp && job.probeVectorId !== null) {
      const expected = await vectorNamespace(job.namespace, job.version.id);
      const [probe] = await index.getByIds([job.probeVectorId]);
      caughtUp = probe !== undefined && (probe.namespace === undefined || probe.namespace === expected);
    }
  }
  if (!caughtUp && Date.now() - job.updatedAt < SETTLE_LIMIT_MS) {
    // A new message, not a retry: waiting is not a failure and must not use up the attempts.
    await deps.queue.send(stepMessage("restore", job.id, job.step), {
      contentType: "json",
      delaySeconds: SETTLE_POLL_SECONDS,
    });
    return { applied: false, changed: false };
  }
  if (!caughtUp) {
    deps.logger.warn("restore.unsettled", {
      namespace: job.namespace,
      job: job.id,
      lastMutationId: job.lastMutationId,
    });
  }
  const applied = await jobs.complete(job, job.step);
  if (applied) {
    deps.logger.info("backup.restored", {
      namespace: job.namespace,
      job: job.id,
      from: job.from,
      documents: job.documents,
      chunks: job.chunks,
      vectors: job.vectors,
    });
  }
  return { applied, changed: applied };
}

/** A delivery of a restore step the job applied already: sends the next one if it never was. */
export async function restoreStepRedelivered(deps: BackupTaskDeps, job: Job, step: number): Promise<void> {
  if (job.sentStep > step) return;
  await sendStep(deps, job, step + 1);
}
