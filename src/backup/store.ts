// D1 side of backups and restores: a backup step's page of documents and their chunks (read in
// one transaction, so a document's row and chunks agree), the emptiness check of a restore target,
// and a restore step's rows (documents, chunks, keyword rows, generation bump), written in the
// transaction that advances the job, so that a repeated step writes nothing twice.
import { z } from "zod";
import { type D1Like, d1 } from "../store/d1";
import { type DocumentRecord, documentRecord } from "../store/documents";
import { ensureKeywordIndex, keywordRows, keywordTable } from "../store/keyword";
import type { Metadata } from "../validation";
import { STEP_BYTES, STEP_CHUNKS } from "./format";

export interface StoredChunk {
  chunkId: string;
  docId: string;
  index: number;
  title: string | null;
  headings: string[];
  text: string;
  tokens: number;
}

export interface RestoredDocument {
  id: string;
  title: string | null;
  contentType: string;
  metadata: Metadata;
  bytes: number;
  etag: string;
  chunkCount: number;
  createdAt: number;
  /** Epoch ms; null: never expires. */
  expiresAt: number | null;
}

const BoundRow = z.object({ id: z.string(), bytes: z.number(), chunk_count: z.number() });

const ChunkRow = z.object({
  chunk_id: z.string(),
  doc_id: z.string(),
  idx: z.number(),
  title: z.string().nullable(),
  headings: z.string(),
  text: z.string(),
  tokens: z.number(),
});

function jsonOr<T>(text: string, schema: z.ZodType<T>, fallback: T): T {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : fallback;
  } catch {
    return fallback;
  }
}

// A D1 value is limited to 2 MB: rows go in JSON arrays below that (counted in UTF-16 units,
// at most 3 bytes each in UTF-8).
const JSON_PARAM_CHARS = 600_000;

/** True until the namespace's database took the step's rows (migrations/0010_restore_steps.sql). */
const notRestored = (a: number, b: number) =>
  `NOT EXISTS (SELECT 1 FROM restore_steps WHERE job_id = ?${a} AND step = ?${b})`;

/** A namespace's rows for backups and restores, in the namespace's database of the pool. */
export class BackupStore {
  constructor(private readonly db: D1Like) {}

  async countIndexed(namespace: string, version: string): Promise<{ documents: number; chunks: number }> {
    const [docs, chunks] = await d1("count backup rows", () =>
      this.db.batch([
        this.db
          .prepare("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND status = 'indexed'")
          .bind(namespace),
        this.db
          .prepare("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1 AND version = ?2")
          .bind(namespace, version),
      ]),
    );
    const n = (r: D1Result | undefined) => ((r?.results?.[0] ?? { n: 0 }) as { n: number }).n;
    return { documents: n(docs), chunks: n(chunks) };
  }

  /**
   * Where a page that starts after `after` ends: at most `limit` documents, and no more bytes and
   * chunks than a step holds (one document at least). Null when no document is left.
   */
  async pageEnd(
    namespace: string,
    after: string,
    limit: number,
  ): Promise<{ last: string; more: boolean } | null> {
    const { results } = await d1("plan backup page", () =>
      this.db
        .prepare(
          `SELECT id, bytes, chunk_count FROM documents
           WHERE namespace = ?1 AND status = 'indexed' AND id > ?2 ORDER BY id LIMIT ?3`,
        )
        .bind(namespace, after, limit + 1)
        .all(),
    );
    const rows = results.map((r) => BoundRow.parse(r));
    let bytes = 0;
    let chunks = 0;
    let taken = 0;
    for (const row of rows.slice(0, limit)) {
      if (taken > 0 && (bytes + row.bytes > STEP_BYTES || chunks + row.chunk_count > STEP_CHUNKS)) break;
      bytes += row.bytes;
      chunks += row.chunk_count;
      taken += 1;
    }
    const last = rows[taken - 1]?.id;
    return last === undefined ? null : { last, more: rows.length > taken };
  }

  /** The indexed documents in (after, last] and their chunks in `version`, as of one moment. */
  async page(
    namespace: string,
    version: string,
    after: string,
    last: string,
  ): Promise<{ documents: DocumentRecord[]; chunks: StoredChunk[] }> {
    const [docs, chunks] = await d1("read backup page", () =>
      this.db.batch([
        this.db
          .prepare(
            `SELECT * FROM documents
             WHERE namespace = ?1 AND status = 'indexed' AND id > ?2 AND id <= ?3 ORDER BY id`,
          )
          .bind(namespace, after, last),
        this.db
          .prepare(
            `SELECT c.chunk_id, c.doc_id, c.idx, c.title, c.headings, c.text, c.tokens
             FROM chunks c JOIN documents d ON d.namespace = c.namespace AND d.id = c.doc_id
             WHERE c.namespace = ?1 AND c.version = ?4 AND d.status = 'indexed'
               AND c.doc_id > ?2 AND c.doc_id <= ?3
             ORDER BY c.doc_id, c.idx`,
          )
          .bind(namespace, after, last, version),
      ]),
    );
    return {
      documents: (docs?.results ?? []).map(documentRecord),
      chunks: (chunks?.results ?? []).map((raw) => {
        const r = ChunkRow.parse(raw);
        return {
          chunkId: r.chunk_id,
          docId: r.doc_id,
          index: r.idx,
          title: r.title,
          headings: jsonOr<string[]>(r.headings, z.array(z.string()), []),
          text: r.text,
          tokens: r.tokens,
        };
      }),
    };
  }

  /** Why the namespace cannot be restored into, or null when it is empty. */
  async notEmptyReason(namespace: string, version: string): Promise<string | null> {
    const [live, deleting, chunks] = await d1("check namespace is empty", () =>
      this.db.batch([
        this.db
          .prepare("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND status != 'deleted'")
          .bind(namespace),
        this.db
          .prepare(
            "SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND status = 'deleted' AND chunk_count > 0",
          )
          .bind(namespace),
        this.db
          .prepare("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1 AND version = ?2")
          .bind(namespace, version),
      ]),
    );
    const n = (r: D1Result | undefined) => ((r?.results?.[0] ?? { n: 0 }) as { n: number }).n;
    if (n(live) > 0) return `namespace "${namespace}" holds ${n(live)} documents; restore needs an empty one`;
    // Their vectors are still to be removed, under the ids a restore would write.
    if (n(deleting) > 0 || n(chunks) > 0)
      return `namespace "${namespace}" is still removing deleted documents; retry shortly`;
    return null;
  }

  /**
   * One restore step's rows: the documents (indexed at their new R2 eTags), their chunks in
   * `version` and its keyword index, and the namespace's generation bump, each statement applying
   * only while the namespace's database has no mark of the step, and the mark, in one transaction.
   * The job (in the control database) advances afterwards: a step redelivered in between writes
   * no rows again and only advances the job.
   */
  async writeRestoredStep(
    namespace: string,
    version: string,
    documents: RestoredDocument[],
    chunks: StoredChunk[],
    job: { id: string; step: number },
    now = Date.now(),
  ): Promise<void> {
    const table = await keywordTable(namespace, version);
    const statements: D1PreparedStatement[] = [
      ...ensureKeywordIndex(this.db, table, namespace, version, now),
    ];
    const insertDocuments = this.db.prepare(
      `INSERT INTO documents (namespace, id, status, title, content_type, metadata, bytes, etag, indexed_etag,
         version, chunk_count, error, attempts, created_at, updated_at, indexed_at, expires_at)
       SELECT ?1, json_extract(value, '$.id'), 'indexed', json_extract(value, '$.title'),
         json_extract(value, '$.contentType'), json_extract(value, '$.metadata'), json_extract(value, '$.bytes'),
         json_extract(value, '$.etag'), json_extract(value, '$.etag'), ?2, json_extract(value, '$.chunkCount'),
         NULL, 0, json_extract(value, '$.createdAt'), ?3, ?3, json_extract(value, '$.expiresAt')
       FROM json_each(?4) WHERE ${notRestored(5, 6)}
       ON CONFLICT (namespace, id) DO UPDATE SET status = 'indexed', title = excluded.title,
         content_type = excluded.content_type, metadata = excluded.metadata, bytes = excluded.bytes,
         etag = excluded.etag, indexed_etag = excluded.indexed_etag, version = excluded.version,
         chunk_count = excluded.chunk_count, error = NULL, attempts = 0, created_at = excluded.created_at,
         updated_at = excluded.updated_at, indexed_at = excluded.indexed_at, expires_at = excluded.expires_at`,
    );
    for (const group of byJsonSize(documents.map((d) => ({ ...d, metadata: JSON.stringify(d.metadata) })))) {
      statements.push(insertDocuments.bind(namespace, version, now, group, job.id, job.step));
    }
    const insertChunks = this.db.prepare(
      `INSERT INTO chunks (chunk_id, namespace, doc_id, version, idx, title, headings, text, tokens)
       SELECT json_extract(value, '$.chunkId'), ?1, json_extract(value, '$.docId'), ?2,
         json_extract(value, '$.index'), json_extract(value, '$.title'), json_extract(value, '$.headings'),
         json_extract(value, '$.text'), json_extract(value, '$.tokens')
       FROM json_each(?3) WHERE ${notRestored(4, 5)}`,
    );
    for (const group of byJsonSize(chunks.map((c) => ({ ...c, headings: JSON.stringify(c.headings) })))) {
      statements.push(insertChunks.bind(namespace, version, group, job.id, job.step));
    }
    const restored = `namespace = ?1 AND version = ?2 AND chunk_id IN (SELECT value FROM json_each(?3)) AND ${notRestored(4, 5)}`;
    for (const group of byJsonSize(chunks.map((c) => c.chunkId))) {
      statements.push(
        keywordRows(this.db, table, "index", restored).bind(namespace, version, group, job.id, job.step),
      );
    }
    statements.push(
      this.db
        .prepare(
          `INSERT INTO namespaces (name, generation, created_at, updated_at) SELECT ?1, 1, ?2, ?2
           WHERE ${notRestored(3, 4)}
           ON CONFLICT (name) DO UPDATE SET generation = generation + 1, updated_at = ?2`,
        )
        .bind(namespace, now, job.id, job.step),
      this.db
        .prepare(
          "INSERT INTO restore_steps (job_id, step, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )
        .bind(job.id, job.step, now),
    );
    await d1("write restored rows", () => this.db.batch(statements));
  }
}

/** JSON arrays of the items, each under JSON_PARAM_CHARS (an item larger than that goes alone). */
function byJsonSize(items: unknown[]): string[] {
  const groups: string[] = [];
  let current: string[] = [];
  let bytes = 2;
  for (const item of items) {
    const json = JSON.stringify(item);
    if (current.length > 0 && bytes + json.length + 1 > JSON_PARAM_CHARS) {
      groups.push(`[${current.join(",")}]`);
      current = [];
      bytes = 2;
    }
    current.push(json);
    bytes += json.length + 1;
  }
  if (current.length > 0) groups.push(`[${current.join(",")}]`);
  return groups;
}
