// Markdown emphasis markers (*, _, ~~) removed in one pass over the runs of marker characters.
// A marker run is dropped where it opens or closes a span (next to a word on one side only), which
// needs no pairing: snake_case and 2*3 keep theirs. The rules are those of the two regular
// expressions
//   open:  /(^|[^\p{L}\p{N}])(?:\*+|_+|~~+)(?=[^\s*_~])/gu   (replaced by $1)
//   close: /(?<=[^\s*_~])(?:\*+|_+|~~+)(?=[^\p{L}\p{N}]|$)/gu (removed)
// applied in that order, but each run is looked at once: the expressions themselves retry every
// position of a long run and take time quadratic in its length.

const RUN_RE = /\*+|_+|~+/g;
const LETTER_OR_NUMBER_RE = /^[\p{L}\p{N}]$/u;
const SPACE_RE = /^\s$/u;
const TILDE = "~";

function isMarker(ch: string): boolean {
  return ch === "*" || ch === "_" || ch === TILDE;
}

/** The code point that ends just before `at` (a surrogate pair counts as one), or "" at the start. */
function charBefore(s: string, at: number): string {
  if (at <= 0) return "";
  const low = s.charCodeAt(at - 1);
  const high = at >= 2 ? s.charCodeAt(at - 2) : 0;
  const pair = low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff;
  return s.slice(pair ? at - 2 : at - 1, at);
}

/** The code point that starts at `at`, or "" at the end. */
function charAt(s: string, at: number): string {
  const cp = s.codePointAt(at);
  return cp === undefined ? "" : String.fromCodePoint(cp);
}

function isLetterOrNumber(ch: string): boolean {
  return LETTER_OR_NUMBER_RE.test(ch);
}

/** A marker run of this length counts: one * or _ is enough, strikethrough needs ~~. */
function longEnough(marker: string, length: number): boolean {
  return length >= (marker === TILDE ? 2 : 1);
}

/** Applies `cut` to every marker run: the part of the run it returns is removed. */
function rewriteRuns(s: string, cut: (start: number, end: number) => [number, number] | null): string {
  const parts: string[] = [];
  let kept = 0;
  for (const match of s.matchAll(RUN_RE)) {
    const span = cut(match.index, match.index + match[0].length);
    if (!span) continue;
    parts.push(s.slice(kept, span[0]));
    kept = span[1];
  }
  if (kept === 0) return s;
  parts.push(s.slice(kept));
  return parts.join("");
}

/** Drops marker runs that open a span: before a word, after the start or a non-word character. */
function dropOpeners(s: string): string {
  return rewriteRuns(s, (start, end) => {
    const marker = s[start] ?? "";
    const next = charAt(s, end);
    if (next === "" || isMarker(next) || SPACE_RE.test(next)) return null;
    const before = charBefore(s, start);
    // After a letter or digit the run's first character is the non-word character that the rest
    // of the run follows.
    const from = before === "" || !isLetterOrNumber(before) ? start : start + 1;
    return longEnough(marker, end - from) ? [from, end] : null;
  });
}

/** Drops marker runs that close a span: after a word, before the end or a non-word character. */
function dropClosers(s: string): string {
  return rewriteRuns(s, (start, end) => {
    const marker = s[start] ?? "";
    const before = charBefore(s, start);
    if (before === "" || isMarker(before) || SPACE_RE.test(before)) return null;
    const next = charAt(s, end);
    // Before a letter or digit the run's last character is the non-word character the rest precedes.
    const to = next === "" || !isLetterOrNumber(next) ? end : end - 1;
    return longEnough(marker, to - start) ? [start, to] : null;
  });
}

/** The text without its emphasis markers. */
export function stripEmphasis(s: string): string {
  if (!/[*_~]/.test(s)) return s;
  return dropClosers(dropOpeners(s));
}
