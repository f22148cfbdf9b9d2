// Snippets and highlights: the passage of a chunk that best shows why it matched, with the
// character ranges of the query's words in it. Words match as the keyword index matches them
// (fts-tokens.ts), so "running" in the text is marked for a query "run". Offsets are UTF-16 code
// units into the snippet (JavaScript string indices); the optional HTML form escapes the text
// before it inserts the caller's tags, so nothing a document contains becomes markup.
import { ftsQueryWords, prefixWord } from "../store/keyword";
import { type FtsToken, forEachToken, tokenTerm } from "./fts-tokens";

export const SNIPPET_LIMITS = {
  minLength: 20,
  maxLength: 1000,
  defaultLength: 200,
  maxTagChars: 64,
} as const;

/** Characters a highlight tag may not hold: controls, format (bidi) characters, lone surrogates, line separators. */
export const TAG_FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

export interface HighlightOptions {
  /** Most characters (UTF-16 code units) in a snippet. */
  snippetLength: number;
  /** Set together (one defaults to <mark>, the other to </mark>): the answer has snippetHtml. */
  tags?: { pre: string; post: string };
}

export type HighlightRequest = boolean | { snippetLength?: number; preTag?: string; postTag?: string };

export interface Highlight {
  start: number;
  end: number;
}

export interface Snippet {
  snippet: string;
  highlights: Highlight[];
  /** Whether text of the chunk comes before / after the snippet (where a UI shows "…"). */
  snippetTruncated: { start: boolean; end: boolean };
  snippetHtml?: string;
}

/** The request's `highlight` field as options, or undefined when no highlighting is asked for. */
export function highlightOptions(raw: HighlightRequest | undefined): HighlightOptions | undefined {
  if (raw === undefined || raw === false) return undefined;
  if (raw === true) return { snippetLength: SNIPPET_LIMITS.defaultLength };
  const options: HighlightOptions = { snippetLength: raw.snippetLength ?? SNIPPET_LIMITS.defaultLength };
  if (raw.preTag !== undefined || raw.postTag !== undefined)
    options.tags = { pre: raw.preTag ?? "<mark>", post: raw.postTag ?? "</mark>" };
  return options;
}

/** The index terms a keyword search for `query` looks for as whole words. */
export function queryTerms(query: string): ReadonlySet<string> {
  const terms = new Set<string>();
  for (const word of ftsQueryWords(query)) forEachToken(word, (t) => terms.add(t.term));
  return terms;
}

/**
 * What a search for `query` marks: its whole-word terms and, for a prefix search, the stem that
 * index terms must start with. FTS5 stems a prefix as it stems a word (porter takes no notice of
 * the prefix flag), so "photosynthes" looks for terms starting with "photosynth".
 */
export interface QueryMatch {
  terms: ReadonlySet<string>;
  prefix?: string;
}

export function queryMatch(query: string, prefix = false): QueryMatch {
  const word = prefix ? prefixWord(query) : undefined;
  return word === undefined
    ? { terms: queryTerms(query) }
    : { terms: queryTerms(query), prefix: tokenTerm(word) };
}

/**
 * The best passage of `text` for `terms` (the window holding the most distinct terms, then the
 * most matches, then the earliest), cut on word boundaries, with its matches. A text without a
 * match gives its opening passage. Linear in the text's length.
 */
export function snippetOf(
  text: string,
  query: ReadonlySet<string> | QueryMatch,
  options: HighlightOptions,
): Snippet {
  const length = options.snippetLength;
  const { terms, prefix }: QueryMatch = "terms" in query ? query : { terms: query };
  const matches: FtsToken[] = [];
  if (terms.size > 0 || prefix !== undefined)
    forEachToken(text, (t) => {
      if (terms.has(t.term)) matches.push(t);
      // Every word the prefix finds counts as that one query word in the choice of passage.
      else if (prefix !== undefined && t.term.startsWith(prefix)) matches.push({ ...t, term: prefix });
    });
  const span = bestSpan(text, matches, length);
  const { start, end } = placeSnippet(text, span, length);
  const snippet = text.slice(start, end);
  const highlights: Highlight[] = [];
  for (const m of matches) {
    if (m.end <= start || m.start >= end) continue;
    highlights.push({ start: Math.max(m.start, start) - start, end: Math.min(m.end, end) - start });
  }
  const out: Snippet = {
    snippet,
    highlights,
    snippetTruncated: { start: start > 0, end: end < text.length },
  };
  if (options.tags) out.snippetHtml = markup(snippet, highlights, options.tags);
  return out;
}

/** The text range the snippet must show: the best window of matches, or the text's first word. */
function bestSpan(text: string, matches: readonly FtsToken[], length: number): { from: number; to: number } {
  const counts = new Map<string, number>();
  let best: { from: number; to: number; distinct: number; total: number } | undefined;
  let first = 0;
  for (let last = 0; last < matches.length; last++) {
    const m = matches[last] as FtsToken;
    counts.set(m.term, (counts.get(m.term) ?? 0) + 1);
    for (; first < last && m.end - (matches[first] as FtsToken).start > length; first++) {
      const term = (matches[first] as FtsToken).term;
      const left = (counts.get(term) ?? 1) - 1;
      if (left === 0) counts.delete(term);
      else counts.set(term, left);
    }
    const total = last - first + 1;
    if (!best || counts.size > best.distinct || (counts.size === best.distinct && total > best.total)) {
      best = { from: (matches[first] as FtsToken).start, to: m.end, distinct: counts.size, total };
    }
  }
  if (!best) {
    const lead = text.search(/\S/);
    const from = Math.max(lead, 0);
    return { from, to: from };
  }
  // One word longer than the snippet: its start is shown.
  return { from: best.from, to: Math.min(best.to, safeCut(text, best.from + length, -1)) };
}

const SPACE = /\s/;
const MARK = /\p{M}/u;
const WORD = /[\p{L}\p{N}\p{M}]/u;

/** Whether a cut at `p` falls between words: a non-word character (or the text's edge) on one side. */
function atWordEdge(text: string, p: number): boolean {
  if (p <= 0 || p >= text.length) return true;
  const low = text.charCodeAt(p - 1);
  const before = low >= 0xdc00 && low <= 0xdfff && p >= 2 ? text.codePointAt(p - 2) : text.codePointAt(p - 1);
  return (
    !WORD.test(String.fromCodePoint(before ?? 32)) ||
    !WORD.test(String.fromCodePoint(text.codePointAt(p) ?? 32))
  );
}

/** `i`, moved in `direction` until it splits neither a surrogate pair nor a base from its marks. */
function safeCut(text: string, i: number, direction: 1 | -1): number {
  let at = Math.max(0, Math.min(text.length, i));
  while (at > 0 && at < text.length) {
    const code = text.charCodeAt(at);
    const lowSurrogate = code >= 0xdc00 && code <= 0xdfff;
    if (!lowSurrogate && !MARK.test(text.charAt(at))) break;
    at += direction;
  }
  return at;
}

/** The first position from `from` towards `limit` (inclusive) where `ok` holds. */
function nearest(from: number, limit: number, step: 1 | -1, ok: (p: number) => boolean): number | undefined {
  for (let p = from; step > 0 ? p <= limit : p >= limit; p += step) if (ok(p)) return p;
  return undefined;
}

/** Snippet bounds around `span`: at most `length` long, on word boundaries where there are some. */
function placeSnippet(text: string, span: { from: number; to: number }, length: number) {
  const room = length - (span.to - span.from);
  let start = Math.max(0, span.from - Math.floor(room / 2));
  let end = Math.min(text.length, start + length);
  start = Math.max(0, end - length);
  // Whole words only: the snippet starts and ends at a space, else between words, when the span
  // leaves room; otherwise (one long word) it is cut between characters.
  const space = (p: number) => SPACE.test(text.charAt(p - 1)) || SPACE.test(text.charAt(p));
  const edge = (p: number) => atWordEdge(text, p);
  if (start > 0) start = nearest(start, span.from, 1, space) ?? nearest(start, span.from, 1, edge) ?? start;
  start = safeCut(text, start, 1);
  if (end < text.length) {
    const floor = Math.max(span.to, span.from + 1);
    end = nearest(end, floor, -1, space) ?? nearest(end, floor, -1, edge) ?? end;
  }
  end = safeCut(text, end, -1);
  while (start < span.from && SPACE.test(text.charAt(start))) start++;
  while (end > span.to && SPACE.test(text.charAt(end - 1))) end--;
  return { start, end: Math.max(start, end) };
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function markup(
  snippet: string,
  highlights: readonly Highlight[],
  tags: { pre: string; post: string },
): string {
  let html = "";
  let at = 0;
  for (const h of highlights) {
    html += `${escapeHtml(snippet.slice(at, h.start))}${tags.pre}${escapeHtml(snippet.slice(h.start, h.end))}${tags.post}`;
    at = h.end;
  }
  return html + escapeHtml(snippet.slice(at));
}
