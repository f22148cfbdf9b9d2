// The row work of a move: a namespace's documents with their chunks and keyword rows copied from
// the source database to the target one document at a time (one transaction each, the source's
// state replacing the target's), compared page by page, and removed from the source at the end.
import { type D1Like, d1 } from "../store/d1";
import { D1_LIMITS, jsonArraySlices } from "../store/d1-limits";
import {
  ensureKeywordIndex,
  keywordRows,
  keywordSearch,
  keywordTable,
  keywordTables,
} from "../store/keyword";

/** Creates the target's keyword tables of the namespace's live versions (before writes mirror). */
export async function prepareTarget(target: D1Like, namespace: string, versions: readonly string[]) {
  const statements: D1PreparedStatement[] = [];
  for (const version of versions) {
    statements.push(
      ...ensureKeywordIndex(target, await keywordTable(namespace, version), namespace, version),
    );
  }
  if (statements.length > 0) await d1("prepare move target", () => target.batch(statements));
}

/** Ids of the namespace's documents after `after`, in id order. */
export async function documentIds(db: D1Like, namespace: string, after: string, limit: number) {
  const { results } = await d1("list documents to move", () =>
    db
      .prepare("SELECT id FROM documents WHERE namespace = ?1 AND id > ?2 ORDER BY id LIMIT ?3")
      .bind(namespace, after, limit)
      .all<{ id: string }>(),
  );
  return results.map((r) => r.id);
}

/**
 * Documents read per query: a document's chunks hold at most its parsed text (MAX_PARSED_TEXT_BYTES,
 * 4 MiB) and the overlap between chunks, so 8 stay under D1's "Maximum query result size: 50 MB"
 * (https://developers.cloudflare.com/d1/platform/limits/).
 */
export const COPY_GROUP = 8;

/** Makes the target's rows of each document what the source's are (gone where the source has none). */
export async function copyDocuments(
  source: D1Like,
  target: D1Like,
  namespace: string,
  ids: readonly string[],
) {
  for (let i = 0; i < ids.length; i += COPY_GROUP) {
    await copyGroup(source, target, namespace, ids.slice(i, i + COPY_GROUP));
  }
}

async function copyGroup(source: D1Like, target: D1Like, namespace: string, ids: readonly string[]) {
  if (ids.length === 0) return;
  const list = JSON.stringify(ids);
  const [docs, chunks] = await d1("read documents to move", () =>
    source.batch([
      source
        .prepare("SELECT * FROM documents WHERE namespace = ?1 AND id IN (SELECT value FROM json_each(?2))")
        .bind(namespace, list),
      source
        .prepare(
          `SELECT chunk_id, doc_id, version, idx, title, headings, text, tokens FROM chunks
           WHERE namespace = ?1 AND doc_id IN (SELECT value FROM json_each(?2)) ORDER BY doc_id, version, idx`,
        )
        .bind(namespace, list),
    ]),
  );
  const rows = new Map(((docs?.results ?? []) as Record<string, unknown>[]).map((r) => [String(r.id), r]));
  const byDoc = new Map<string, Record<string, unknown>[]>();
  for (const c of (chunks?.results ?? []) as Record<string, unknown>[]) {
    const list = byDoc.get(String(c.doc_id)) ?? [];
    list.push(c);
    byDoc.set(String(c.doc_id), list);
  }
  const tables = await keywordTables(target, namespace);
  for (const id of ids) {
    await copyOne(target, namespace, id, rows.get(id) ?? null, byDoc.get(id) ?? [], tables);
  }
}

async function copyOne(
  target: D1Like,
  namespace: string,
  id: string,
  row: Record<string, unknown> | null,
  chunks: Record<string, unknown>[],
  tables: { version: string; table: string }[],
): Promise<void> {
  const versions = [...new Set(chunks.map((c) => String(c.version)))];
  const statements: D1PreparedStatement[] = [];
  for (const version of versions) {
    if (tables.some((t) => t.version === version)) continue;
    statements.push(
      ...ensureKeywordIndex(target, await keywordTable(namespace, version), namespace, version),
    );
  }
  const mine = "namespace = ?1 AND doc_id = ?2 AND version = ?3";
  for (const t of tables)
    statements.push(keywordRows(target, t.table, "unindex", mine).bind(namespace, id, t.version));
  statements.push(
    target.prepare("DELETE FROM chunks WHERE namespace = ?1 AND doc_id = ?2").bind(namespace, id),
    target.prepare("DELETE FROM documents WHERE namespace = ?1 AND id = ?2").bind(namespace, id),
  );
  if (row !== null) {
    const columns = Object.keys(row);
    statements.push(
      target
        .prepare(
          `INSERT INTO documents (${columns.join(", ")})
           SELECT ${columns.map((c) => `json_extract(?1, '$.${c}')`).join(", ")}`,
        )
        .bind(JSON.stringify(row)),
    );
    const insert = target.prepare(
      `INSERT INTO chunks (chunk_id, namespace, doc_id, version, idx, title, headings, text, tokens)
       SELECT json_extract(value, '$.chunk_id'), ?1, ?2, json_extract(value, '$.version'),
         json_extract(value, '$.idx'), json_extract(value, '$.title'), json_extract(value, '$.headings'),
         json_extract(value, '$.text'), json_extract(value, '$.tokens')
       FROM json_each(?3)`,
    );
    for (const slice of jsonArraySlices(
      chunks.map((c) => JSON.stringify(c)),
      D1_LIMITS.maxValueBytes,
    )) {
      statements.push(insert.bind(namespace, id, slice));
    }
    for (const version of versions) {
      const table =
        tables.find((t) => t.version === version)?.table ?? (await keywordTable(namespace, version));
      statements.push(keywordRows(target, table, "index", mine).bind(namespace, id, version));
    }
  }
  await d1("copy moved document", () => target.batch(statements));
}

/** Per document: what must agree between the two databases. */
async function fingerprints(
  db: D1Like,
  namespace: string,
  after: string,
  upTo: string | null,
  limit: number,
) {
  const { results } = await d1("read document fingerprints", () =>
    db
      .prepare(
        `SELECT d.id, d.status || '|' || COALESCE(d.etag, '') || '|' || COALESCE(d.indexed_etag, '') || '|' ||
           d.updated_at || '|' || d.chunk_count || '|' ||
           (SELECT COUNT(*) FROM chunks c WHERE c.namespace = d.namespace AND c.doc_id = d.id) AS print
         FROM documents d WHERE d.namespace = ?1 AND d.id > ?2 AND (?3 IS NULL OR d.id <= ?3)
         ORDER BY d.id LIMIT ?4`,
      )
      .bind(namespace, after, upTo, limit)
      .all<{ id: string; print: string }>(),
  );
  return results;
}

/**
 * Compares one page of documents (the source's ids after `after`, and the target's in the same
 * range) and copies those that differ again. Returns the ids repaired and where the next page starts
 * (null: this was the last).
 */
export async function verifyPage(
  source: D1Like,
  target: D1Like,
  namespace: string,
  after: string,
  limit: number,
): Promise<{ repaired: string[]; next: string | null }> {
  const mine = await fingerprints(source, namespace, after, null, limit);
  const last = mine.length < limit ? null : (mine.at(-1)?.id ?? null);
  const theirs = await fingerprints(target, namespace, after, last, last === null ? 1_000_000 : limit * 2);
  const want = new Map(mine.map((r) => [r.id, r.print]));
  const have = new Map(theirs.map((r) => [r.id, r.print]));
  const differ = [...new Set([...want.keys(), ...have.keys()])].filter((id) => want.get(id) !== have.get(id));
  await copyDocuments(source, target, namespace, differ);
  return { repaired: differ, next: last };
}

/** Counts by status and chunks by version: equal in both databases once the copy is complete. */
export async function sameCounts(source: D1Like, target: D1Like, namespace: string): Promise<boolean> {
  const read = (db: D1Like) =>
    d1("count moved rows", () =>
      db
        .prepare(
          `SELECT 'd:' || status AS k, COUNT(*) AS n FROM documents WHERE namespace = ?1 GROUP BY status
           UNION ALL SELECT 'c:' || version, COUNT(*) FROM chunks WHERE namespace = ?1 GROUP BY version
           ORDER BY k`,
        )
        .bind(namespace)
        .all<{ k: string; n: number }>(),
    );
  const [a, b] = await Promise.all([read(source), read(target)]);
  return JSON.stringify(a.results) === JSON.stringify(b.results);
}

/** A keyword search for each sampled document's title answers the same chunks in both databases. */
export async function sameAnswers(source: D1Like, target: D1Like, namespace: string, version: string) {
  const { results } = await d1("sample moved documents", () =>
    source
      .prepare(
        "SELECT COALESCE(title, id) AS q FROM documents WHERE namespace = ?1 AND status = 'indexed' ORDER BY random() LIMIT 3",
      )
      .bind(namespace)
      .all<{ q: string }>(),
  );
  for (const { q } of results) {
    const [a, b] = await Promise.all([
      keywordSearch(source, namespace, q, 10, undefined, version),
      keywordSearch(target, namespace, q, 10, undefined, version),
    ]);
    if (a.map((h) => h.chunkId).join() !== b.map((h) => h.chunkId).join()) return false;
  }
  return true;
}

/** Namespace-wide rows besides documents: its generation (never lower) and quota overrides. */
export async function copyNamespaceRows(source: D1Like, target: D1Like, namespace: string) {
  const [ns, quotas] = await d1("read namespace rows", () =>
    source.batch([
      source.prepare("SELECT * FROM namespaces WHERE name = ?1").bind(namespace),
      source.prepare("SELECT * FROM namespace_quotas WHERE namespace = ?1").bind(namespace),
    ]),
  );
  const statements: D1PreparedStatement[] = [];
  const n = ns?.results?.[0] as { generation: number; created_at: number; updated_at: number } | undefined;
  if (n) {
    statements.push(
      target
        .prepare(
          `INSERT INTO namespaces (name, generation, created_at, updated_at) VALUES (?1, ?2, ?3, ?4)
           ON CONFLICT (name) DO UPDATE SET generation = MAX(generation, excluded.generation) + 1`,
        )
        .bind(namespace, n.generation, n.created_at, n.updated_at),
    );
  }
  const q = quotas?.results?.[0] as Record<string, unknown> | undefined;
  if (q) {
    const columns = Object.keys(q);
    statements.push(
      target.prepare("DELETE FROM namespace_quotas WHERE namespace = ?1").bind(namespace),
      target
        .prepare(
          `INSERT INTO namespace_quotas (${columns.join(", ")})
           SELECT ${columns.map((c) => `json_extract(?1, '$.${c}')`).join(", ")}`,
        )
        .bind(JSON.stringify(q)),
    );
  }
  if (statements.length > 0) await d1("copy namespace rows", () => target.batch(statements));
}

/**
 * Removes up to `limit` of the namespace's documents (with their chunks and keyword rows) from the
 * database it left; once none is left, its keyword tables and namespace-wide rows. Returns how many
 * documents went, and whether anything is left.
 */
export async function removePage(db: D1Like, namespace: string, limit: number) {
  const ids = await documentIds(db, namespace, "", limit);
  const tables = await keywordTables(db, namespace);
  if (ids.length === 0) {
    await d1("drop moved namespace", () =>
      db.batch([
        ...tables.map((t) => db.prepare(`DROP TABLE IF EXISTS ${t.table}`)),
        db.prepare("DELETE FROM chunks WHERE namespace = ?1").bind(namespace),
        db.prepare("DELETE FROM keyword_tables WHERE namespace = ?1").bind(namespace),
        db.prepare("DELETE FROM namespaces WHERE name = ?1").bind(namespace),
        db.prepare("DELETE FROM namespace_usage WHERE namespace = ?1").bind(namespace),
        db.prepare("DELETE FROM namespace_quotas WHERE namespace = ?1").bind(namespace),
        db.prepare("DELETE FROM quota_reservations WHERE namespace = ?1").bind(namespace),
      ]),
    );
    return { removed: 0, more: false };
  }
  const where = "namespace = ?1 AND version = ?2 AND doc_id IN (SELECT value FROM json_each(?3))";
  const list = JSON.stringify(ids);
  await d1("remove moved documents", () =>
    db.batch([
      ...tables.map((t) => keywordRows(db, t.table, "unindex", where).bind(namespace, t.version, list)),
      db
        .prepare("DELETE FROM chunks WHERE namespace = ?1 AND doc_id IN (SELECT value FROM json_each(?2))")
        .bind(namespace, list),
      db
        .prepare("DELETE FROM documents WHERE namespace = ?1 AND id IN (SELECT value FROM json_each(?2))")
        .bind(namespace, list),
    ]),
  );
  return { removed: ids.length, more: true };
}
