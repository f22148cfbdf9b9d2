// Self-repair of what outlived its chunk rows, by the scheduled check, bounded per run:
// - vectors of deleted documents: the deletion ledger (documents deleted whose chunk_count the
//   consumer has not reset, src/store/documents.ts clearVectors) names their ids, which are looked
//   up with getByIds and deleted. The Workers binding cannot list an index's ids (list-vectors is
//   REST API and Wrangler only: https://developers.cloudflare.com/vectorize/best-practices/list-vectors,
//   GET /accounts/{account_id}/vectorize/v2/indexes/{index_name}/list, 1,000 ids a page), so a
//   vector no D1 row names (its document row gone too) is not found here: describe()'s global count
//   hints at it, and an operator can list the ids and compare them with D1;
// - indexed documents whose chunk rows are gone (`missing_chunks`): their vectors and keyword rows
//   still answer searches that then cannot show the document, so the document is indexed again
//   from R2 (the put notification of its current version): same vector ids, new chunk rows;
// - keyword tables, a few per run in turn: chunk rows without their keyword row get it back, and
//   keyword rows without their chunk row (an external-content FTS5 row can only be deleted with the
//   text it was indexed with, which is gone) make the table be rebuilt from its chunk rows.

import { chunkIdPrefix, chunkIds } from "../ingest/ids";
import { putMessage } from "../ingest/messages";
import type { WriteTarget } from "../ingest/pipeline";
import { ensureKeywordIndex } from "../store/keyword";
import { QUEUE_MAX_BATCH_MESSAGES, sendPaged } from "../util/queue-limits";
import { documentKey } from "../validation";
import { deleteVectors, getVectors } from "../vectors/paging";
import { versionChunkPrefix } from "../versions/model";
import type { Logger } from "./logger";

export const ORPHAN_REPAIR_LIMITS = {
  /** Vector ids of deleted documents looked up (getByIds, 20 per call) per run. */
  vectorIds: 1000,
  /** Documents indexed again per run for lost chunk rows: one sendBatch (100 messages). */
  reindex: QUEUE_MAX_BATCH_MESSAGES,
  /**
   * Keyword tables checked per run and database: each check reads the table and its chunk rows,
   * in 3 statements and up to 3 more to repair. Free allows 50 D1 queries per invocation
   * (https://developers.cloudflare.com/d1/platform/limits/, "Queries per Worker invocation"),
   * most of which the health check itself takes; Paid 1,000.
   */
  keywordTables: { paid: 5, free: 1 },
  /** Missing keyword rows added back per table and run. */
  keywordRows: 1000,
  /**
   * Chunk rows a keyword table may have to be rebuilt by the check: the rebuild is one INSERT ...
   * SELECT, and D1 stops a statement after 30 s ("Maximum SQL query duration: 30 seconds",
   * https://developers.cloudflare.com/d1/platform/limits/). A larger table is reported, not rebuilt.
   */
  rebuildRows: 20_000,
  /** Failed or fruitless attempts on one document or table before the check stops and alerts. */
  attempts: 3,
} as const;

export interface OrphanRepairDeps {
  databases: readonly D1Database[];
  targets(namespace: string): Promise<WriteTarget[]>;
  queue: Queue;
  bucketName: string;
  logger: Logger;
}

export interface OrphanRepairOptions {
  now?: number;
  /** Deletes and writes this recent may still be under way (the consumer, Vectorize's apply). */
  settleMs: number;
  /** Namespaces the health check found with fewer chunk rows than their documents count. */
  missingChunks: readonly string[];
  /** The Workers plan, whose D1 query limit sets the keyword tables checked per run. */
  plan?: "paid" | "free";
}

/** Per namespace: orphan vectors deleted, keyword rows repaired, documents indexed again, given up. */
export interface OrphanRepairCounts {
  orphanVectors: number;
  keywordRepairs: number;
  reindexed: number;
  abandoned: number;
}

export interface OrphanRepairResult {
  byNamespace: Map<string, OrphanRepairCounts>;
  orphanVectors: number;
  keywordRepairs: number;
  reindexed: number;
  abandoned: number;
}

type Count = (namespace: string, field: keyof OrphanRepairCounts, n: number) => void;

export async function repairOrphans(
  deps: OrphanRepairDeps,
  options: OrphanRepairOptions,
): Promise<OrphanRepairResult> {
  const now = options.now ?? Date.now();
  const cutoff = now - options.settleMs;
  const result: OrphanRepairResult = {
    byNamespace: new Map(),
    orphanVectors: 0,
    keywordRepairs: 0,
    reindexed: 0,
    abandoned: 0,
  };
  const count: Count = (namespace, field, n) => {
    if (n === 0) return;
    const counts = result.byNamespace.get(namespace) ?? {
      orphanVectors: 0,
      keywordRepairs: 0,
      reindexed: 0,
      abandoned: 0,
    };
    counts[field] += n;
    result.byNamespace.set(namespace, counts);
    result[field] += n;
  };
  let vectorIds: number = ORPHAN_REPAIR_LIMITS.vectorIds;
  let reindex: number = ORPHAN_REPAIR_LIMITS.reindex;
  for (const db of deps.databases) {
    vectorIds = await removeDeletedVectors(deps, db, { cutoff, now, budget: vectorIds }, count);
    reindex = await reindexLostChunks(deps, db, { cutoff, now, budget: reindex }, options, count);
    const tables = ORPHAN_REPAIR_LIMITS.keywordTables[options.plan ?? "paid"];
    await repairKeywordTables(deps, db, { now, tables }, options.missingChunks, count);
  }
  return result;
}

// --- Vectors of deleted documents -------------------------------------------------------------

interface DeletedRow {
  namespace: string;
  id: string;
  chunk_count: number;
  vector_repairs: number;
}

/** Deletes the vectors the ledger names; answers the lookups left in the run's budget. */
async function removeDeletedVectors(
  deps: OrphanRepairDeps,
  db: D1Database,
  run: { cutoff: number; now: number; budget: number },
  count: Count,
): Promise<number> {
  if (run.budget <= 0) return run.budget;
  const { results } = await db
    .prepare(
      `SELECT namespace, id, chunk_count, vector_repairs FROM documents
       WHERE status = 'deleted' AND chunk_count > 0 AND updated_at < ?1 AND vector_repairs < ?2
       ORDER BY updated_at LIMIT 100`,
    )
    .bind(run.cutoff, ORPHAN_REPAIR_LIMITS.attempts)
    .all<DeletedRow>();
  let budget = run.budget;
  const cleared: DeletedRow[] = [];
  const failed: DeletedRow[] = [];
  for (const doc of results) {
    if (budget <= 0) break;
    try {
      const live = await deps.targets(doc.namespace);
      const prefix = await chunkIdPrefix(doc.namespace, doc.id);
      let removed = 0;
      for (const target of live) {
        const ids = chunkIds(versionChunkPrefix(prefix, target.spec.id), 0, doc.chunk_count);
        budget -= ids.length;
        const found = (await getVectors(target.index, ids)).map((v) => v.id);
        if (found.length > 0) await deleteVectors(target.index, found);
        removed += found.length;
      }
      cleared.push(doc);
      count(doc.namespace, "orphanVectors", removed);
      if (removed > 0) {
        deps.logger.info("repair.orphan_vectors_deleted", {
          namespace: doc.namespace,
          docId: doc.id,
          vectors: removed,
        });
      }
    } catch (err) {
      failed.push(doc);
      const attempts = doc.vector_repairs + 1;
      const error = err instanceof Error ? err.message : String(err);
      if (attempts >= ORPHAN_REPAIR_LIMITS.attempts) {
        count(doc.namespace, "abandoned", 1);
        deps.logger.error("repair.orphan_vectors_abandoned", {
          namespace: doc.namespace,
          docId: doc.id,
          attempts,
          error: `vectors of a deleted document not removed after ${attempts} attempts: ${error}`,
        });
      } else {
        deps.logger.warn("repair.orphan_vectors_failed", { namespace: doc.namespace, docId: doc.id, error });
      }
    }
  }
  const rows = (docs: readonly DeletedRow[]) => JSON.stringify(docs.map((d) => [d.namespace, d.id]));
  const match = `FROM (SELECT json_extract(value, '$[0]') AS ns, json_extract(value, '$[1]') AS doc FROM json_each(?1)) AS r
     WHERE documents.namespace = r.ns AND documents.id = r.doc AND documents.status = 'deleted'`;
  const statements = [];
  // As the consumer does once a deleted document's vectors are gone; a document written again
  // meanwhile is no longer deleted and keeps its count (its own vectors are checked as any other).
  if (cleared.length > 0)
    statements.push(
      db
        .prepare(`UPDATE documents SET chunk_count = 0, vector_repairs = 0, updated_at = ?2 ${match}`)
        .bind(rows(cleared), run.now),
    );
  if (failed.length > 0)
    statements.push(
      db.prepare(`UPDATE documents SET vector_repairs = vector_repairs + 1 ${match}`).bind(rows(failed)),
    );
  if (statements.length > 0) await db.batch(statements);
  return budget;
}

// --- Indexed documents without their chunk rows -----------------------------------------------

interface LostRow {
  namespace: string;
  id: string;
  etag: string;
  bytes: number;
}

/** Sends lost documents to be indexed again; answers the re-enqueues left in the run's budget. */
async function reindexLostChunks(
  deps: OrphanRepairDeps,
  db: D1Database,
  run: { cutoff: number; now: number; budget: number },
  options: OrphanRepairOptions,
  count: Count,
): Promise<number> {
  if (run.budget <= 0 || options.missingChunks.length === 0) return run.budget;
  // The active version of each flagged namespace: its rows are what searches read. (A document's
  // chunk_count is the most chunks any version had, and outlives a purged version: no measure.)
  const active: [string, string][] = [];
  for (const namespace of options.missingChunks) {
    const first = (await deps.targets(namespace).catch(() => []))[0];
    if (first) active.push([namespace, first.spec.id]);
  }
  // Within the flagged namespaces only: documents_by_status, then each document's chunk rows by
  // chunks_by_document. A version's rows are numbered 0..n-1: none, or a gap, is a loss (rows lost
  // from the end alone are not seen).
  const { results } = await db
    .prepare(
      `SELECT d.namespace, d.id, d.etag, d.bytes FROM json_each(?1) n
       JOIN documents d ON d.namespace = json_extract(n.value, '$[0]') AND d.status = 'indexed'
       WHERE d.indexed_at < ?2 AND d.etag IS NOT NULL AND d.etag = d.indexed_etag AND d.chunk_count > 0
         AND (SELECT COUNT(*) = 0 OR COUNT(*) != MAX(c.idx) + 1 FROM chunks c
              WHERE c.namespace = d.namespace AND c.doc_id = d.id AND c.version = json_extract(n.value, '$[1]'))
       LIMIT ?3`,
    )
    .bind(JSON.stringify(active), run.cutoff, run.budget)
    .all<LostRow>();
  if (results.length === 0) return run.budget;
  await sendPaged(
    deps.queue,
    results.map((r) => ({
      body: putMessage(deps.bucketName, documentKey(r.namespace, r.id), r.bytes, r.etag, new Date(run.now)),
      contentType: "json" as const,
    })),
  );
  // Queued again (so the consumer indexes it, and the stuck-document repair takes over if this
  // message is lost: at most 3 re-enqueues of the version, then failed with the reason).
  await db
    .prepare(
      `UPDATE documents SET status = 'queued', updated_at = ?2,
         repairs = CASE WHEN repair_etag IS etag THEN repairs + 1 ELSE 1 END, repair_etag = etag, repaired_at = ?2
       FROM (SELECT json_extract(value, '$[0]') AS ns, json_extract(value, '$[1]') AS doc,
               json_extract(value, '$[2]') AS tag FROM json_each(?1)) AS r
       WHERE documents.namespace = r.ns AND documents.id = r.doc AND documents.etag = r.tag
         AND documents.status = 'indexed'`,
    )
    .bind(JSON.stringify(results.map((r) => [r.namespace, r.id, r.etag])), run.now)
    .run();
  for (const r of results) {
    count(r.namespace, "reindexed", 1);
    deps.logger.warn("repair.reindexed", {
      namespace: r.namespace,
      docId: r.id,
      reason: "chunk rows missing",
    });
  }
  return run.budget - results.length;
}

// --- Keyword tables ---------------------------------------------------------------------------

interface TableRow {
  namespace: string;
  version: string;
  table_name: string;
  repairs: number;
}

/**
 * Checks a few keyword tables against their chunk rows: those of namespaces that lost chunk rows
 * first, then the least recently checked (never checked: newest first). FTS5 keeps one
 * `<table>_docsize` row per indexed row (https://sqlite.org/fts5.html, "The columnsize option":
 * the %_docsize shadow table), which is what is compared. A shadow table can be read, not
 * written, in SQLite's defensive mode (SQLITE_DBCONFIG_DEFENSIVE, which workerd sets:
 * src/workerd/util/sqlite.c++), and workerd's authorizer refuses only names starting with `_cf_`
 * (src/workerd/api/sql.c++, isAllowedName): local D1 reads it (test/integration/vector-repair.test.ts).
 */
async function repairKeywordTables(
  deps: OrphanRepairDeps,
  db: D1Database,
  { now, tables: limit }: { now: number; tables: number },
  flagged: readonly string[],
  count: Count,
): Promise<void> {
  const { results: tables } = await db
    .prepare(
      `SELECT namespace, version, table_name, repairs FROM keyword_tables
       ORDER BY namespace IN (SELECT value FROM json_each(?1)) DESC, checked_at IS NOT NULL, checked_at,
         CASE WHEN checked_at IS NULL THEN -created_at END
       LIMIT ?2`,
    )
    .bind(JSON.stringify(flagged), limit)
    .all<TableRow>();
  if (tables.length === 0) return;
  // One statement per table: the chunk rows without a keyword row (their rowids, up to
  // keywordRows), the keyword rows without a chunk row, and the version's chunk rows.
  const probes = tables.map((t) =>
    db
      .prepare(
        `SELECT
           (SELECT json_group_array(id) FROM (SELECT c.rowid AS id FROM chunks c
              WHERE c.namespace = ?1 AND c.version = ?2
                AND NOT EXISTS (SELECT 1 FROM ${t.table_name}_docsize s WHERE s.id = c.rowid) LIMIT ?3)) AS missing,
           (SELECT COUNT(*) FROM ${t.table_name}_docsize s WHERE NOT EXISTS
              (SELECT 1 FROM chunks c WHERE c.rowid = s.id AND c.namespace = ?1 AND c.version = ?2)) AS orphans,
           (SELECT COUNT(*) FROM chunks WHERE namespace = ?1 AND version = ?2) AS rows`,
      )
      .bind(t.namespace, t.version, ORPHAN_REPAIR_LIMITS.keywordRows),
  );
  const answers = await db.batch<{ missing: string; orphans: number; rows: number }>(probes);
  const statements: D1PreparedStatement[] = [];
  const marks: [string, string, number][] = [];
  tables.forEach((t, i) => {
    const probe = answers[i]?.results?.[0] ?? { missing: "[]", orphans: 0, rows: 0 };
    const missing = JSON.parse(probe.missing) as number[];
    const { orphans, rows } = probe;
    const mark = (repairs: number) => marks.push([t.namespace, t.version, repairs]);
    if (missing.length === 0 && orphans === 0) {
      mark(0);
      return;
    }
    const fields = { namespace: t.namespace, version: t.version, missing: missing.length, orphans };
    if (
      t.repairs >= ORPHAN_REPAIR_LIMITS.attempts ||
      (orphans > 0 && rows > ORPHAN_REPAIR_LIMITS.rebuildRows)
    ) {
      // Alerted once, when it happened; the table is checked again in turn.
      if (t.repairs <= ORPHAN_REPAIR_LIMITS.attempts) {
        count(t.namespace, "abandoned", 1);
        deps.logger.error("repair.keyword_abandoned", {
          ...fields,
          rows,
          error:
            t.repairs >= ORPHAN_REPAIR_LIMITS.attempts
              ? `keyword rows still inconsistent after ${t.repairs} repairs by the index health check`
              : `keyword table has ${rows} chunk rows, over the ${ORPHAN_REPAIR_LIMITS.rebuildRows} the check rebuilds`,
        });
      }
      mark(ORPHAN_REPAIR_LIMITS.attempts + 1);
      return;
    }
    if (orphans > 0) {
      // Rebuilt from the version's chunk rows in one transaction: searches see the old table or
      // the new one; the missing rows come back with it.
      statements.push(
        db.prepare(`DROP TABLE IF EXISTS ${t.table_name}`),
        db
          .prepare("DELETE FROM keyword_tables WHERE namespace = ?1 AND version = ?2")
          .bind(t.namespace, t.version),
        ...ensureKeywordIndex(db, t.table_name, t.namespace, t.version, now),
      );
    } else {
      // Only rows whose chunk row is still there and still lacks its keyword row (an ingest
      // commit may have replaced it since the check read it).
      statements.push(
        db
          .prepare(
            `INSERT INTO ${t.table_name} (rowid, title, text)
             SELECT c.rowid, c.title, c.text FROM chunks c
             WHERE c.rowid IN (SELECT value FROM json_each(?1)) AND c.namespace = ?2 AND c.version = ?3
               AND NOT EXISTS (SELECT 1 FROM ${t.table_name}_docsize s WHERE s.id = c.rowid)`,
          )
          .bind(JSON.stringify(missing), t.namespace, t.version),
      );
    }
    mark(t.repairs + 1);
    count(t.namespace, "keywordRepairs", missing.length + orphans);
    deps.logger.warn("repair.keyword_repaired", { ...fields, rebuilt: orphans > 0 });
  });
  statements.push(
    db
      .prepare(
        `UPDATE keyword_tables SET checked_at = ?2, repairs = json_extract(m.value, '$[2]')
         FROM json_each(?1) m
         WHERE keyword_tables.namespace = json_extract(m.value, '$[0]')
           AND keyword_tables.version = json_extract(m.value, '$[1]')`,
      )
      .bind(JSON.stringify(marks), now),
  );
  await db.batch(statements);
}
