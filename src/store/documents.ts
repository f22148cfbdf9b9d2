// Documents and chunks in D1. Every write that commits ingest results is conditional on the
// R2 eTag the document row expects, so a slow worker holding an old version can never
// overwrite a newer one, and chunk rows, the namespace's keyword index rows and the document row
// change in one transaction.
import { z } from "zod";
import type { Metadata } from "../validation";
import { d1 } from "./d1";
import { ensureKeywordIndex, keywordRows, keywordTable } from "./keyword";

export type DocumentStatus = "queued" | "indexed" | "failed" | "deleted";

export interface DocumentRecord {
  namespace: string;
  id: string;
  status: DocumentStatus;
  title: string | null;
  contentType: string;
  metadata: Metadata;
  bytes: number;
  etag: string | null;
  indexedEtag: string | null;
  version: string | null;
  chunkCount: number;
  error: string | null;
  attempts: number;
  createdAt: number;
  updatedAt: number;
  indexedAt: number | null;
}

export interface ChunkRow {
  chunkId: string;
  index: number;
  title: string | null;
  headings: string[];
  text: string;
  tokens: number;
}

export interface HydratedChunk {
  chunkId: string;
  docId: string;
  index: number;
  title: string | null;
  headings: string[];
  text: string;
  metadata: Metadata;
}

export interface NamespaceStats {
  documents: number;
  chunks: number;
  pending: number;
  failed: number;
  deleted: number;
  generation: number;
}

const DocumentRowSchema = z.object({
  namespace: z.string(),
  id: z.string(),
  status: z.enum(["queued", "indexed", "failed", "deleted"]),
  title: z.string().nullable(),
  content_type: z.string(),
  metadata: z.string(),
  bytes: z.number(),
  etag: z.string().nullable(),
  indexed_etag: z.string().nullable(),
  version: z.string().nullable(),
  chunk_count: z.number(),
  error: z.string().nullable(),
  attempts: z.number(),
  created_at: z.number(),
  updated_at: z.number(),
  indexed_at: z.number().nullable(),
});

const HydrateRowSchema = z.object({
  chunk_id: z.string(),
  doc_id: z.string(),
  idx: z.number(),
  title: z.string().nullable(),
  headings: z.string(),
  text: z.string(),
  metadata: z.string(),
});

function parseJson<T>(s: string, fallback: T): T {
  try {
    return JSON.parse(s) as T;
  } catch {
    return fallback;
  }
}

function toRecord(row: unknown): DocumentRecord {
  const r = DocumentRowSchema.parse(row);
  return {
    namespace: r.namespace,
    id: r.id,
    status: r.status,
    title: r.title,
    contentType: r.content_type,
    metadata: parseJson<Metadata>(r.metadata, {}),
    bytes: r.bytes,
    etag: r.etag,
    indexedEtag: r.indexed_etag,
    version: r.version,
    chunkCount: r.chunk_count,
    error: r.error,
    attempts: r.attempts,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    indexedAt: r.indexed_at,
  };
}

export interface QueuedDocument {
  id: string;
  title: string | null;
  contentType: string;
  metadata: Metadata;
  bytes: number;
  etag: string;
}

export class DocumentStore {
  constructor(private readonly db: D1Database) {}

  /** Marks documents as accepted and queued at the given R2 eTags (insert or replace the intent). */
  async upsertQueued(namespace: string, docs: QueuedDocument[], now = Date.now()): Promise<void> {
    if (docs.length === 0) return;
    const stmt = this.db.prepare(
      `INSERT INTO documents (namespace, id, status, title, content_type, metadata, bytes, etag, attempts, error, created_at, updated_at)
       VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?7, 0, NULL, ?8, ?8)
       ON CONFLICT (namespace, id) DO UPDATE SET status = 'queued', title = excluded.title,
         content_type = excluded.content_type, metadata = excluded.metadata, bytes = excluded.bytes,
         etag = excluded.etag, attempts = 0, error = NULL, updated_at = excluded.updated_at`,
    );
    const statements = docs.map((d) =>
      stmt.bind(namespace, d.id, d.title, d.contentType, JSON.stringify(d.metadata), d.bytes, d.etag, now),
    );
    await d1("upsert documents", () =>
      this.db.batch([...statements, this.touchNamespace(namespace, now, 0)]),
    );
  }

  async get(namespace: string, id: string): Promise<DocumentRecord | null> {
    const row = await d1("read document", () =>
      this.db.prepare("SELECT * FROM documents WHERE namespace = ?1 AND id = ?2").bind(namespace, id).first(),
    );
    return row ? toRecord(row) : null;
  }

  /**
   * Replaces the document's chunks and marks it indexed, only if its row still expects `etag`.
   * Returns false when a newer write superseded this one (nothing was changed).
   */
  async commitIndexed(
    namespace: string,
    id: string,
    etag: string,
    result: { version: string; chunks: ChunkRow[]; title: string | null },
    now = Date.now(),
  ): Promise<boolean> {
    const guard = "EXISTS (SELECT 1 FROM documents WHERE namespace = ?1 AND id = ?2 AND etag = ?3)";
    const documentChunks = `namespace = ?1 AND doc_id = ?2 AND ${guard}`;
    const keyword = await keywordTable(namespace);
    const statements: D1PreparedStatement[] = [
      ...ensureKeywordIndex(this.db, keyword, namespace, now),
      keywordRows(this.db, keyword, "unindex", documentChunks).bind(namespace, id, etag),
      this.db.prepare(`DELETE FROM chunks WHERE ${documentChunks}`).bind(namespace, id, etag),
    ];
    const insert = this.db.prepare(
      `INSERT INTO chunks (chunk_id, namespace, doc_id, idx, title, headings, text, tokens)
       SELECT ?4, ?1, ?2, ?5, ?6, ?7, ?8, ?9 WHERE ${guard}`,
    );
    for (const c of result.chunks) {
      statements.push(
        insert.bind(
          namespace,
          id,
          etag,
          c.chunkId,
          c.index,
          c.title,
          JSON.stringify(c.headings),
          c.text,
          c.tokens,
        ),
      );
    }
    statements.push(
      keywordRows(this.db, keyword, "index", documentChunks).bind(namespace, id, etag),
      this.db
        .prepare(
          `UPDATE documents SET status = 'indexed', indexed_etag = ?3, version = ?4, chunk_count = ?5,
             title = COALESCE(title, ?6), error = NULL, updated_at = ?7, indexed_at = ?7
           WHERE namespace = ?1 AND id = ?2 AND etag = ?3`,
        )
        .bind(namespace, id, etag, result.version, result.chunks.length, result.title, now),
      this.touchNamespace(namespace, now, 1),
    );
    const results = await d1("commit chunks", () => this.db.batch(statements));
    const update = results[results.length - 2];
    return (update?.meta.changes ?? 0) > 0;
  }

  /** Records a permanent failure for the version `etag`; the previous chunks (if any) stay live. */
  async markFailed(
    namespace: string,
    id: string,
    etag: string,
    error: string,
    now = Date.now(),
  ): Promise<void> {
    await d1("mark failed", () =>
      this.db
        .prepare(
          `UPDATE documents SET status = 'failed', error = ?4, updated_at = ?5
           WHERE namespace = ?1 AND id = ?2 AND etag = ?3 AND status = 'queued'`,
        )
        .bind(namespace, id, etag, error.slice(0, 1000), now)
        .run(),
    );
  }

  /** Notes a transient failure; the document stays queued while the message is retried. */
  async recordAttempt(namespace: string, id: string, error: string, attempts: number, now = Date.now()) {
    await d1("record attempt", () =>
      this.db
        .prepare(
          `UPDATE documents SET error = ?3, attempts = ?4, updated_at = ?5
           WHERE namespace = ?1 AND id = ?2 AND status = 'queued'`,
        )
        .bind(namespace, id, error.slice(0, 1000), attempts, now)
        .run(),
    );
  }

  /**
   * Marks documents deleted and removes their chunks (so searches stop returning them at
   * once); their vectors are removed by the consumer, which reads chunk_count for that.
   */
  async markDeleted(namespace: string, ids: string[], now = Date.now()): Promise<void> {
    if (ids.length === 0) return;
    const keyword = await keywordTable(namespace);
    const statements = ensureKeywordIndex(this.db, keyword, namespace, now);
    for (const id of ids) {
      statements.push(
        keywordRows(this.db, keyword, "unindex", "namespace = ?1 AND doc_id = ?2").bind(namespace, id),
        this.db.prepare("DELETE FROM chunks WHERE namespace = ?1 AND doc_id = ?2").bind(namespace, id),
        this.db
          .prepare(
            `UPDATE documents SET status = 'deleted', etag = NULL, indexed_etag = NULL, error = NULL, updated_at = ?3
             WHERE namespace = ?1 AND id = ?2`,
          )
          .bind(namespace, id, now),
      );
    }
    statements.push(this.touchNamespace(namespace, now, 1));
    await d1("delete documents", () => this.db.batch(statements));
  }

  /** After the consumer removed a deleted document's vectors. */
  async clearVectors(namespace: string, id: string, now = Date.now()): Promise<void> {
    await d1("clear vectors", () =>
      this.db
        .prepare(
          `UPDATE documents SET chunk_count = 0, updated_at = ?3
           WHERE namespace = ?1 AND id = ?2 AND status = 'deleted'`,
        )
        .bind(namespace, id, now)
        .run(),
    );
  }

  /** Ids of the namespace's documents that are not deleted, in id order, from `after`. */
  async listLiveIds(namespace: string, limit: number, after = ""): Promise<string[]> {
    const { results } = await d1("list documents", () =>
      this.db
        .prepare(
          "SELECT id FROM documents WHERE namespace = ?1 AND status != 'deleted' AND id > ?2 ORDER BY id LIMIT ?3",
        )
        .bind(namespace, after, limit)
        .all<{ id: string }>(),
    );
    return results.map((r) => r.id);
  }

  async stats(namespace: string): Promise<NamespaceStats> {
    const [counts, chunks, ns] = await d1("namespace stats", () =>
      this.db.batch([
        this.db
          .prepare("SELECT status, COUNT(*) AS n FROM documents WHERE namespace = ?1 GROUP BY status")
          .bind(namespace),
        this.db.prepare("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1").bind(namespace),
        this.db.prepare("SELECT generation FROM namespaces WHERE name = ?1").bind(namespace),
      ]),
    );
    const byStatus = new Map<string, number>();
    for (const row of (counts?.results ?? []) as { status: string; n: number }[])
      byStatus.set(row.status, row.n);
    const chunkRow = (chunks?.results?.[0] ?? { n: 0 }) as { n: number };
    const nsRow = (ns?.results?.[0] ?? { generation: 0 }) as { generation: number };
    return {
      documents: byStatus.get("indexed") ?? 0,
      chunks: chunkRow.n,
      pending: byStatus.get("queued") ?? 0,
      failed: byStatus.get("failed") ?? 0,
      deleted: byStatus.get("deleted") ?? 0,
      generation: nsRow.generation,
    };
  }

  /** Text, title and metadata of live chunks, in one query (json_each keeps it to one bound parameter). */
  async hydrate(namespace: string, chunkIds: string[]): Promise<Map<string, HydratedChunk>> {
    const out = new Map<string, HydratedChunk>();
    if (chunkIds.length === 0) return out;
    const { results } = await d1("hydrate chunks", () =>
      this.db
        .prepare(
          `SELECT c.chunk_id, c.doc_id, c.idx, d.title, c.headings, c.text, d.metadata
           FROM chunks c JOIN documents d ON d.namespace = c.namespace AND d.id = c.doc_id
           WHERE c.namespace = ?1 AND c.chunk_id IN (SELECT value FROM json_each(?2))`,
        )
        .bind(namespace, JSON.stringify(chunkIds))
        .all(),
    );
    for (const raw of results) {
      const r = HydrateRowSchema.parse(raw);
      out.set(r.chunk_id, {
        chunkId: r.chunk_id,
        docId: r.doc_id,
        index: r.idx,
        title: r.title,
        headings: parseJson<string[]>(r.headings, []),
        text: r.text,
        metadata: parseJson<Metadata>(r.metadata, {}),
      });
    }
    return out;
  }

  private touchNamespace(namespace: string, now: number, bump: 0 | 1): D1PreparedStatement {
    return this.db
      .prepare(
        `INSERT INTO namespaces (name, generation, created_at, updated_at) VALUES (?1, ?3, ?2, ?2)
         ON CONFLICT (name) DO UPDATE SET generation = generation + ?3, updated_at = ?2`,
      )
      .bind(namespace, now, bump);
  }
}
