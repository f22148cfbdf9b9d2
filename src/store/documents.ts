// Documents and chunks in D1. Every write that commits ingest results is conditional on the
// R2 eTag the document row expects, so a slow worker holding an old version can never
// overwrite a newer one, and chunk rows, the namespace's keyword index rows and the document row
// change in one transaction.
import { z } from "zod";
import type { RedactionCounts } from "../redaction/scan";
import type { Metadata } from "../validation";
import { DEFAULT_VERSION } from "../versions/model";
import { type D1Like, d1 } from "./d1";
import { D1_LIMITS, jsonArraySlices } from "./d1-limits";
import { type HydratedChunk, hydratedChunk, parseJson } from "./hydrated-chunk";
import { ensureKeywordIndex, keywordRows, keywordTable, keywordTables } from "./keyword";

export type { HydratedChunk } from "./hydrated-chunk";

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
  /** Epoch ms after which the document is out of search results and due for purging; null = never. */
  expiresAt: number | null;
  /** How many of each kind of personal data its indexed text had redacted (src/redaction/). */
  redactions: RedactionCounts;
}

export interface ChunkRow {
  chunkId: string;
  index: number;
  title: string | null;
  headings: string[];
  text: string;
  tokens: number;
}

/** One version's chunks of a document. */
export interface VersionChunks {
  version: string;
  chunks: ChunkRow[];
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
  expires_at: z.number().nullable().optional(),
  redactions: z.string().nullable().optional(),
});

const ChunkReadSchema = z.object({
  chunk_id: z.string(),
  idx: z.number(),
  title: z.string().nullable(),
  headings: z.string(),
  text: z.string(),
  tokens: z.number(),
});

/** The `redactions` column: the counts as JSON, NULL when nothing was redacted. */
function redactionsColumn(counts: RedactionCounts | undefined): string | null {
  return counts && Object.keys(counts).length > 0 ? JSON.stringify(counts) : null;
}

/** A `documents` row (all its columns) as a record. */
export function documentRecord(row: unknown): DocumentRecord {
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
    expiresAt: r.expires_at ?? null,
    redactions: r.redactions ? parseJson<RedactionCounts>(r.redactions, {}) : {},
  };
}

export interface QueuedDocument {
  id: string;
  title: string | null;
  contentType: string;
  metadata: Metadata;
  bytes: number;
  etag: string;
  /** Epoch ms; null = never expires. */
  expiresAt?: number | null;
}

/** Where a namespace's statements run: its reads, and its writes (with the reads around them). */
export interface NamespaceDatabases {
  reads(namespace: string): D1Like;
  writes(namespace: string): D1Like;
}

export class DocumentStore {
  private readonly route: NamespaceDatabases;

  /** On one database (tests, tools), or on each namespace's database of the pool. */
  constructor(db: D1Like | NamespaceDatabases) {
    this.route = "prepare" in db ? { reads: () => db, writes: () => db } : db;
  }

  /**
   * Marks documents as accepted and queued at the given R2 eTags (insert or replace the intent),
   * except a row already indexed at that eTag with the same title, content type and metadata:
   * the R2 write's notification may have been ingested before this call (the object is written
   * first), and that row is the final state. Returns the ids of rows that were indexed or failed
   * at the same eTag and are queued again (their metadata changed, or they failed): the
   * notification for that eTag may be spent, so the caller has to enqueue them itself.
   */
  async upsertQueued(namespace: string, docs: QueuedDocument[], now = Date.now()): Promise<string[]> {
    const db = this.route.writes(namespace);
    if (docs.length === 0) return [];
    const done = db
      .prepare(
        // Driven from the id list (CROSS JOIN fixes the order): left to itself, SQLite walks the
        // namespace's indexed and failed rows (documents_by_status) and tests each against the list.
        `SELECT d.id FROM json_each(?2) j
         CROSS JOIN documents d ON d.namespace = ?1 AND d.id = json_extract(j.value, '$.id')
           AND d.etag = json_extract(j.value, '$.etag') AND d.status IN ('indexed', 'failed')`,
      )
      .bind(namespace, JSON.stringify(docs.map((d) => ({ id: d.id, etag: d.etag }))));
    // One statement per 2,000,000-byte slice of rows, not one per document: a batch of 1,000
    // documents stays within D1's queries per invocation. RETURNING lists the rows inserted or
    // updated (a row the WHERE keeps as it is returns nothing).
    const insert = db.prepare(
      `INSERT INTO documents (namespace, id, status, title, content_type, metadata, bytes, etag, attempts, error, created_at, updated_at, expires_at)
       SELECT ?1, json_extract(j.value, '$[0]'), 'queued', json_extract(j.value, '$[1]'),
         json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]'), json_extract(j.value, '$[4]'),
         json_extract(j.value, '$[5]'), 0, NULL, ?2, ?2, json_extract(j.value, '$[6]')
       FROM json_each(?3) j WHERE true
       ON CONFLICT (namespace, id) DO UPDATE SET status = 'queued', title = excluded.title,
         content_type = excluded.content_type, metadata = excluded.metadata, bytes = excluded.bytes,
         etag = excluded.etag, attempts = 0, error = NULL, updated_at = excluded.updated_at,
         expires_at = excluded.expires_at
       WHERE NOT (documents.status = 'indexed' AND documents.etag IS excluded.etag
         AND documents.indexed_etag IS excluded.etag AND documents.title IS excluded.title
         AND documents.content_type IS excluded.content_type AND documents.metadata IS excluded.metadata
         AND documents.expires_at IS excluded.expires_at)
       RETURNING id`,
    );
    const rows = docs.map((d) =>
      JSON.stringify([
        d.id,
        d.title,
        d.contentType,
        JSON.stringify(d.metadata),
        d.bytes,
        d.etag,
        d.expiresAt ?? null,
      ]),
    );
    const statements = jsonArraySlices(rows, D1_LIMITS.maxValueBytes).map((slice) =>
      insert.bind(namespace, now, slice),
    );
    const [before, ...written] = await d1("upsert documents", () =>
      db.batch([done, ...statements, this.touchNamespace(db, namespace, now, 0)]),
    );
    const wasDone = new Set(((before?.results ?? []) as { id: string }[]).map((r) => r.id));
    const changed = new Set(
      written
        .slice(0, statements.length)
        .flatMap((r) => (r.results as { id: string }[]).map((row) => row.id)),
    );
    return docs.filter((d) => wasDone.has(d.id) && changed.has(d.id)).map((d) => d.id);
  }

  async get(namespace: string, id: string): Promise<DocumentRecord | null> {
    const db = this.route.reads(namespace);
    const row = await d1("read document", () =>
      db.prepare("SELECT * FROM documents WHERE namespace = ?1 AND id = ?2").bind(namespace, id).first(),
    );
    return row ? documentRecord(row) : null;
  }

  /**
   * Replaces the document's chunks in each given version and marks it indexed, only if its row
   * still expects `etag`. The first version is the one the row names. Returns false when a newer
   * write superseded this one (nothing was changed). `hadChunks: false` (its row, read at this
   * eTag, counted no chunk) leaves out the statements removing old chunk rows: a duplicate
   * delivery committing the same chunks meanwhile makes the insert fail on chunk_id (UNIQUE), a
   * retryable error whose retry finds the document indexed.
   */
  async commitIndexed(
    namespace: string,
    id: string,
    etag: string,
    result: {
      versions: VersionChunks[];
      title: string | null;
      hadChunks?: boolean;
      redactions?: RedactionCounts;
    },
    now = Date.now(),
  ): Promise<boolean> {
    const db = this.route.writes(namespace);
    const guard = "EXISTS (SELECT 1 FROM documents WHERE namespace = ?1 AND id = ?2 AND etag = ?3)";
    const statements: D1PreparedStatement[] = [];
    const replace = result.hadChunks ?? true;
    for (const v of result.versions) {
      statements.push(...(await this.replaceChunks(db, namespace, id, etag, v, guard, now, replace)));
    }
    const primary = result.versions[0]?.version ?? null;
    const chunkCount = Math.max(0, ...result.versions.map((v) => v.chunks.length));
    statements.push(
      db
        .prepare(
          `UPDATE documents SET status = 'indexed', indexed_etag = ?3, version = ?4, chunk_count = ?5,
             title = COALESCE(title, ?6), error = NULL, updated_at = ?7, indexed_at = ?7, redactions = ?8
           WHERE namespace = ?1 AND id = ?2 AND etag = ?3`,
        )
        .bind(
          namespace,
          id,
          etag,
          primary,
          chunkCount,
          result.title,
          now,
          redactionsColumn(result.redactions),
        ),
      this.touchNamespace(db, namespace, now, 1),
    );
    const results = await d1("commit chunks", () => db.batch(statements));
    const update = results[results.length - 2];
    return (update?.meta.changes ?? 0) > 0;
  }

  /**
   * Writes a document's chunks into one more version (a version being built), only if the
   * document is still indexed at `etag`. Returns false when it changed meanwhile: its own ingest
   * then writes every live version.
   */
  async commitVersion(
    namespace: string,
    id: string,
    etag: string,
    chunks: VersionChunks,
    now = Date.now(),
  ): Promise<boolean> {
    const db = this.route.writes(namespace);
    const guard = `EXISTS (SELECT 1 FROM documents WHERE namespace = ?1 AND id = ?2 AND etag = ?3
      AND indexed_etag = ?3 AND status = 'indexed')`;
    const statements = await this.replaceChunks(db, namespace, id, etag, chunks, guard, now);
    statements.push(
      db
        .prepare(
          `UPDATE documents SET chunk_count = MAX(chunk_count, ?4)
           WHERE namespace = ?1 AND id = ?2 AND etag = ?3 AND indexed_etag = ?3 AND status = 'indexed'`,
        )
        .bind(namespace, id, etag, chunks.chunks.length),
    );
    const results = await d1("commit version chunks", () => db.batch(statements));
    return (results[results.length - 1]?.meta.changes ?? 0) > 0;
  }

  /** Statements replacing one version's chunk rows (and keyword rows) of a document, under `guard`. */
  private async replaceChunks(
    db: D1Like,
    namespace: string,
    id: string,
    etag: string,
    v: VersionChunks,
    guard: string,
    now: number,
    replace = true,
  ): Promise<D1PreparedStatement[]> {
    const documentChunks = `namespace = ?1 AND doc_id = ?2 AND version = ?4 AND ${guard}`;
    const keyword = await keywordTable(namespace, v.version);
    const statements: D1PreparedStatement[] = ensureKeywordIndex(db, keyword, namespace, v.version, now);
    if (replace) {
      statements.push(
        keywordRows(db, keyword, "unindex", documentChunks).bind(namespace, id, etag, v.version),
        db.prepare(`DELETE FROM chunks WHERE ${documentChunks}`).bind(namespace, id, etag, v.version),
      );
    }
    // The rows go in as JSON arrays through json_each: one statement per slice of at most D1's
    // value size, not one per chunk (a 1 MiB document has more than 1,000 chunks, and 1,000 is
    // the number of D1 queries an invocation may make on Workers Paid).
    const insert = db.prepare(
      `INSERT INTO chunks (chunk_id, namespace, doc_id, version, idx, title, headings, text, tokens)
       SELECT json_extract(j.value, '$[0]'), ?1, ?2, ?4, json_extract(j.value, '$[1]'),
         json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]'), json_extract(j.value, '$[4]'),
         json_extract(j.value, '$[5]')
       FROM json_each(?5) j WHERE ${guard}`,
    );
    const rows = v.chunks.map((c) =>
      JSON.stringify([c.chunkId, c.index, c.title, JSON.stringify(c.headings), c.text, c.tokens]),
    );
    for (const slice of jsonArraySlices(rows, D1_LIMITS.maxValueBytes)) {
      statements.push(insert.bind(namespace, id, etag, v.version, slice));
    }
    statements.push(keywordRows(db, keyword, "index", documentChunks).bind(namespace, id, etag, v.version));
    return statements;
  }

  /** Records a permanent failure for the version `etag`; the previous chunks (if any) stay live. */
  async markFailed(
    namespace: string,
    id: string,
    etag: string,
    error: string,
    now = Date.now(),
  ): Promise<void> {
    const db = this.route.writes(namespace);
    await d1("mark failed", () =>
      db
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
    const db = this.route.writes(namespace);
    await d1("record attempt", () =>
      db
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
    const db = this.route.writes(namespace);
    if (ids.length === 0) return;
    const statements = await this.unindexStatements(db, namespace, now);
    // Set-based statements over each slice of ids, not three per document: deleting a page of
    // 1,000 documents stays within D1's queries per invocation.
    const inSlice = "doc_id IN (SELECT value FROM json_each(?3))";
    const where = `namespace = ?1 AND version = ?2 AND ${inSlice}`;
    const slices = jsonArraySlices(
      ids.map((id) => JSON.stringify(id)),
      D1_LIMITS.maxValueBytes,
    );
    for (const slice of slices) {
      for (const { table, version } of statements.tables) {
        statements.list.push(
          keywordRows(db, table, "unindex", where).bind(namespace, version, slice),
          db.prepare(`DELETE FROM chunks WHERE ${where}`).bind(namespace, version, slice),
        );
      }
      statements.list.push(
        db
          .prepare(
            `UPDATE documents SET status = 'deleted', etag = NULL, indexed_etag = NULL, error = NULL, updated_at = ?2
             WHERE namespace = ?1 AND id IN (SELECT value FROM json_each(?3))`,
          )
          .bind(namespace, now, slice),
      );
    }
    statements.list.push(this.touchNamespace(db, namespace, now, 1));
    await d1("delete documents", () => db.batch(statements.list));
  }

  /**
   * The namespace's keyword tables, and the statements that must run before their rows change:
   * a namespace indexed before keyword tables were recorded gets its default-version table first.
   */
  private async unindexStatements(
    db: D1Like,
    namespace: string,
    now: number,
  ): Promise<{ tables: { table: string; version: string }[]; list: D1PreparedStatement[] }> {
    const tables = await keywordTables(db, namespace);
    if (tables.length > 0) return { tables, list: [] };
    const table = await keywordTable(namespace, DEFAULT_VERSION);
    return {
      tables: [{ table, version: DEFAULT_VERSION }],
      list: ensureKeywordIndex(db, table, namespace, DEFAULT_VERSION, now),
    };
  }

  /** A version's chunk ids, `limit` at a time (to delete its vectors before its rows). */
  async versionChunkIds(namespace: string, version: string, limit: number): Promise<string[]> {
    const db = this.route.reads(namespace);
    const { results } = await d1("list version chunks", () =>
      db
        .prepare(
          "SELECT chunk_id FROM chunks WHERE namespace = ?1 AND version = ?2 ORDER BY chunk_id LIMIT ?3",
        )
        .bind(namespace, version, limit)
        .all<{ chunk_id: string }>(),
    );
    return results.map((r) => r.chunk_id);
  }

  /** Removes chunk rows (and their keyword rows) of a version whose vectors are gone. */
  async deleteVersionChunks(namespace: string, version: string, chunkIds: string[]): Promise<void> {
    const db = this.route.writes(namespace);
    if (chunkIds.length === 0) return;
    const table = await keywordTable(namespace, version);
    const where = "namespace = ?1 AND version = ?2 AND chunk_id IN (SELECT value FROM json_each(?3))";
    const ids = JSON.stringify(chunkIds);
    const exists = (await keywordTables(db, namespace)).some((t) => t.version === version);
    await d1("delete version chunks", () =>
      db.batch([
        ...(exists ? [keywordRows(db, table, "unindex", where).bind(namespace, version, ids)] : []),
        db.prepare(`DELETE FROM chunks WHERE ${where}`).bind(namespace, version, ids),
      ]),
    );
  }

  /** Drops a version's (empty) keyword table once its chunk rows are gone. */
  async dropVersionKeywordTable(namespace: string, version: string): Promise<void> {
    const db = this.route.writes(namespace);
    const table = await keywordTable(namespace, version);
    await d1("drop keyword table", () =>
      db.batch([
        db.prepare(`DROP TABLE IF EXISTS ${table}`),
        db
          .prepare("DELETE FROM keyword_tables WHERE namespace = ?1 AND version = ?2")
          .bind(namespace, version),
      ]),
    );
  }

  /**
   * A version's chunks of a document, in order (to embed them again for another version), or one
   * page of them (to read a document).
   */
  async documentChunks(
    namespace: string,
    id: string,
    version: string,
    page?: { offset: number; limit: number },
  ): Promise<ChunkRow[]> {
    const db = this.route.reads(namespace);
    const { results } = await d1("read document chunks", () =>
      db
        .prepare(
          `SELECT chunk_id, idx, title, headings, text, tokens FROM chunks
           WHERE namespace = ?1 AND doc_id = ?2 AND version = ?3 ORDER BY idx${page ? " LIMIT ?4 OFFSET ?5" : ""}`,
        )
        .bind(namespace, id, version, ...(page ? [page.limit, page.offset] : []))
        .all(),
    );
    return results.map((raw) => {
      const r = ChunkReadSchema.parse(raw);
      return {
        chunkId: r.chunk_id,
        index: r.idx,
        title: r.title,
        headings: parseJson<string[]>(r.headings, []),
        text: r.text,
        tokens: r.tokens,
      };
    });
  }

  /** Indexed documents after `after` in id order: what a version build walks. */
  async listIndexed(namespace: string, after: string, limit: number): Promise<DocumentRecord[]> {
    return this.listByStatus(namespace, "indexed", after, limit);
  }

  /** A page of the namespace's documents in one status, by id (index documents_by_status). */
  async listByStatus(
    namespace: string,
    status: DocumentRecord["status"],
    after: string,
    limit: number,
  ): Promise<DocumentRecord[]> {
    const db = this.route.reads(namespace);
    const { results } = await d1(`list ${status} documents`, () =>
      db
        .prepare(
          `SELECT * FROM documents WHERE namespace = ?1 AND status = ?2 AND id > ?3 ORDER BY id LIMIT ?4`,
        )
        .bind(namespace, status, after, limit)
        .all(),
    );
    return results.map(documentRecord);
  }

  /** A page of the namespace's documents after id `after`, in id order: of one status, or all. */
  async listPage(
    namespace: string,
    status: DocumentRecord["status"] | null,
    after: string,
    limit: number,
  ): Promise<DocumentRecord[]> {
    if (status !== null) return this.listByStatus(namespace, status, after, limit);
    const db = this.route.reads(namespace);
    const { results } = await d1("list documents", () =>
      db
        .prepare(`SELECT * FROM documents WHERE namespace = ?1 AND id > ?2 ORDER BY id LIMIT ?3`)
        .bind(namespace, after, limit)
        .all(),
    );
    return results.map(documentRecord);
  }

  /** Indexed documents without chunks in `version`: what a build's scan missed, if anything. */
  async missingFromVersion(
    namespace: string,
    version: string,
    after: string,
    limit: number,
  ): Promise<DocumentRecord[]> {
    const db = this.route.reads(namespace);
    const { results } = await d1("list documents missing from version", () =>
      db
        .prepare(
          `SELECT * FROM documents d WHERE d.namespace = ?1 AND d.status = 'indexed'
             AND d.id > ?3
             AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.namespace = d.namespace AND c.doc_id = d.id AND c.version = ?2)
           ORDER BY d.id LIMIT ?4`,
        )
        .bind(namespace, version, after, limit)
        .all(),
    );
    return results.map(documentRecord);
  }

  async countIndexed(namespace: string): Promise<number> {
    const db = this.route.reads(namespace);
    const row = await d1("count indexed documents", () =>
      db
        .prepare("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND status = 'indexed'")
        .bind(namespace)
        .first<{ n: number }>(),
    );
    return row?.n ?? 0;
  }

  /** After the consumer removed a deleted document's vectors. */
  async clearVectors(namespace: string, id: string, now = Date.now()): Promise<void> {
    const db = this.route.writes(namespace);
    await d1("clear vectors", () =>
      db
        .prepare(
          `UPDATE documents SET chunk_count = 0, updated_at = ?3
           WHERE namespace = ?1 AND id = ?2 AND status = 'deleted'`,
        )
        .bind(namespace, id, now)
        .run(),
    );
  }

  /** Those of `ids` whose documents are not deleted and expire at or before `now`. */
  async expiredAmong(namespace: string, ids: string[], now: number): Promise<string[]> {
    const db = this.route.writes(namespace);
    if (ids.length === 0) return [];
    const { results } = await d1("list expired documents", () =>
      db
        .prepare(
          `SELECT d.id FROM json_each(?2) j JOIN documents d ON d.namespace = ?1 AND d.id = j.value
           WHERE d.expires_at IS NOT NULL AND d.expires_at <= ?3 AND d.status != 'deleted'`,
        )
        .bind(namespace, JSON.stringify(ids), now)
        .all<{ id: string }>(),
    );
    return results.map((r) => r.id);
  }

  /** Ids of the namespace's documents that are not deleted, in id order, from `after`. */
  async listLiveIds(namespace: string, limit: number, after = ""): Promise<string[]> {
    const db = this.route.reads(namespace);
    const { results } = await d1("list documents", () =>
      db
        .prepare(
          "SELECT id FROM documents WHERE namespace = ?1 AND status != 'deleted' AND id > ?2 ORDER BY id LIMIT ?3",
        )
        .bind(namespace, after, limit)
        .all<{ id: string }>(),
    );
    return results.map((r) => r.id);
  }

  async stats(namespace: string, version = DEFAULT_VERSION): Promise<NamespaceStats> {
    const db = this.route.reads(namespace);
    const [counts, chunks, ns] = await d1("namespace stats", () =>
      db.batch([
        db
          .prepare("SELECT status, COUNT(*) AS n FROM documents WHERE namespace = ?1 GROUP BY status")
          .bind(namespace),
        db
          .prepare("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1 AND version = ?2")
          .bind(namespace, version),
        db.prepare("SELECT generation FROM namespaces WHERE name = ?1").bind(namespace),
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
  async hydrate(
    namespace: string,
    chunkIds: string[],
    now = Date.now(),
  ): Promise<Map<string, HydratedChunk>> {
    const db = this.route.reads(namespace);
    const out = new Map<string, HydratedChunk>();
    if (chunkIds.length === 0) return out;
    const { results } = await d1("hydrate chunks", () =>
      db
        .prepare(
          // Driven from the id list (CROSS JOIN fixes the order): left to itself, SQLite walks
          // every chunk of the namespace and tests each against the list.
          // An expired document is out of the answer from its expiry on, before the purge runs.
          `SELECT c.chunk_id, c.doc_id, c.idx, d.title, c.headings, c.text, d.metadata, d.expires_at
           FROM json_each(?2) j
           CROSS JOIN chunks c ON c.chunk_id = j.value
           CROSS JOIN documents d ON d.namespace = c.namespace AND d.id = c.doc_id
           WHERE c.namespace = ?1 AND (d.expires_at IS NULL OR d.expires_at > ?3)`,
        )
        .bind(namespace, JSON.stringify(chunkIds), now)
        .all(),
    );
    for (const raw of results) {
      const chunk = hydratedChunk(raw);
      out.set(chunk.chunkId, chunk);
    }
    return out;
  }

  private touchNamespace(db: D1Like, namespace: string, now: number, bump: 0 | 1): D1PreparedStatement {
    return db
      .prepare(
        `INSERT INTO namespaces (name, generation, created_at, updated_at) VALUES (?1, ?3, ?2, ?2)
         ON CONFLICT (name) DO UPDATE SET generation = generation + ?3, updated_at = ?2`,
      )
      .bind(namespace, now, bump);
  }
}
