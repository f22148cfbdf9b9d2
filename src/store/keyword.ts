// Keyword retrieval: BM25 over the chunks' FTS5 index in D1. Query text never reaches FTS5 as
// syntax: it is reduced to words, each quoted, OR-ed, so no input can cause a syntax error.
import { AppError, errorMessage } from "../errors";

export interface KeywordHit {
  chunkId: string;
  score: number;
}

const MAX_TERMS = 32;
// bm25() column weights: a title match counts more than a body match.
const TITLE_WEIGHT = 2.0;
const TEXT_WEIGHT = 1.0;

/** FTS5 MATCH expression for free text, or null when the text has no searchable word. */
export function toFtsQuery(text: string): string | null {
  const words = text
    .normalize("NFKC")
    .toLowerCase()
    .match(/[\p{L}\p{N}]+/gu);
  if (!words) return null;
  const unique = [...new Set(words)].slice(0, MAX_TERMS);
  return unique.map((w) => `"${w}"`).join(" OR ");
}

export async function keywordSearch(
  db: D1Database,
  namespace: string,
  query: string,
  limit: number,
): Promise<KeywordHit[]> {
  const match = toFtsQuery(query);
  if (!match) return [];
  try {
    const { results } = await db
      .prepare(
        `SELECT c.chunk_id AS chunkId, -bm25(chunks_fts, ?3, ?4) AS score
         FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid
         WHERE chunks_fts MATCH ?2 AND c.namespace = ?1
         ORDER BY bm25(chunks_fts, ?3, ?4) LIMIT ?5`,
      )
      .bind(namespace, match, TITLE_WEIGHT, TEXT_WEIGHT, limit)
      .all<KeywordHit>();
    return results;
  } catch (err) {
    throw new AppError("unavailable", `D1 keyword search failed: ${errorMessage(err)}`, {
      retryable: true,
      cause: err,
    });
  }
}
