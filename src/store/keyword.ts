// Keyword retrieval: BM25 over the namespace's own FTS5 table in D1, so IDF and average length
// come from the namespace's documents alone (see migrations/0002). Query text never reaches FTS5
// as syntax: it is reduced to words, each quoted, OR-ed, so no input can cause a syntax error; a
// prefix search adds a `*` after the last word's closing quote, which FTS5 reads as "any term
// starting with this one".
// Metadata filters run in the same SQL, with the semantics of src/vectors/filter.ts.
import { AppError, errorMessage } from "../errors";
import type { FilterOperators, FilterScalar, MetadataFilter } from "../vectors/vector-index";
import { DEFAULT_VERSION } from "../versions/model";
import { type D1Like, d1 } from "./d1";
import { type HydratedChunk, hydratedChunk } from "./hydrated-chunk";
import { DEFAULT_TITLE_WEIGHT, TEXT_WEIGHT } from "./keyword-rank";

export interface KeywordHit {
  chunkId: string;
  score: number;
  /** The chunk as search answers it, for the best hits when asked for (see keywordSearch). */
  chunk?: HydratedChunk;
}

const MAX_TERMS = 32;
/**
 * Shortest last word a prefix search expands: a shorter one is matched as a whole word. FTS5
 * answers a prefix by merging the postings of every term that starts with it, then scores every
 * matching chunk to rank them. Over SciFact (5,183 abstracts, node:sqlite, docs/performance.md) a
 * 3-letter prefix costs about what a word in every document costs ("pro"* 17 ms, "the" 15 ms);
 * 2 letters cost twice that ("th"* 33 ms) and 1 letter four times ("t"* 59 ms), while saying
 * little about the word meant.
 */
export const MIN_PREFIX_CHARS = 3;
// The same bm25() as the `rank` column given by "rank MATCH" (https://sqlite.org/fts5.html,
// "Sorting by Auxiliary Function Results"). FTS5 sorts "ORDER BY rank" itself, in a statement of
// its own (fts5CursorFirstSorted in SQLite's ext/fts5/fts5_main.c), and D1 counts rows read per
// statement (workerd src/workerd/util/sqlite.c++, getRowsRead: sqlite3_stmt_status(statement,
// LIBSQL_STMTSTATUS_ROWS_READ)): the query reads the rows it returns, not every match. ORDER BY
// bm25() stepped and sorted every match here: 2 rows read each ("the": 200,000 at 100k chunks).
export function keywordRank(titleWeight: number): string {
  // Spliced into SQL text: only ever a finite number (config.ts bounds it to 0..100).
  if (!Number.isFinite(titleWeight)) throw new Error(`invalid title weight ${titleWeight}`);
  return `bm25(${titleWeight}, ${TEXT_WEIGHT.toFixed(1)})`;
}
// src/search/fts-tokens.ts reproduces this tokenizer for highlights; test/unit/fts-tokens-d1.test.ts holds them equal.
export const TOKENIZE = "porter unicode61 remove_diacritics 2";
// No prefix index (https://sqlite.org/fts5.html, "Prefix Indexes"): prefix queries read the main
// index, so every keyword table, old or new, answers them. Over SciFact, prefix = '2' made the
// FTS5 data 1.66 times as large (and '2 3' 2.35 times), on every document of every namespace, to
// speed up only prefixes shorter than MIN_PREFIX_CHARS or already as cheap as a common word.

const encoder = new TextEncoder();
// Isolate-lifetime: (namespace, version) -> table name (a hash; cheap to recompute, so the cap just clears).
const tableNames = new Map<string, string>();
const TABLE_NAME_CACHE_LIMIT = 10_000;

/**
 * The FTS5 table of a namespace's version: "kw_" and the first 128 bits of SHA-256 in hex of the
 * namespace (default version) or of "<namespace>\0<version>" (others), so any namespace name
 * yields a plain SQL identifier (table names cannot be bound parameters).
 */
export async function keywordTable(namespace: string, version = DEFAULT_VERSION): Promise<string> {
  const scope = version === DEFAULT_VERSION ? namespace : `${namespace}\u0000${version}`;
  const cached = tableNames.get(scope);
  if (cached !== undefined) return cached;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(scope)), 0, 16);
  const name = `kw_${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  if (tableNames.size >= TABLE_NAME_CACHE_LIMIT) tableNames.clear();
  tableNames.set(scope, name);
  return name;
}

/**
 * Statements that create the version's keyword table when it does not exist and fill it from the
 * version's chunk rows the first time (namespaces indexed before the table existed). Idempotent
 * and cheap once done; they go first in every batch that writes chunks, so the table, its rows and
 * the chunk rows always commit together.
 */
export function ensureKeywordIndex(
  db: D1Like,
  table: string,
  namespace: string,
  version = DEFAULT_VERSION,
  now = Date.now(),
): D1PreparedStatement[] {
  return [
    db.prepare(
      `CREATE VIRTUAL TABLE IF NOT EXISTS ${table} USING fts5 (title, text, content = 'chunks',
         content_rowid = 'rowid', tokenize = '${TOKENIZE}')`,
    ),
    // The check drives the join: once the table is recorded it yields no row and no chunk row is
    // read. As a condition on each chunk row (AND NOT EXISTS ...), every commit read all of the
    // version's chunk rows (two rows read per chunk of the namespace).
    db
      .prepare(
        `INSERT INTO ${table} (rowid, title, text)
         SELECT c.rowid, c.title, c.text
         FROM (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM keyword_tables WHERE namespace = ?1 AND version = ?2)) fresh
         CROSS JOIN chunks c WHERE c.namespace = ?1 AND c.version = ?2`,
      )
      .bind(namespace, version),
    db
      .prepare(
        `INSERT INTO keyword_tables (namespace, version, table_name, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (namespace, version) DO NOTHING`,
      )
      .bind(namespace, version, table, now),
  ];
}

/** The keyword tables of a namespace's versions, as recorded when each was created. */
export async function keywordTables(
  db: D1Like,
  namespace: string,
): Promise<{ version: string; table: string }[]> {
  const { results } = await d1("list keyword tables", () =>
    db
      .prepare(
        'SELECT version, table_name AS "table" FROM keyword_tables WHERE namespace = ?1 ORDER BY version',
      )
      .bind(namespace)
      .all<{ version: string; table: string }>(),
  );
  return results;
}

/**
 * A statement that adds ("index") or removes ("unindex") the keyword rows of the chunk rows
 * matching `where` (SQL over `chunks`; bind its parameters on the result). Removal must run
 * before the chunk rows are deleted: an external-content index needs the indexed values.
 */
export function keywordRows(
  db: D1Like,
  table: string,
  op: "index" | "unindex",
  where: string,
): D1PreparedStatement {
  return op === "index"
    ? db.prepare(
        `INSERT INTO ${table} (rowid, title, text) SELECT rowid, title, text FROM chunks WHERE ${where}`,
      )
    : db.prepare(
        `INSERT INTO ${table} (${table}, rowid, title, text)
         SELECT 'delete', rowid, title, text FROM chunks WHERE ${where}`,
      );
}

/** The words of free text that a keyword search looks for: at most MAX_TERMS, each once. */
export function ftsQueryWords(text: string): string[] {
  const words = text
    .normalize("NFKC")
    .toLowerCase()
    .match(/[\p{L}\p{N}]+/gu);
  return words ? [...new Set(words)].slice(0, MAX_TERMS) : [];
}

/**
 * The last word of free text, when a prefix search expands it: the text's last word (in text
 * order, so a repeat of an earlier word still counts) when it has at least MIN_PREFIX_CHARS
 * characters (code points); undefined otherwise.
 */
export function prefixWord(text: string): string | undefined {
  const words = ftsQueryWords(text);
  const all = text
    .normalize("NFKC")
    .toLowerCase()
    .match(/[\p{L}\p{N}]+/gu);
  const last = all?.[all.length - 1];
  if (last === undefined || !words.includes(last)) return undefined;
  return [...last].length >= MIN_PREFIX_CHARS ? last : undefined;
}

/**
 * FTS5 MATCH expression for free text, or null when the text has no searchable word. With
 * `prefix`, the last word (see prefixWord) matches every term that starts with it: `"photosynth"*`.
 * FTS5 runs the prefix through the table's tokenizer first, porter included (on D1, `"running"*`
 * finds "runner": the prefix became "run"), so it is compared with stored stems as a stem:
 * "photosynth" and "photosynthesis" (stem "photosynthesi") both find "photosynthesis". A prefix that
 * runs past a word's stem misses that word until it is typed whole: "runn" finds "runner" but not
 * "running" (stem "run"), which "run" and "running" find. Each word is only letters and digits, so
 * the quotes and the star are all the syntax.
 */
export function toFtsQuery(text: string, prefix = false): string | null {
  const unique = ftsQueryWords(text);
  if (unique.length === 0) return null;
  const expanded = prefix ? prefixWord(text) : undefined;
  return unique.map((w) => (w === expanded ? `"${w}"*` : `"${w}"`)).join(" OR ");
}

// A hit's document has not expired (?7 is now). Hits past the hydrate depth have no document row
// joined (d.id IS NULL) and pass: hydration drops them if expired.
const LIVE = "(d.expires_at IS NULL OR d.expires_at > ?7)";

/** How a keyword search ranks and matches, beyond its query. */
export interface KeywordOptions {
  /** bm25() weight of a title match (a body match weighs 1); DEFAULT_TITLE_WEIGHT when absent. */
  titleWeight?: number;
  /** Match the query's last word as a prefix (see toFtsQuery). */
  prefix?: boolean;
  /** Documents expiring at or before this (epoch ms) are left out; Date.now() when absent. */
  now?: number;
  /**
   * A read sent in the same D1 batch as the search (one round trip for both; D1 runs a batch's
   * statements in order, https://developers.cloudflare.com/d1/worker-api/d1-database/#batch),
   * and where its rows go once the search answered. A failed batch fails the search as a failed
   * search statement would, and gives `answer` nothing.
   */
  alongside?: { statement: D1PreparedStatement; answer: (rows: unknown[]) => void };
}

/**
 * The best `limit` chunks of the namespace for `query` by BM25, restricted to `filter` if given.
 * Without a filter, the best `hydrate` hits come with their chunk (text, title, metadata) from the
 * same query, so a search whose answer they fill needs no second D1 round trip to hydrate.
 */
export async function keywordSearch(
  db: D1Like,
  namespace: string,
  query: string,
  limit: number,
  filter?: MetadataFilter,
  version = DEFAULT_VERSION,
  hydrate = 0,
  options: KeywordOptions = {},
): Promise<KeywordHit[]> {
  const match = toFtsQuery(query, options.prefix);
  if (!match) return [];
  const titleWeight = options.titleWeight ?? DEFAULT_TITLE_WEIGHT;
  const table = await keywordTable(namespace, version);
  const where = filter ? metadataFilterSql(filter, "d.metadata", 8) : null;
  const now = options.now ?? Date.now();
  // CROSS JOIN fixes the loop order: matches of the index first, then their chunk (and document)
  // rows by key. Left to itself, SQLite may walk every chunk of the namespace and probe the index
  // for each one.
  // Unfiltered, the best rows are cut inside the FTS table before any join: joining every
  // match to its chunk row first cost twice as much. Only the best `hydrate` rows join their
  // document and carry the chunk's columns; the rest are an id and a score (the answer was 40 KB
  // for 100 hits with every column, 19 KB this way). A filter needs each match's document.
  const sql = where
    ? `SELECT c.chunk_id, -bm25(${table}, ?2, ?3) AS score
       FROM ${table} CROSS JOIN chunks c ON c.rowid = ${table}.rowid
       CROSS JOIN documents d ON d.namespace = c.namespace AND d.id = c.doc_id
       WHERE ${table} MATCH ?1 AND c.namespace = ?4 AND ${LIVE} AND ${where.sql}
       ORDER BY bm25(${table}, ?2, ?3) LIMIT ?5`
    : `SELECT c.chunk_id, -best.score AS score, d.id IS NOT NULL AS hydrated, d.id AS doc_id,
         IIF(d.id IS NULL, NULL, c.idx) AS idx, d.title, IIF(d.id IS NULL, NULL, c.headings) AS headings,
         IIF(d.id IS NULL, NULL, c.text) AS text, d.metadata, d.expires_at
       FROM (SELECT rowid, score, row_number() OVER (ORDER BY score) AS pos
             FROM (SELECT rowid, rank AS score FROM ${table}
                   WHERE ${table} MATCH ?1 AND rank MATCH '${keywordRank(titleWeight)}' ORDER BY rank LIMIT ?5)) best
       CROSS JOIN chunks c ON c.rowid = best.rowid
       LEFT JOIN documents d ON best.pos <= ?6 AND d.namespace = c.namespace AND d.id = c.doc_id
       WHERE c.namespace = ?4 AND ${LIVE}
       ORDER BY best.score`;
  // ?6 is the hydrate depth (unfiltered) or unused (filtered); ?7 the expiry cut-off.
  const params = where ? [0, now, ...where.params] : [hydrate, now];
  const statement = db.prepare(sql).bind(match, titleWeight, TEXT_WEIGHT, namespace, limit, ...params);
  const alongside = options.alongside;
  const run = async (): Promise<KeywordHit[]> => {
    let results: Record<string, unknown>[];
    if (alongside) {
      const [own, other] = await db.batch<Record<string, unknown>>([statement, alongside.statement]);
      results = own?.results ?? [];
      alongside.answer(other?.results ?? []);
    } else results = (await statement.all<Record<string, unknown>>()).results;
    return results.map((row) => {
      const hit: KeywordHit = { chunkId: String(row.chunk_id), score: Number(row.score) };
      if (row.hydrated === 1) hit.chunk = hydratedChunk(row);
      return hit;
    });
  };
  try {
    return await run();
  } catch (err) {
    if (!isMissingTable(err, table)) throw unavailable(err);
  }
  // No table yet: nothing was ever indexed here, or only before per-namespace tables existed.
  // Only a namespace with chunks gets one, so searches of unknown namespaces create nothing.
  const hasChunks = await d1("keyword index check", () =>
    db
      .prepare("SELECT 1 AS one FROM chunks WHERE namespace = ?1 AND version = ?2 LIMIT 1")
      .bind(namespace, version)
      .first(),
  );
  if (!hasChunks) return [];
  await d1("keyword index build", () => db.batch(ensureKeywordIndex(db, table, namespace, version)));
  try {
    return await run();
  } catch (err) {
    throw unavailable(err);
  }
}

// D1 reports a missing table only in the message ("no such table: kw_...: SQLITE_ERROR").
function isMissingTable(err: unknown, table: string): boolean {
  const message = errorMessage(err);
  return message.includes("no such table") && message.includes(table);
}

function unavailable(err: unknown): AppError {
  return new AppError("unavailable", `D1 keyword search failed: ${errorMessage(err)}`, {
    retryable: true,
    cause: err,
  });
}

// --- Metadata filters as SQL -----------------------------------------------------------------

export interface FilterSql {
  sql: string;
  params: (string | number)[];
}

const SCALAR_TYPES = "('text', 'integer', 'real', 'true', 'false')";
const NUMERIC_TYPES = "('integer', 'real')";
// Stored metadata keys match /^[A-Za-z_][A-Za-z0-9_]*$/; a path segment outside this alphabet
// names a field no document has, and is never spliced into a JSON path.
const PLAIN_SEGMENT = /^[A-Za-z0-9_]+$/;

class Params {
  readonly values: (string | number)[] = [];
  constructor(private next: number) {}
  add(value: string | number): string {
    this.values.push(value);
    return `?${this.next++}`;
  }
}

interface Field {
  /** SQL for the JSON type of the value, 'missing' when absent: never NULL. */
  type: string;
  value: string;
}

function field(column: string, path: string, params: Params): Field {
  const segments = path.split(".");
  if (!segments.every((s) => PLAIN_SEGMENT.test(s))) return { type: "'missing'", value: "NULL" };
  const jsonPath = params.add(`$${segments.map((s) => `."${s}"`).join("")}`);
  return {
    type: `coalesce(json_type(${column}, ${jsonPath}), 'missing')`,
    value: `json_extract(${column}, ${jsonPath})`,
  };
}

function equals(f: Field, operand: FilterScalar, params: Params): string {
  // A missing field (or one holding no scalar) equals null and nothing else, as in matchesFilter.
  if (operand === null) return `(${f.type} NOT IN ${SCALAR_TYPES})`;
  if (typeof operand === "boolean") return `(${f.type} = '${operand}')`;
  if (typeof operand === "number")
    return `(${f.type} IN ${NUMERIC_TYPES} AND ${f.value} = ${params.add(operand)})`;
  return `(${f.type} = 'text' AND ${f.value} = ${params.add(operand)})`;
}

/** Type-strict ordering: numbers with numbers, strings with strings (by UTF-8 bytes: code points). */
function compare(f: Field, op: string, operand: FilterScalar | undefined, params: Params): string {
  if (typeof operand === "number")
    return `(${f.type} IN ${NUMERIC_TYPES} AND ${f.value} ${op} ${params.add(operand)})`;
  if (typeof operand === "string") return `(${f.type} = 'text' AND ${f.value} ${op} ${params.add(operand)})`;
  return "0";
}

function inSet(f: Field, items: readonly (string | number | boolean)[], params: Params): string {
  // json_each reports the same type names as json_type; booleans match by type alone.
  return `EXISTS (SELECT 1 FROM json_each(${params.add(JSON.stringify(items))}) o
    WHERE (o.type = ${f.type} OR (o.type IN ${NUMERIC_TYPES} AND ${f.type} IN ${NUMERIC_TYPES}))
      AND (o.type IN ('true', 'false') OR o.value = ${f.value}))`;
}

function operators(f: Field, ops: FilterOperators, params: Params): string[] {
  const parts: string[] = [];
  if (ops.$eq !== undefined) parts.push(equals(f, ops.$eq, params));
  if (ops.$ne !== undefined) parts.push(`NOT ${equals(f, ops.$ne, params)}`);
  if (ops.$in !== undefined) parts.push(inSet(f, ops.$in, params));
  if (ops.$nin !== undefined) parts.push(`NOT ${inSet(f, ops.$nin, params)}`);
  const ranges = [
    ["$gt", ">"],
    ["$gte", ">="],
    ["$lt", "<"],
    ["$lte", "<="],
  ] as const;
  for (const [op, sql] of ranges) if (ops[op] !== undefined) parts.push(compare(f, sql, ops[op], params));
  return parts;
}

/**
 * A validated metadata filter as a SQL condition over a JSON metadata column, true exactly where
 * matchesFilter() is (Vectorize's semantics). Parameters are numbered from `firstParam`; the
 * number of them grows with the filter's fields, not with the size of $in / $nin lists.
 */
export function metadataFilterSql(filter: MetadataFilter, column: string, firstParam: number): FilterSql {
  const params = new Params(firstParam);
  const parts: string[] = [];
  for (const [path, condition] of Object.entries(filter)) {
    const f = field(column, path, params);
    if (condition === null || typeof condition !== "object") parts.push(equals(f, condition, params));
    else parts.push(...operators(f, condition, params));
  }
  return { sql: parts.length === 0 ? "1" : `(${parts.join(" AND ")})`, params: params.values };
}
