// Restores a backup into an empty namespace: every part is checked against the manifest's SHA-256
// before anything is written; then the documents go to R2, the vectors (values copied, ids and
// vector namespace recomputed for the target) to the target's index, and last the D1 rows in one
// transaction. Until that transaction commits the target has no document rows, so it still
// counts as empty and a failed restore can simply be run again.
import { AppError } from "../errors";
import { chunkId, chunkIdPrefix } from "../ingest/ids";
import { upsertAll } from "../ingest/pipeline";
import { r2 } from "../store/r2";
import { mapLimit } from "../util/concurrency";
import { documentKey } from "../validation";
import type { VectorIndex, VectorRecord } from "../vectors/vector-index";
import { DEFAULT_VERSION, type VersionSpec, vectorNamespace, versionChunkPrefix } from "../versions/model";
import {
  backupPrefix,
  ChunkLineSchema,
  DocumentLineSchema,
  MAX_BACKUP_CHUNKS,
  MAX_BACKUP_DOCUMENTS,
  type Manifest,
  ManifestSchema,
  manifestKey,
  type Part,
  sha256Hex,
  VectorLineSchema,
} from "./format";
import type { BackupStore, RestoredDocument, StoredChunk } from "./store";

export interface RestoreDeps {
  blobs: R2Bucket;
  store: BackupStore;
}

export interface RestoreTarget {
  namespace: string;
  /** The target's active version and every live one (from its coordinator). */
  active: VersionSpec;
  live: VersionSpec[];
  /** The vector index of `active`. */
  index: VectorIndex;
}

export interface RestoreResult {
  documents: number;
  chunks: number;
  vectors: number;
}

const R2_CONCURRENCY = 8;

export async function readManifest(blobs: R2Bucket, namespace: string, backupId: string): Promise<Manifest> {
  const object = await r2("read backup manifest", () => blobs.get(manifestKey(namespace, backupId)));
  if (!object)
    throw new AppError("not_found", `backup ${backupId} of namespace "${namespace}" does not exist`);
  const text = await r2("read backup manifest", () => object.text());
  let parsed: ReturnType<typeof ManifestSchema.safeParse>;
  try {
    parsed = ManifestSchema.safeParse(JSON.parse(text));
  } catch {
    throw new AppError("unprocessable", `the manifest of backup ${backupId} is not JSON`);
  }
  if (!parsed.success || parsed.data.namespace !== namespace || parsed.data.backupId !== backupId) {
    throw new AppError("unprocessable", `the manifest of backup ${backupId} is not a valid manifest`);
  }
  const m = parsed.data;
  if (m.counts.documents > MAX_BACKUP_DOCUMENTS || m.counts.chunks > MAX_BACKUP_CHUNKS) {
    throw new AppError("payload_too_large", `backup ${backupId} is larger than a restore handles`);
  }
  return m;
}

/** Why the target cannot take this backup, or null. */
export async function restoreConflict(
  deps: RestoreDeps,
  manifest: Manifest,
  target: RestoreTarget,
): Promise<string | null> {
  const { active, live } = target;
  if (active.id !== DEFAULT_VERSION || live.length !== 1) {
    return `namespace "${target.namespace}" has index versions beyond ${DEFAULT_VERSION} (active: ${active.id}); restore needs a namespace that has only ${DEFAULT_VERSION}`;
  }
  const v = manifest.version;
  if (v.model !== active.model || v.dimensions !== active.dimensions || v.pooling !== active.pooling) {
    return `the backup's vectors come from ${v.model} (${v.dimensions} dimensions, ${v.pooling} pooling); namespace "${target.namespace}" uses ${active.model} (${active.dimensions} dimensions, ${active.pooling} pooling)`;
  }
  return deps.store.notEmptyReason(target.namespace, active.id);
}

/** The part's text, checked against the manifest. */
async function readPart(blobs: R2Bucket, manifest: Manifest, part: Part): Promise<string> {
  const key = `${backupPrefix(manifest.namespace, manifest.backupId)}${part.name}`;
  const object = await r2("read backup part", () => blobs.get(key));
  if (!object) throw new AppError("unprocessable", `backup part ${part.name} is missing`);
  const text = await r2("read backup part", () => object.text());
  if ((await sha256Hex(text)) !== part.sha256) {
    throw new AppError(
      "unprocessable",
      `backup part ${part.name} does not match its SHA-256 in the manifest`,
    );
  }
  return text;
}

function* lines<T>(text: string, part: Part, parse: (v: unknown) => T | null): Generator<T> {
  let n = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    n += 1;
    let value: T | null = null;
    try {
      value = parse(JSON.parse(line));
    } catch {
      value = null;
    }
    if (value === null)
      throw new AppError("unprocessable", `line ${n} of backup part ${part.name} is invalid`);
    yield value;
  }
}

const parser =
  <T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }) =>
  (v: unknown): T | null => {
    const r = schema.safeParse(v);
    return r.success ? r.data : null;
  };

export async function restoreBackup(
  deps: RestoreDeps,
  manifest: Manifest,
  target: RestoreTarget,
  now = Date.now(),
): Promise<RestoreResult> {
  const parts = (kind: Part["kind"]) => manifest.files.filter((f) => f.kind === kind);
  // Every part verified (and parsed) before the first write: a damaged backup writes nothing.
  for (const part of manifest.files) {
    const text = await readPart(deps.blobs, manifest, part);
    const parse: (v: unknown) => unknown =
      part.kind === "documents"
        ? parser(DocumentLineSchema)
        : part.kind === "chunks"
          ? parser(ChunkLineSchema)
          : parser(VectorLineSchema);
    let count = 0;
    for (const _ of lines(text, part, parse)) count += 1;
    if (count !== part.lines) {
      throw new AppError(
        "unprocessable",
        `backup part ${part.name} has ${count} lines; the manifest says ${part.lines}`,
      );
    }
  }

  const ns = target.namespace;
  const version = target.active.id;
  const prefixes = new Map<string, string>();
  const prefixOf = async (docId: string) => {
    let p = prefixes.get(docId);
    if (p === undefined) {
      p = versionChunkPrefix(await chunkIdPrefix(ns, docId), version);
      prefixes.set(docId, p);
    }
    return p;
  };

  const chunks: StoredChunk[] = [];
  for (const part of parts("chunks")) {
    for (const c of lines(await readPart(deps.blobs, manifest, part), part, parser(ChunkLineSchema))) {
      chunks.push({ ...c, chunkId: chunkId(await prefixOf(c.docId), c.index) });
    }
  }
  const chunkCounts = new Map<string, number>();
  for (const c of chunks) chunkCounts.set(c.docId, (chunkCounts.get(c.docId) ?? 0) + 1);

  const documents: RestoredDocument[] = [];
  for (const part of parts("documents")) {
    const docs = [...lines(await readPart(deps.blobs, manifest, part), part, parser(DocumentLineSchema))];
    const written = await mapLimit(docs, R2_CONCURRENCY, async (d) => {
      const object = await r2("write document", () =>
        deps.blobs.put(documentKey(ns, d.id), d.body, {
          httpMetadata: { contentType: d.contentType },
          customMetadata: d.customMetadata,
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
      };
    });
    documents.push(...written);
  }

  const vectorNs = await vectorNamespace(ns, version);
  let vectors = 0;
  for (const part of parts("vectors")) {
    const records: VectorRecord[] = [];
    for (const v of lines(await readPart(deps.blobs, manifest, part), part, parser(VectorLineSchema))) {
      if (v.values.length !== target.active.dimensions) {
        throw new AppError(
          "unprocessable",
          `a vector in backup part ${part.name} has ${v.values.length} dimensions`,
        );
      }
      records.push({
        id: chunkId(await prefixOf(v.docId), v.index),
        values: v.values,
        namespace: vectorNs,
        metadata: v.metadata,
      });
    }
    await upsertAll(target.index, records);
    vectors += records.length;
  }

  await deps.store.writeRestored(ns, version, documents, chunks, now);
  return { documents: documents.length, chunks: chunks.length, vectors };
}
