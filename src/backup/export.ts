// Backup steps: each exports one page of the namespace's indexed documents, in id order from the
// job's cursor, as three NDJSON parts named by the step (documents: row, R2 text and custom
// metadata; chunks: rows; vectors: values read back from the index, so a restore needs no
// embedding), and the last step writes the manifest listing every part's SHA-256.
//
// A step first applies itself to the job (a compare-and-set on the step number that also records
// its parts' hashes), then writes the parts, then sends the next step. So of two deliveries of a
// step only one applies, and only content whose hash the job holds is ever written. A delivery
// that finds its step applied but the next one never sent (a crash in between) writes the parts
// again if they are missing, from the step's recorded start, and sends the next step.
//
// Per document the backup is consistent: its row and chunks come from one D1 transaction, its
// vectors are read once its last write has had time to reach the index (the same settle time the
// result cache assumes), and its R2 object is read after the vectors and must carry the eTag the
// row was indexed at. A newer write reaches R2 before its vectors are written, so a vector read
// that precedes an unchanged R2 read belongs to that eTag. A document deleted meanwhile is left
// out; one that changed meanwhile makes the step retry.
import { AppError } from "../errors";
import { convertedType } from "../ingest/convert/converter";
import { RESTORED_BY } from "../ingest/notifications";
import { redactText } from "../redaction/scan";
import { RedactionStore } from "../redaction/settings";
import { d1 } from "../store/d1";
import type { DocumentRecord } from "../store/documents";
import { r2 } from "../store/r2";
import { mapLimit } from "../util/concurrency";
import { base64 } from "../util/encoding";
import { documentKey } from "../validation";
import { getVectors } from "../vectors/paging";
import type { VectorRecord } from "../vectors/vector-index";
import { vectorNamespace } from "../versions/model";
import {
  BACKUP_FORMAT,
  backupPrefix,
  type ChunkLine,
  type DocumentLine,
  type Manifest,
  manifestKey,
  PART_KINDS,
  type Part,
  type PartKind,
  partName,
  sha256Hex,
  utf8Bytes,
  type VectorLine,
} from "./format";
import { type Job, JobStore, stepGuard } from "./jobs";
import { type BackupTaskDeps, sendStep, startJob } from "./messages";
import { orderedParts, partCounts } from "./parts";
import { signManifest } from "./signature";
import { BackupStore, type StoredChunk } from "./store";

/** getByIds calls in flight while reading a part's vectors. */
const VECTOR_READ_CONCURRENCY = 4;
const R2_CONCURRENCY = 8;
// Vector writes become readable asynchronously: ids still missing are asked for again briefly.
const VECTOR_READ_DELAYS_MS = [100, 400];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a backup of the namespace's `version`: the job, and its first step on the queue. */
export async function startBackup(
  deps: Pick<BackupTaskDeps, "db" | "queue" | "pool">,
  namespace: string,
  version: Job["version"],
  pageSize: number,
  id: string,
  now = Date.now(),
): Promise<Job> {
  const totals = await new BackupStore(deps.pool.writes(namespace)).countIndexed(namespace, version.id);
  return startJob(
    deps,
    {
      id,
      kind: "backup",
      namespace,
      phase: "pages",
      pageSize,
      version,
      totalDocuments: totals.documents,
      totalChunks: totals.chunks,
    },
    now,
  );
}

interface BuiltPart extends Part {
  step: number;
  text: string;
}

interface Page {
  parts: BuiltPart[];
  documents: number;
  chunks: number;
  /** Where the next step starts, and whether there is one. */
  last: string;
  more: boolean;
}

/** Runs step `job.step` of a backup. Returns whether this delivery applied it. */
export async function backupStep(deps: BackupTaskDeps, job: Job): Promise<boolean> {
  const jobs = new JobStore(deps.db);
  const step = job.step;
  if (job.phase === "manifest") {
    await writeManifest(deps, job);
    return jobs.complete(job, step);
  }
  const { live } = await deps.versions.coordinator(job.namespace).writeTargets();
  if (!live.some((v) => v.id === job.version.id)) {
    throw new AppError(
      "conflict",
      `version ${job.version.id} was retired while the backup ran; start a new backup`,
    );
  }
  const page = await readPage(deps, job, job.cursor, step);
  const applied = await commitPage(deps.db, job, step, page);
  if (!applied) return false;
  await putParts(deps.backups, job, page.parts);
  await sendStep(deps, job, step + 1);
  deps.logger.info("backup.step", {
    namespace: job.namespace,
    job: job.id,
    step,
    documents: page.documents,
    chunks: page.chunks,
    more: page.more,
  });
  return true;
}

/**
 * A delivery of step `step` after the job applied it: if the next step was never sent, makes sure
 * the step's parts exist (writing them again when they are missing and the documents are as they
 * were), then sends it.
 */
export async function backupStepRedelivered(deps: BackupTaskDeps, job: Job, step: number): Promise<void> {
  if (job.sentStep > step) return;
  const { results } = await d1("read backup parts", () =>
    deps.db
      .prepare("SELECT name, sha256, from_cursor FROM backup_parts WHERE job_id = ?1 AND step = ?2")
      .bind(job.id, step)
      .all<{ name: string; sha256: string; from_cursor: string }>(),
  );
  const prefix = backupPrefix(job.namespace, job.id);
  const missing: string[] = [];
  for (const part of results) {
    const head = await r2("head backup part", () => deps.backups.head(`${prefix}${part.name}`));
    if (head?.customMetadata?.sha256 !== part.sha256) missing.push(part.name);
  }
  const first = results[0];
  if (missing.length > 0 && first) {
    const page = await readPage(deps, job, first.from_cursor, step);
    const wanted = new Map(results.map((p) => [p.name, p.sha256]));
    const same =
      page.parts.length === results.length && page.parts.every((p) => wanted.get(p.name) === p.sha256);
    if (!same) {
      throw new AppError(
        "conflict",
        `parts of step ${step} (${missing.join(", ")}) were not written and the documents have changed since; start a new backup`,
      );
    }
    await putParts(deps.backups, job, page.parts);
  }
  await sendStep(deps, job, step + 1);
}

async function readPage(deps: BackupTaskDeps, job: Job, after: string, step: number): Promise<Page> {
  const store = new BackupStore(deps.pool.writes(job.namespace));
  const end = await store.pageEnd(job.namespace, after, job.pageSize);
  if (end === null) return { parts: [], documents: 0, chunks: 0, last: after, more: false };
  const { documents, chunks } = await store.page(job.namespace, job.version.id, after, end.last);

  // Vectors written moments ago may not be readable yet, or readable at their previous values.
  const settleMs = deps.config.resultCacheSettleMs;
  const newest = Math.max(0, ...documents.map((d) => d.indexedAt ?? 0));
  const wait = Math.min(settleMs, newest + settleMs - Date.now());
  if (wait > 0) await sleep(wait);

  const vectors = await readVectors(deps, job, chunks);
  // A namespace that redacts personal data has its documents' text redacted in the backup too
  // (a restore then writes the redacted text back as the document).
  const redaction = await new RedactionStore(deps.db).get(job.namespace);
  const bodies = (
    await mapLimit(documents, R2_CONCURRENCY, (doc) => readBody(deps.blobs, job.namespace, doc))
  ).map((body) => body && (body.encoding ? body : { ...body, text: redactText(body.text, redaction).text }));
  const lines = pageLines(documents, chunks, bodies, vectors);
  return {
    parts: await buildParts(lines, step),
    documents: lines.documents.length,
    chunks: lines.chunks.length,
    last: end.last,
    more: end.more,
  };
}

/** The page's NDJSON lines by part kind; a document deleted meanwhile is left out, with its chunks. */
function pageLines(
  documents: readonly DocumentRecord[],
  chunks: readonly StoredChunk[],
  bodies: readonly (DocumentBody | null)[],
  vectors: ReadonlyMap<string, VectorRecord>,
): Record<PartKind, string[]> {
  const lines: Record<PartKind, string[]> = { documents: [], chunks: [], vectors: [] };
  const byDoc = new Map<string, StoredChunk[]>();
  for (const c of chunks) {
    const own = byDoc.get(c.docId);
    if (own) own.push(c);
    else byDoc.set(c.docId, [c]);
  }
  documents.forEach((doc, i) => {
    const body = bodies[i];
    if (body === null || body === undefined) return; // deleted meanwhile: not in the snapshot
    const own = byDoc.get(doc.id) ?? [];
    const line: DocumentLine = {
      id: doc.id,
      title: doc.title,
      contentType: doc.contentType,
      metadata: doc.metadata,
      createdAt: doc.createdAt,
      expiresAt: doc.expiresAt,
      body: body.text,
      ...(body.encoding ? { bodyEncoding: body.encoding } : {}),
      customMetadata: body.customMetadata,
    };
    lines.documents.push(JSON.stringify(line));
    for (const c of own) {
      const record = vectors.get(c.chunkId);
      if (!record) {
        throw new AppError(
          "unavailable",
          `the vector of chunk "${c.chunkId}" of document "${doc.id}" is not readable yet`,
          { retryable: true },
        );
      }
      const chunk: ChunkLine = {
        docId: c.docId,
        index: c.index,
        title: c.title,
        headings: c.headings,
        text: c.text,
        tokens: c.tokens,
      };
      const vector: VectorLine = {
        id: c.chunkId,
        docId: c.docId,
        index: c.index,
        values: Array.from(record.values),
        metadata: record.metadata ?? {},
      };
      lines.chunks.push(JSON.stringify(chunk));
      lines.vectors.push(JSON.stringify(vector));
    }
  });
  return lines;
}

/** One part per kind, hashed, for a page that holds any document; none for an empty one. */
async function buildParts(lines: Record<PartKind, string[]>, step: number): Promise<BuiltPart[]> {
  const parts: BuiltPart[] = [];
  if (lines.documents.length > 0) {
    for (const kind of PART_KINDS) {
      const text = lines[kind].map((l) => `${l}\n`).join("");
      parts.push({
        kind,
        name: partName(kind, step),
        step,
        sha256: await sha256Hex(text),
        lines: lines[kind].length,
        bytes: utf8Bytes(text),
        text,
      });
    }
  }
  return parts;
}

async function readVectors(
  deps: BackupTaskDeps,
  job: Job,
  chunks: StoredChunk[],
): Promise<Map<string, VectorRecord>> {
  const index = deps.versions.index(job.version);
  const expected = await vectorNamespace(job.namespace, job.version.id);
  const found = new Map<string, VectorRecord>();
  const ids = chunks.map((c) => c.chunkId);
  for (let attempt = 0; ; attempt++) {
    const missing = ids.filter((id) => !found.has(id));
    for (const record of await getVectors(index, missing, VECTOR_READ_CONCURRENCY)) {
      if (record.namespace === undefined || record.namespace === expected) found.set(record.id, record);
    }
    const delay = VECTOR_READ_DELAYS_MS[attempt];
    if (found.size === ids.length || delay === undefined) return found;
    await sleep(delay);
  }
}

interface DocumentBody {
  text: string;
  /** A file's bytes are kept as they were uploaded, in base64; text is kept as text. */
  encoding?: "base64";
  customMetadata: Record<string, string>;
}

/** The document's R2 text and custom metadata, or null when it was deleted meanwhile. */
async function readBody(
  blobs: R2Bucket,
  namespace: string,
  doc: DocumentRecord,
): Promise<DocumentBody | null> {
  const object = await r2("read document", () => blobs.get(documentKey(namespace, doc.id)));
  if (!object) return null;
  if (object.etag !== doc.indexedEtag) {
    await object.body.cancel();
    throw new AppError("unavailable", `document "${doc.id}" changed while the backup read it`, {
      retryable: true,
    });
  }
  // A restore's mark belongs to that restore, not to the document.
  const { [RESTORED_BY]: _, ...customMetadata } = object.customMetadata ?? {};
  if (convertedType(doc.contentType) !== null) {
    const bytes = new Uint8Array(await r2("read document body", () => object.arrayBuffer()));
    return { text: base64(bytes), encoding: "base64", customMetadata };
  }
  return { text: await r2("read document body", () => object.text()), customMetadata };
}

/** Applies the step: records its parts and advances the job, in one transaction. */
async function commitPage(db: D1Database, job: Job, step: number, page: Page): Promise<boolean> {
  const jobs = new JobStore(db);
  const record = db.prepare(
    `INSERT INTO backup_parts (job_id, name, step, kind, sha256, lines, bytes, from_cursor)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
     WHERE ${stepGuard(1, 3)}
     ON CONFLICT (job_id, name) DO NOTHING`,
  );
  const statements = page.parts.map((p) =>
    record.bind(job.id, p.name, step, p.kind, p.sha256, p.lines, p.bytes, job.cursor),
  );
  statements.push(
    jobs.advance(job, step, {
      phase: page.more ? "pages" : "manifest",
      cursor: page.last,
      documents: page.documents,
      chunks: page.chunks,
      vectors: page.chunks,
    }),
  );
  const results = await d1("apply backup step", () => db.batch(statements));
  return results[results.length - 1]?.meta.changes === 1;
}

async function putParts(backups: R2Bucket, job: Job, parts: BuiltPart[]): Promise<void> {
  const prefix = backupPrefix(job.namespace, job.id);
  for (const part of parts) {
    await r2("write backup part", () =>
      backups.put(`${prefix}${part.name}`, part.text, {
        httpMetadata: { contentType: "application/x-ndjson" },
        // R2 checks the upload against it; a redelivered step compares it with the job's record.
        sha256: part.sha256,
        customMetadata: { sha256: part.sha256 },
      }),
    );
  }
}

async function writeManifest(deps: BackupTaskDeps, job: Job): Promise<Manifest> {
  const { results } = await d1("read backup parts", () =>
    deps.db
      .prepare("SELECT kind, name, step, sha256, lines, bytes FROM backup_parts WHERE job_id = ?1")
      .bind(job.id)
      .all<{ kind: PartKind; name: string; step: number; sha256: string; lines: number; bytes: number }>(),
  );
  const files = orderedParts(results);
  const manifest: Manifest = {
    format: BACKUP_FORMAT,
    namespace: job.namespace,
    backupId: job.id,
    createdAt: new Date(job.createdAt).toISOString(),
    version: job.version,
    counts: partCounts(files),
    files,
  };
  const text = JSON.stringify(manifest, null, 2);
  const signed = await signManifest(deps.config, text);
  await r2("write backup manifest", () =>
    deps.backups.put(manifestKey(job.namespace, job.id), text, {
      httpMetadata: { contentType: "application/json" },
      customMetadata: {
        createdAt: manifest.createdAt,
        documents: String(manifest.counts.documents),
        chunks: String(manifest.counts.chunks),
        model: job.version.model,
        ...signed,
      },
    }),
  );
  deps.logger.info("backup.created", {
    namespace: job.namespace,
    backupId: job.id,
    documents: manifest.counts.documents,
    chunks: manifest.counts.chunks,
    parts: files.length,
  });
  return manifest;
}
