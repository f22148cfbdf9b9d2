// Facet counts in D1: how many documents hold each value of some metadata fields, among the
// documents of a set of chunks (a query's keyword matches, a ranking's candidates, or both) that
// pass the request's filter. One statement for every facet: the bound parameters stay a handful
// whatever the facets, candidates or values, and the values come back already cut per facet.
import { AppError, errorMessage } from "../errors";
import type { MetadataFilter } from "../vectors/vector-index";
import { DEFAULT_VERSION } from "../versions/model";
import type { D1Like } from "./d1";
import { keywordRank, keywordTable, metadataFilterSql, toFtsQuery } from "./keyword";
import { DEFAULT_TITLE_WEIGHT } from "./keyword-rank";

export type FacetValue = string | number | boolean;

export interface FacetCount {
  value: FacetValue;
  /** Documents holding the value. */
  count: number;
}

export interface FacetValues {
  /** The most frequent values, most documents first, then by value (see facetCounts). */
  values: FacetCount[];
  /** Documents holding a value of the field that is not among `values` (0: nothing was cut). */
  otherCount: number;
}

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
}

export interface FacetCounts {
  facets: Record<string, FacetValues>;
  /** Whether the query matched more than `maxMatches` chunks: only the best of them were counted. */
  capped: boolean;
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
  const empty = (): FacetCounts => ({
    facets: Object.fromEntries(q.fields.map((f) => [f, { values: [], otherCount: 0 }])),
    capped: false,
  });
  const match = q.query === undefined ? null : toFtsQuery(q.query, q.prefix);
  if (match === null && q.chunkIds.length === 0) return empty();
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
  const paths = p(JSON.stringify(q.fields.map((f) => `$."${f}"`)));
  const limit = p(q.limit);
  const where = q.filter ? metadataFilterSql(q.filter, "d.metadata", params.length + 1) : null;
  if (where) params.push(...where.params);
  // CROSS JOIN fixes the loop order, as in keywordSearch: matches first, then their rows by key
  // (EXPLAIN QUERY PLAN: the FTS5 scan, then "SEARCH c USING INTEGER PRIMARY KEY (rowid=?)").
  // A chunk both matched and a candidate is counted once: its document is (docs is DISTINCT).
  const sql = `WITH matches AS MATERIALIZED (${matchCount}),
    picked AS (${counted} ${candidates}),
    docs AS (SELECT DISTINCT c.doc_id FROM picked CROSS JOIN chunks c ON c.rowid = picked.rowid
             WHERE c.namespace = ${ns}),
    matched AS (SELECT d.metadata FROM docs CROSS JOIN documents d ON d.namespace = ${ns} AND d.id = docs.doc_id
                WHERE ${where ? where.sql : "1"}),
    typed AS (SELECT f.key AS facet, json_type(m.metadata, f.value) AS type, json_extract(m.metadata, f.value) AS raw
              FROM matched m CROSS JOIN json_each(${paths}) f),
    counts AS (SELECT facet, IIF(type IN ('integer', 'real'), 'number', type) AS kind,
                 IIF(type IN ('true', 'false'), NULL, raw) AS value, COUNT(*) AS n
               FROM typed WHERE type IN ('text', 'integer', 'real', 'true', 'false')
               GROUP BY facet, kind, value),
    ranked AS (SELECT facet, kind, value, n, SUM(n) OVER (PARTITION BY facet) AS total,
                 row_number() OVER (PARTITION BY facet ORDER BY n DESC,
                   CASE kind WHEN 'false' THEN 0 WHEN 'true' THEN 1 WHEN 'number' THEN 2 ELSE 3 END, value) AS pos
               FROM counts)
    SELECT facet, kind, value, n, total, pos FROM ranked WHERE pos <= ${limit}
    UNION ALL SELECT -1, NULL, NULL, (SELECT n FROM matches), NULL, NULL
    ORDER BY 1, 6`;
  let rows: FacetRow[];
  try {
    rows = (
      await db
        .prepare(sql)
        .bind(...params)
        .all<FacetRow>()
    ).results;
  } catch (err) {
    const message = errorMessage(err);
    // No keyword table: nothing of this version was ever indexed here (keywordSearch makes it).
    if (message.includes("no such table") && message.includes(table)) return empty();
    throw new AppError("unavailable", `D1 facet counts failed: ${message}`, { retryable: true, cause: err });
  }
  const out = empty();
  for (const row of rows) {
    if (row.facet === -1) {
      out.capped = row.n > q.maxMatches;
      continue;
    }
    const field = q.fields[row.facet];
    const facet = field === undefined ? undefined : out.facets[field];
    if (!facet) continue;
    facet.values.push({ value: facetValue(row), count: row.n });
    // What the values shown leave of the documents holding any value.
    facet.otherCount = row.total - facet.values.reduce((sum, v) => sum + v.count, 0);
  }
  return out;
}

interface FacetRow {
  facet: number;
  kind: "text" | "number" | "true" | "false" | null;
  value: string | number | null;
  n: number;
  total: number;
}

function facetValue(row: FacetRow): FacetValue {
  if (row.kind === "true") return true;
  if (row.kind === "false") return false;
  return row.kind === "number" ? Number(row.value) : String(row.value);
}
