// Exports a namespace's active version to R2: its indexed documents (row, R2 text and custom
// metadata), their chunk rows and their vectors (values read back from the index, so a restore
// needs no embedding), as NDJSON parts and a manifest listing each part's SHA-256.
import { AppError } from "../errors";
import { r2 } from "../store/r2";
import { mapLimit } from "../util/concurrency";
import { documentKey } from "../validation";
import type { VectorIndex, VectorRecord } from "../vectors/vector-index";
import type { VersionSpec } from "../versions/model";
import { vectorNamespace } from "../versions/model";
import {
  BACKUP_FORMAT,
  backupPrefix,
  type ChunkLine,
  type DocumentLine,
  MAX_BACKUP_CHUNKS,
  MAX_BACKUP_DOCUMENTS,
  type Manifest,
  manifestKey,
  newBackupId,
  PART_BYTES,
  type Part,
  type PartKind,
  sha256Hex,
  utf8Bytes,
  type VectorLine,
} from "./format";
import type { BackupStore } from "./store";

export interface BackupDeps {
  blobs: R2Bucket;
  store: BackupStore;
  /** The vector index of `spec`. */
  index: VectorIndex;
}

// Vectorize returns values for at most 20 ids per call.
const VECTORS_PER_READ = 20;
const R2_CONCURRENCY = 8;

/** Writes NDJSON lines of one kind into parts of bounded size, recording each part. */
class PartWriter {
  private lines: string[] = [];
  private bytes = 0;
  private seq = 0;

  constructor(
    private readonly blobs: R2Bucket,
    private readonly prefix: string,
    private readonly kind: PartKind,
    private readonly parts: Part[],
  ) {}

  async add(line: unknown): Promise<void> {
    const text = JSON.stringify(line);
    this.lines.push(text);
    this.bytes += utf8Bytes(text) + 1;
    if (this.bytes >= PART_BYTES) await this.flush();
  }

  /** Closes the open part; a kind with no lines still gets one (empty) part. */
  async close(): Promise<void> {
    if (this.lines.length > 0 || this.seq === 0) await this.flush();
  }

  private async flush(): Promise<void> {
    const body = this.lines.map((l) => `${l}\n`).join("");
    const name = `${this.kind}-${String(this.seq).padStart(3, "0")}.ndjson`;
    this.seq += 1;
    const sha256 = await sha256Hex(body);
    await r2("write backup part", () =>
      this.blobs.put(`${this.prefix}${name}`, body, {
        httpMetadata: { contentType: "application/x-ndjson" },
      }),
    );
    this.parts.push({ kind: this.kind, name, sha256, lines: this.lines.length, bytes: utf8Bytes(body) });
    this.lines = [];
    this.bytes = 0;
  }
}

// Vector writes become readable asynchronously: a chunk indexed moments ago is asked for again
// briefly before the backup gives up (503, retry later).
const VECTOR_READ_DELAYS_MS = [100, 400];

async function readVectors(index: VectorIndex, ids: string[]): Promise<Map<string, VectorRecord>> {
  const found = new Map<string, VectorRecord>();
  for (let attempt = 0; ; attempt++) {
    const missing = ids.filter((id) => !found.has(id));
    for (const r of await index.getByIds(missing)) found.set(r.id, r);
    const delay = VECTOR_READ_DELAYS_MS[attempt];
    if (found.size === ids.length || delay === undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

export async function createBackup(
  deps: BackupDeps,
  namespace: string,
  spec: VersionSpec,
  now = Date.now(),
): Promise<Manifest> {
  const counts = await deps.store.countIndexed(namespace, spec.id);
  if (counts.documents > MAX_BACKUP_DOCUMENTS || counts.chunks > MAX_BACKUP_CHUNKS) {
    throw new AppError(
      "payload_too_large",
      `namespace "${namespace}" has ${counts.documents} documents and ${counts.chunks} chunks; a backup holds at most ${MAX_BACKUP_DOCUMENTS} documents and ${MAX_BACKUP_CHUNKS} chunks`,
    );
  }
  const backupId = newBackupId(now);
  const prefix = backupPrefix(namespace, backupId);
  const parts: Part[] = [];

  const documents = await deps.store.indexedDocuments(namespace, MAX_BACKUP_DOCUMENTS);
  const docWriter = new PartWriter(deps.blobs, prefix, "documents", parts);
  // Read in bounded windows so memory holds one part's worth of bodies, not the namespace's.
  for (let i = 0; i < documents.length; i += R2_CONCURRENCY * 4) {
    const window = documents.slice(i, i + R2_CONCURRENCY * 4);
    const lines = await mapLimit(window, R2_CONCURRENCY, async (doc): Promise<DocumentLine> => {
      const object = await r2("read document", () => deps.blobs.get(documentKey(namespace, doc.id)));
      if (!object || (doc.indexedEtag !== null && object.etag !== doc.indexedEtag)) {
        await object?.body.cancel();
        throw new AppError(
          "conflict",
          `document "${doc.id}" changed while the backup ran; retry once writes have settled`,
        );
      }
      return {
        id: doc.id,
        title: doc.title,
        contentType: doc.contentType,
        metadata: doc.metadata,
        createdAt: doc.createdAt,
        body: await r2("read document body", () => object.text()),
        customMetadata: object.customMetadata ?? {},
      };
    });
    for (const line of lines) await docWriter.add(line);
  }
  await docWriter.close();

  // A document indexed after the list above was read is left out whole, chunks included.
  const exported = new Set(documents.map((d) => d.id));
  const chunks = (await deps.store.versionChunks(namespace, spec.id)).filter((c) => exported.has(c.docId));
  const chunkWriter = new PartWriter(deps.blobs, prefix, "chunks", parts);
  for (const c of chunks) {
    const line: ChunkLine = {
      docId: c.docId,
      index: c.index,
      title: c.title,
      headings: c.headings,
      text: c.text,
      tokens: c.tokens,
    };
    await chunkWriter.add(line);
  }
  await chunkWriter.close();

  const vectorWriter = new PartWriter(deps.blobs, prefix, "vectors", parts);
  const expectedNamespace = await vectorNamespace(namespace, spec.id);
  for (let i = 0; i < chunks.length; i += VECTORS_PER_READ) {
    const batch = chunks.slice(i, i + VECTORS_PER_READ);
    const byId = await readVectors(
      deps.index,
      batch.map((c) => c.chunkId),
    );
    for (const c of batch) {
      const record = byId.get(c.chunkId);
      if (!record || (record.namespace !== undefined && record.namespace !== expectedNamespace)) {
        throw new AppError(
          "unavailable",
          `the vector of chunk "${c.chunkId}" of document "${c.docId}" is not readable yet; retry shortly`,
          { retryable: true, extra: { retryAfter: 10 } },
        );
      }
      const line: VectorLine = {
        id: c.chunkId,
        docId: c.docId,
        index: c.index,
        values: Array.from(record.values),
        metadata: record.metadata ?? {},
      };
      await vectorWriter.add(line);
    }
  }
  await vectorWriter.close();

  const manifest: Manifest = {
    format: BACKUP_FORMAT,
    namespace,
    backupId,
    createdAt: new Date(now).toISOString(),
    version: spec,
    counts: { documents: documents.length, chunks: chunks.length, vectors: chunks.length },
    files: parts,
  };
  await r2("write backup manifest", () =>
    deps.blobs.put(manifestKey(namespace, backupId), JSON.stringify(manifest, null, 2), {
      httpMetadata: { contentType: "application/json" },
      customMetadata: {
        createdAt: manifest.createdAt,
        documents: String(manifest.counts.documents),
        chunks: String(manifest.counts.chunks),
        model: spec.model,
      },
    }),
  );
  return manifest;
}
