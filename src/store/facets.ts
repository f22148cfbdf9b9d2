// Facet counts in D1: how many documents hold each value of some metadata fields, among the
// documents of a set of chunks (a query's keyword matches, a ranking's candidates, or both) that
// pass the request's filter. One statement for every facet: the bound parameters stay a handful
// whatever the facets, candidates or values. It answers the documents' values for the Worker to
// count (facet-values.ts) while they are few, and the values already counted and cut per facet
// by SQLite past that.
import { AppError, errorMessage } from "../errors";
import type { MetadataFilter } from "../vectors/vector-index";
import { DEFAULT_VERSION } from "../versions/model";
import type { D1Like } from "./d1";
import { countValues, type FacetValue, type FacetValues } from "./facet-values";
import { keywordRank, keywordTable, metadataFilterSql, toFtsQuery } from "./keyword";
import { DEFAULT_TITLE_WEIGHT } from "./keyword-rank";

export type { FacetCount, FacetValue, FacetValues } from "./facet-values";

/**
 * When facetCounts hands the documents to the Worker (countValues) instead of grouping their
 * values in SQLite: while the chunks counted (matches and candidates), which bound the documents,
 * are at most `documents`. They come as one string of each document's values (JSON, at most
 * `valueChars` characters a document), one SQLite value, which D1 caps at 2,000,000 bytes
 * (D1_LIMITS.maxValueBytes): at most 4 UTF-8 bytes a character, plus a comma a document, keeps it
 * under (test/unit/facet-values.test.ts). Past `documents`, or when a document's values are
 * longer, SQLite groups and ranks the values itself, so neither the answer nor the Worker's map
 * grows with the matches.
 */
export const WORKER_COUNTING = { documents: 1_000, valueChars: 400 } as const;

export interface FacetQuery {
  /** Free text whose keyword matches are counted (the best `maxMatches` chunks of them). */
  query?: string;
  /** Match the query's last word as a prefix, as the keyword leg does (see toFtsQuery). */
  prefix?: boolean;
  /** bm25() weight of a title match in the ranking that picks the best matches. */
  titleWeight?: number;
  /** Chunk ids counted as well (a ranking's candidates); one bound parameter as a JSON array. */
  chunkIds: readonly string[];
  /** Metadata fields to count, each a top-level key. */
  fields: readonly string[];
  filter?: MetadataFilter;
  /** Values answered per field. */
  limit: number;
  /** Keyword matches (chunks) read at most. */
  maxMatches: number;
  /**
   * Chunks counted (matches and candidates) up to which the Worker counts the values
   * (WORKER_COUNTING.documents by default; 0: SQLite always does).
   */
  workerDocuments?: number;
  /**
   * Answer the matched documents, each with its key (documentKey) and values, instead of their
   * counts, for the caller to count them with documents of its own (the vector candidates, whose
   * values come with them from the index; see src/search/facets.ts). SQLite never groups: past
   * `workerDocuments` chunks, or with values too long to hand over, the answer is "not counted"
   * and the caller counts with a statement of its own. `chunkIds` must be empty.
   */
  documentKeys?: boolean;
}

export interface FacetCounts {
  facets: Record<string, FacetValues>;
  /** Whether the query matched more than `maxMatches` chunks: only the best of them were counted. */
  capped: boolean;
}

/** The matched documents of a `documentKeys` statement: each one's key and values, in `fields` order. */
export interface FacetDocuments {
  documents: Map<string, unknown[]>;
  /** Keyword matches counted (at most `maxMatches` + 1: more than `maxMatches` means capped). */
  matches: number;
}

/** A facet statement, to be run alone or in a batch, and how to read its answer. */
export interface PreparedFacets {
  statement: D1PreparedStatement;
  /** The keyword table it reads (a missing one means nothing of the version is indexed). */
  table: string;
  /** The counts; null when SQLite must count them instead (a document's values too long to hand over). */
  counts: (rows: unknown[]) => FacetCounts | null;
  /** With `documentKeys`: the matched documents; null when they were not handed over. */
  documents: (rows: unknown[]) => FacetDocuments | null;
}

/**
 * The key of a chunk's document: its id up to the last "-" (chunk ids are the document's
 * chunkIdPrefix, a hash of namespace and document id, then "-" and the chunk's index: see
 * src/ingest/ids.ts), so keyword matches and vector candidates of one document meet by key
 * without the document id, which the vector index does not return (it has no metadata index).
 */
export function documentKey(chunkId: string): string {
  const dash = chunkId.lastIndexOf("-");
  return dash < 0 ? chunkId : chunkId.slice(0, dash);
}

/**
 * Documents per value of each field. Matches are the query's keyword matches, all of them while
 * there are at most `maxMatches` (unranked), else the best `maxMatches` by BM25: FTS5 sorts them
 * itself (the same "rank MATCH" as keyword search), so D1 counts the rows the statement reads
 * after the cut, not every match (see keywordRank).
 * Each document counts once per field however many of its chunks matched; a document without the
 * field (or with a non-scalar in it) counts for none of its values. Values sort by count, then
 * false < true < numbers (ascending) < strings (by UTF-8 bytes: code points), so every order is
 * total and the same on every page and every database.
 */
export async function facetCounts(
  db: D1Like,
  namespace: string,
  q: FacetQuery,
  version = DEFAULT_VERSION,
): Promise<FacetCounts> {
  const prepared = await prepareFacets(db, namespace, q, version);
  if (prepared === null) return emptyCounts(q.fields);
  let rows: unknown[];
  try {
    rows = (await prepared.statement.all()).results;
  } catch (err) {
    if (isMissingTable(err, prepared.table)) return emptyCounts(q.fields);
    throw facetsUnavailable(err);
  }
  // A document with values too long to hand over: SQLite counts them all.
  return prepared.counts(rows) ?? facetCounts(db, namespace, { ...q, workerDocuments: 0 }, version);
}

/** Facets with no value: what a search that matched nothing answers. */
export function emptyCounts(fields: readonly string[]): FacetCounts {
  return { facets: Object.fromEntries(fields.map((f) => [f, { values: [], otherCount: 0 }])), capped: false };
}

/** Whether D1 refused a statement because `table` does not exist (nothing of its version was indexed). */
export function isMissingTable(err: unknown, table: string): boolean {
  const message = errorMessage(err);
  return message.includes("no such table") && message.includes(table);
}

export function facetsUnavailable(err: unknown): AppError {
  return new AppError("unavailable", `D1 facet counts failed: ${errorMessage(err)}`, {
    retryable: true,
    cause: err,
  });
}

/**
 * The statement facetCounts runs (see there), for a caller that sends it in a batch; null when
 * nothing can match (no searchable word and no candidates).
 */
export async function prepareFacets(
  db: D1Like,
  namespace: string,
  q: FacetQuery,
  version = DEFAULT_VERSION,
): Promise<PreparedFacets | null> {
  const match = q.query === undefined ? null : toFtsQuery(q.query, q.prefix);
  if (match === null && q.chunkIds.length === 0) return null;
  const table = await keywordTable(namespace, version);
  const params: unknown[] = [];
  const p = (value: unknown) => {
    params.push(value);
    return `?${params.length}`;
  };
  const ns = p(namespace);
  const max = p(q.maxMatches);
  // The matches, one more than counted to tell whether the query matched more. Unranked: while
  // they are all counted, which are best does not matter, and FTS5 then reads its doclists alone;
  // ranking every match with bm25() (as the keyword leg does) took most of this statement's time.
  // Only past the cap are the best `maxMatches` picked by rank. Each branch is gated by its LIMIT
  // (0 when it does not apply), which SQLite checks before it asks FTS5 for anything: a WHERE on
  // the count did not stop the ranked branch from sorting every match (test/unit/facet-rows-read.test.ts).
  const fts = match ? `SELECT rowid FROM ${table} WHERE ${table} MATCH ${p(match)}` : null;
  const matchCount = fts
    ? `SELECT COUNT(*) AS n FROM (${fts} LIMIT ${p(q.maxMatches + 1)})`
    : "SELECT 0 AS n";
  const counted = fts
    ? `SELECT rowid FROM (${fts} LIMIT IIF((SELECT n FROM matches) <= ${max}, ${max}, 0))
       UNION ALL SELECT rowid FROM (${fts} AND rank MATCH '${keywordRank(q.titleWeight ?? DEFAULT_TITLE_WEIGHT)}'
         ORDER BY rank LIMIT IIF((SELECT n FROM matches) > ${max}, ${max}, 0))`
    : "SELECT NULL AS rowid WHERE 0";
  const candidates =
    q.chunkIds.length > 0
      ? `UNION ALL SELECT c.rowid FROM json_each(${p(JSON.stringify(q.chunkIds))}) j
           CROSS JOIN chunks c ON c.chunk_id = j.value`
      : "";
  // JSON paths of the fields, quoted as keyword.ts quotes filter paths.
  const paths = p(JSON.stringify(q.fields.map(jsonPath)));
  const limit = p(q.limit);
  const where = q.filter ? metadataFilterSql(q.filter, "d.metadata", params.length + 1) : null;
  if (where) params.push(...where.params);
  const maxDocs = q.workerDocuments ?? WORKER_COUNTING.documents;
  // Each field's value as JSON text (`->`, "returns it as JSON":
  // https://developers.cloudflare.com/d1/sql-api/query-json/), so a boolean stays a boolean, where
  // json_extract answers 1 or 0. Paths quoted as keyword.ts quotes filter paths; SQL literals, so
  // the bound parameters stay a handful whatever the facets.
  const values = q.fields.map((f) => `d.metadata -> '${jsonPath(f).replaceAll("'", "''")}'`).join(", ");
  // CROSS JOIN fixes the loop order, as in keywordSearch: matches first, then their rows by key
  // (EXPLAIN QUERY PLAN: the FTS5 scan, then "SEARCH c USING INTEGER PRIMARY KEY (rowid=?)").
  // A chunk both matched and a candidate is counted once: its document is (docs is DISTINCT).
  // While the chunks counted are at most `maxDocs`, the answer is one row holding every
  // document's values, counted by countValues: that skips SQLite's grouping and ranking (most of
  // this statement's time, and rows read) and D1's cost per row answered. A document whose values
  // are longer than `valueChars` stands as 0 there, and the counts are taken again by SQLite.
  // Past `maxDocs`, SQLite groups and ranks the values itself and answers `limit` rows per field
  // at most. Each branch is gated by its LIMIT, as the matches are.
  const filtered = where ? where.sql : "1";
  // Whether more than `maxDocs` documents could match: the chunks (matches and candidates) bound
  // their documents, and the matches are counted anyway. Counting the documents instead meant
  // materializing them for three readers, and with them every match: a row read per match more
  // (test/unit/facet-rows-read.test.ts). NOT MATERIALIZED: each branch lists the documents
  // itself, and the gated one never does.
  const many = `((SELECT n FROM matches) + ${q.chunkIds.length} > ${maxDocs})`;
  // With documentKeys, each document comes with its key (documentKey of any of its chunk ids: the
  // id without "-" and the chunk's index), and SQLite never groups. DISTINCT on both is DISTINCT
  // on the document (the key follows from it); GROUP BY with an aggregate read more rows.
  const keys = q.documentKeys === true;
  const key = keys ? ", substr(c.chunk_id, 1, length(c.chunk_id) - length(c.idx) - 1) AS doc_key" : "";
  const docs = `SELECT DISTINCT c.doc_id${key} FROM picked CROSS JOIN chunks c ON c.rowid = picked.rowid
         WHERE c.namespace = ${ns}`;
  const sql = `WITH matches AS MATERIALIZED (${matchCount}),
    picked AS NOT MATERIALIZED (${counted} ${candidates}),
    docs AS NOT MATERIALIZED (${docs}),
    grouped AS (SELECT d.metadata FROM docs CROSS JOIN documents d ON d.namespace = ${ns} AND d.id = docs.doc_id
                WHERE ${filtered} LIMIT IIF(${keys ? "0" : many}, -1, 0)),
    typed AS (SELECT f.key AS facet, json_type(m.metadata, f.value) AS type, json_extract(m.metadata, f.value) AS raw
              FROM grouped m CROSS JOIN json_each(${paths}) f),
    counts AS (SELECT facet, IIF(type IN ('integer', 'real'), 'number', type) AS kind,
                 IIF(type IN ('true', 'false'), NULL, raw) AS value, COUNT(*) AS n
               FROM typed WHERE type IN ('text', 'integer', 'real', 'true', 'false')
               GROUP BY facet, kind, value),
    ranked AS (SELECT facet, kind, value, n, SUM(n) OVER (PARTITION BY facet) AS total,
                 row_number() OVER (PARTITION BY facet ORDER BY n DESC,
                   CASE kind WHEN 'false' THEN 0 WHEN 'true' THEN 1 WHEN 'number' THEN 2 ELSE 3 END, value) AS pos
               FROM counts)
    SELECT facet, kind, value, n, total, pos FROM ranked WHERE pos <= ${limit}
    UNION ALL SELECT -2, NULL, '[' || group_concat(v, ',') || ']', NULL, NULL, NULL
      FROM (SELECT IIF(length(v) <= ${WORKER_COUNTING.valueChars}, v, '0') AS v
            FROM (SELECT json_array(${keys ? "docs.doc_key, " : ""}${values}) AS v
                  FROM docs CROSS JOIN documents d ON d.namespace = ${ns} AND d.id = docs.doc_id
                  WHERE ${filtered} LIMIT IIF(${many}, 0, -1)))
    UNION ALL SELECT -1, NULL, NULL, (SELECT n FROM matches), NULL, NULL`;
  const statement = db.prepare(sql).bind(...params);
  return {
    statement,
    table,
    counts: (rows) => readCounts(rows as FacetRow[], q, emptyCounts(q.fields)),
    documents: (rows) => readDocuments(rows as FacetRow[], q),
  };
}

/**
 * The counts in the statement's answer: from the documents' values (countValues) or from SQLite's
 * ranking (each field's first `limit` values, by `pos`); null when a document's values were too
 * long to hand over.
 */
function readCounts(rows: FacetRow[], q: FacetQuery, out: FacetCounts): FacetCounts | null {
  let documents: unknown[] | null = null;
  for (const row of rows) {
    if (row.facet === -1) out.capped = row.n > q.maxMatches;
    else if (row.facet === -2 && typeof row.value === "string") documents = JSON.parse(row.value);
  }
  if (documents) {
    if (!documents.every(Array.isArray)) return null;
    const perDocument = documents as unknown[][];
    for (const [i, field] of q.fields.entries()) {
      out.facets[field] = countValues(
        perDocument.map((values) => values[i]),
        q.limit,
      );
    }
    return out;
  }
  const ranked = rows.filter((row) => row.facet >= 0).sort((a, b) => a.facet - b.facet || a.pos - b.pos);
  for (const row of ranked) {
    const field = q.fields[row.facet];
    const facet = field === undefined ? undefined : out.facets[field];
    if (!facet) continue;
    facet.values.push({ value: facetValue(row), count: row.n });
    // What the values shown leave of the documents holding any value.
    facet.otherCount = row.total - facet.values.reduce((sum, v) => sum + v.count, 0);
  }
  return out;
}

/**
 * The documents of a `documentKeys` answer by key, each with its values in `q.fields` order; null
 * when they were not handed over (more chunks than the Worker counts, or a document's values too
 * long).
 */
function readDocuments(rows: FacetRow[], q: FacetQuery): FacetDocuments | null {
  let matches = 0;
  let listed: unknown = null;
  for (const row of rows) {
    if (row.facet === -1) matches = row.n;
    else if (row.facet === -2) listed = row.value;
  }
  const documents = new Map<string, unknown[]>();
  if (matches + q.chunkIds.length > (q.workerDocuments ?? WORKER_COUNTING.documents)) return null;
  // No row listed: no matched document passed the filter.
  if (typeof listed !== "string") return { documents, matches };
  const parsed: unknown = JSON.parse(listed);
  if (!Array.isArray(parsed)) return null;
  for (const entry of parsed) {
    if (!Array.isArray(entry) || typeof entry[0] !== "string") return null;
    documents.set(entry[0], entry.slice(1));
  }
  return { documents, matches };
}

/** A field's JSON path, each name quoted. */
function jsonPath(field: string): string {
  return `$."${field}"`;
}

interface FacetRow {
  facet: number;
  kind: "text" | "number" | "true" | "false" | null;
  value: string | number | null;
  n: number;
  total: number;
  pos: number;
}

function facetValue(row: FacetRow): FacetValue {
  if (row.kind === "true") return true;
  if (row.kind === "false") return false;
  return row.kind === "number" ? Number(row.value) : String(row.value);
}
