// The keyword index's tokenizer in TypeScript: FTS5 "porter unicode61 remove_diacritics 2" (see
// src/store/keyword.ts), so a highlight marks a word exactly when the index would match it.
// unicode61 (ext/fts5/fts5_tokenize.c, fts5UnicodeTokenize): tokens are runs of letters (L*),
// numbers (N*) and private-use characters (Co); a combining diacritic continues a token but never
// starts one; each token is case-folded with its diacritics removed. Then porter stems it.
// Source: https://github.com/sqlite/sqlite/blob/master/ext/fts5/fts5_tokenize.c and fts5_unicode2.c;
// test/unit/fts-tokens-d1.test.ts checks the two agree on D1.
import { porterStem } from "./porter";

// sqlite3Fts5UnicodeIsdiacritic (ext/fts5/fts5_unicode2.c): the combining marks U+0300..U+0331
// that continue a token, given there as two bit masks over code points from 768.
const DIACRITIC_MASKS = [0x08029fdf, 0x000361f8] as const;
const DIACRITICS = Array.from({ length: 50 }, (_, i) => 768 + i)
  .filter((c) => ((DIACRITIC_MASKS[c < 800 ? 0 : 1] >>> ((c - 768) % 32)) & 1) === 1)
  .map((c) => String.fromCharCode(c))
  .join("");
const TOKEN = new RegExp(`[\\p{L}\\p{N}\\p{Co}][\\p{L}\\p{N}\\p{Co}${DIACRITICS}]*`, "gu");
const NON_ASCII = /[^\p{ASCII}]/u;
const COMBINING = /[\u0300-\u036f]/g;

export interface FtsToken {
  /** UTF-16 offsets of the token in the text. */
  start: number;
  end: number;
  /** What the index stores for it: the folded, stemmed token (a byte string). */
  term: string;
}

/**
 * unicode61's folding with remove_diacritics 2: lower case, and Latin letters lose their
 * diacritics ("Été" -> "ete") as do combining marks inside a token; other scripts keep theirs
 * (FTS5 folds "ά" to itself). FTS5 folds with its own Unicode tables, which JavaScript's
 * toLowerCase matches except for letters newer than those tables.
 */
export function foldToken(token: string): string {
  const lower = token.toLowerCase();
  if (!NON_ASCII.test(lower)) return lower;
  let out = "";
  for (const ch of lower) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0x300 && code <= 0x36f) continue;
    out += isLatin(code) ? ch.normalize("NFD").replace(COMBINING, "") : ch;
  }
  return out;
}

// fts5_remove_diacritic's table covers Latin-1 Supplement through Latin Extended-B and IPA, and
// Latin Extended Additional.
function isLatin(code: number): boolean {
  return code < 0x370 || (code >= 0x1e00 && code <= 0x1eff);
}

// Isolate-lifetime: token -> index term. Prose repeats its words, within a chunk and across
// searches; at the cap the map just clears (terms are cheap to recompute). Long tokens are not
// kept, so the map stays small (20,000 entries of at most 64 characters).
const terms = new Map<string, string>();
const TERM_CACHE_LIMIT = 20_000;
const CACHED_TOKEN_CHARS = 64;

/** The index term of one token as the tokenizer cut it. */
export function tokenTerm(token: string): string {
  let term = terms.get(token);
  if (term === undefined) {
    term = porterStem(foldToken(token));
    if (token.length > CACHED_TOKEN_CHARS) return term;
    if (terms.size >= TERM_CACHE_LIMIT) terms.clear();
    terms.set(token, term);
  }
  return term;
}

/** Calls `visit` with each token of `text` in order; linear in the text's length. */
export function forEachToken(text: string, visit: (token: FtsToken) => void): void {
  for (const m of text.matchAll(TOKEN)) {
    const start = m.index;
    visit({ start, end: start + m[0].length, term: tokenTerm(m[0]) });
  }
}

/** The distinct index terms of `text`, in order of first appearance. */
export function indexTerms(text: string): string[] {
  const terms = new Set<string>();
  forEachToken(text, (t) => terms.add(t.term));
  return [...terms];
}
