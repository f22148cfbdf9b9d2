// D1 side of backup and restore: reading a version's documents and chunks, checking that a
// namespace is empty, and writing a restored namespace's rows in one batch (one transaction:
// documents, chunks, keyword rows and the generation bump commit together or not at all).
import { z } from "zod";
import { d1 } from "../store/d1";
import { type DocumentRecord, DocumentStore } from "../store/documents";
import { ensureKeywordIndex, keywordRows, keywordTable } from "../store/keyword";
import type { Metadata } from "../validation";

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
}

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

export class BackupStore {
  constructor(private readonly db: D1Database) {}

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

  /** The indexed documents, in id order (a backup holds at most `limit`). */
  indexedDocuments(namespace: string, limit: number): Promise<DocumentRecord[]> {
    return new DocumentStore(this.db).listIndexed(namespace, "", limit);
  }

  /** The version's chunks of indexed documents, in document then chunk order. */
  async versionChunks(namespace: string, version: string): Promise<StoredChunk[]> {
    const { results } = await d1("read chunks for backup", () =>
      this.db
        .prepare(
          `SELECT c.chunk_id, c.doc_id, c.idx, c.title, c.headings, c.text, c.tokens
           FROM chunks c JOIN documents d ON d.namespace = c.namespace AND d.id = c.doc_id
           WHERE c.namespace = ?1 AND c.version = ?2 AND d.status = 'indexed'
           ORDER BY c.doc_id, c.idx`,
        )
        .bind(namespace, version)
        .all(),
    );
    return results.map((raw) => {
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
    });
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
   * Writes the restored documents (indexed at their new R2 eTags), their chunks into `version`
   * and its keyword index, and bumps the namespace's generation, in one transaction.
   */
  async writeRestored(
    namespace: string,
    version: string,
    documents: RestoredDocument[],
    chunks: StoredChunk[],
    now = Date.now(),
  ): Promise<void> {
    const table = await keywordTable(namespace, version);
    const statements: D1PreparedStatement[] = [
      ...ensureKeywordIndex(this.db, table, namespace, version, now),
    ];
    const insertDocuments = this.db.prepare(
      `INSERT INTO documents (namespace, id, status, title, content_type, metadata, bytes, etag, indexed_etag,
         version, chunk_count, error, attempts, created_at, updated_at, indexed_at)
       SELECT ?1, json_extract(value, '$.id'), 'indexed', json_extract(value, '$.title'),
         json_extract(value, '$.contentType'), json_extract(value, '$.metadata'), json_extract(value, '$.bytes'),
         json_extract(value, '$.etag'), json_extract(value, '$.etag'), ?2, json_extract(value, '$.chunkCount'),
         NULL, 0, json_extract(value, '$.createdAt'), ?3, ?3
       FROM json_each(?4) WHERE true
       ON CONFLICT (namespace, id) DO UPDATE SET status = 'indexed', title = excluded.title,
         content_type = excluded.content_type, metadata = excluded.metadata, bytes = excluded.bytes,
         etag = excluded.etag, indexed_etag = excluded.indexed_etag, version = excluded.version,
         chunk_count = excluded.chunk_count, error = NULL, attempts = 0, created_at = excluded.created_at,
         updated_at = excluded.updated_at, indexed_at = excluded.indexed_at`,
    );
    for (const group of byJsonSize(documents.map((d) => ({ ...d, metadata: JSON.stringify(d.metadata) })))) {
      statements.push(insertDocuments.bind(namespace, version, now, group));
    }
    const insertChunks = this.db.prepare(
      `INSERT INTO chunks (chunk_id, namespace, doc_id, version, idx, title, headings, text, tokens)
       SELECT json_extract(value, '$.chunkId'), ?1, json_extract(value, '$.docId'), ?2,
         json_extract(value, '$.index'), json_extract(value, '$.title'), json_extract(value, '$.headings'),
         json_extract(value, '$.text'), json_extract(value, '$.tokens')
       FROM json_each(?3)`,
    );
    for (const group of byJsonSize(chunks.map((c) => ({ ...c, headings: JSON.stringify(c.headings) })))) {
      statements.push(insertChunks.bind(namespace, version, group));
    }
    const restored = "namespace = ?1 AND version = ?2 AND chunk_id IN (SELECT value FROM json_each(?3))";
    for (const group of byJsonSize(chunks.map((c) => c.chunkId))) {
      statements.push(keywordRows(this.db, table, "index", restored).bind(namespace, version, group));
    }
    statements.push(
      this.db
        .prepare(
          `INSERT INTO namespaces (name, generation, created_at, updated_at) VALUES (?1, 1, ?2, ?2)
           ON CONFLICT (name) DO UPDATE SET generation = generation + 1, updated_at = ?2`,
        )
        .bind(namespace, now),
    );
    await d1("write restored namespace", () => this.db.batch(statements));
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
