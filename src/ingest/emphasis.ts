// Markdown emphasis markers (*, _, ~~) removed in one pass over the runs of marker characters.
// A marker run is dropped where it opens or closes a span (next to a word on one side only), which
// needs no pairing: snake_case and 2*3 keep theirs. The rules are those of the two regular
// expressions
//   open:  /(^|[^\p{L}\p{N}])(?:\*+|_+|~~+)(?=[^\s*_~])/gu   (replaced by $1)
//   close: /(?<=[^\s*_~])(?:\*+|_+|~~+)(?=[^\p{L}\p{N}]|$)/gu (removed)
// applied in that order, but each run is looked at once: the expressions themselves retry every
// position of a long run and take time quadratic in its length.

import { CodeUnits } from "./code-units";

const LETTER_OR_NUMBER_RE = /^[\p{L}\p{N}]$/u;
const SPACE_RE = /^\s$/u;
const STAR = 0x2a;
const UNDERSCORE = 0x5f;
const TILDE = 0x7e;

// What sits next to a marker run: nothing (start or end of text), another marker, whitespace, a
// letter or digit, anything else. ASCII is looked up by code unit: a flood of short runs ("a*a*")
// would otherwise pay for a string and a regular expression on each side of every run.
const END = 0;
const MARKER = 1;
const SPACE = 2;
const WORD = 3;
const OTHER = 4;
const ASCII_KIND = new Uint8Array(128).fill(OTHER);
for (let c = 0; c < 128; c++) {
  if (c === STAR || c === UNDERSCORE || c === TILDE) ASCII_KIND[c] = MARKER;
  else if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) ASCII_KIND[c] = SPACE;
  else if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
    ASCII_KIND[c] = WORD;
  }
}

/** The kind of one non-ASCII code point. */
function kindOf(ch: string): number {
  if (SPACE_RE.test(ch)) return SPACE;
  return LETTER_OR_NUMBER_RE.test(ch) ? WORD : OTHER;
}

/** The kind of the code point that ends just before `at` (a surrogate pair counts as one). */
function kindBefore(s: string, at: number): number {
  if (at <= 0) return END;
  const low = s.charCodeAt(at - 1);
  if (low < 128) return ASCII_KIND[low] ?? OTHER;
  const high = at >= 2 ? s.charCodeAt(at - 2) : 0;
  const pair = low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff;
  return kindOf(s.slice(pair ? at - 2 : at - 1, at));
}

/** The kind of the code point that starts at `at`. */
function kindAt(s: string, at: number): number {
  if (at >= s.length) return END;
  const c = s.charCodeAt(at);
  if (c < 128) return ASCII_KIND[c] ?? OTHER;
  return kindOf(String.fromCodePoint(s.codePointAt(at) ?? c));
}

/** A marker run of this length counts: one * or _ is enough, strikethrough needs ~~. */
function longEnough(marker: number, length: number): boolean {
  return length >= (marker === TILDE ? 2 : 1);
}

/**
 * Removes from every run of one marker character (the runs /\*+|_+|~+/g finds) the part that
 * opens a span (`closers` false) or closes one (`closers` true). One loop for both, without a
 * callback or a pair per run: a flood of short runs would pay for them on each.
 */
function rewriteRuns(s: string, closers: boolean): string {
  // The removed spans as [from, to) pairs, in order.
  let cuts = new Int32Array(16);
  let count = 0;
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    if (c !== STAR && c !== UNDERSCORE && c !== TILDE) {
      i++;
      continue;
    }
    const start = i;
    let end = i + 1;
    while (end < s.length && s.charCodeAt(end) === c) end++;
    i = end;
    let from = start;
    let to = end;
    if (closers) {
      const before = kindBefore(s, start);
      if (before === END || before === MARKER || before === SPACE) continue;
      // Before a letter or digit the run's last character is the non-word character the rest precedes.
      if (kindAt(s, end) === WORD) to = end - 1;
    } else {
      const next = kindAt(s, end);
      if (next === END || next === MARKER || next === SPACE) continue;
      // After a letter or digit the run's first character is the non-word character that the rest
      // of the run follows.
      if (kindBefore(s, start) === WORD) from = start + 1;
    }
    if (!longEnough(c, to - from)) continue;
    if (count + 2 > cuts.length) {
      const grown = new Int32Array(cuts.length * 2);
      grown.set(cuts);
      cuts = grown;
    }
    cuts[count++] = from;
    cuts[count++] = to;
  }
  if (count === 0) return s;
  // A few cuts: the kept slices joined. Many (a flood of short runs): one copy of the kept code
  // units, instead of a string per kept piece.
  if (count < s.length / 32) {
    const parts: string[] = [];
    let kept = 0;
    for (let k = 0; k < count; k += 2) {
      parts.push(s.slice(kept, cuts[k]));
      kept = cuts[k + 1] ?? kept;
    }
    parts.push(s.slice(kept));
    return parts.join("");
  }
  const out = new CodeUnits(s.length);
  let kept = 0;
  for (let k = 0; k < count; k += 2) {
    out.pushSlice(s, kept, cuts[k] ?? kept);
    kept = cuts[k + 1] ?? kept;
  }
  out.pushSlice(s, kept, s.length);
  return out.toString();
}

/** Drops marker runs that open a span: before a word, after the start or a non-word character. */
function dropOpeners(s: string): string {
  return rewriteRuns(s, false);
}

/** Drops marker runs that close a span: after a word, before the end or a non-word character. */
function dropClosers(s: string): string {
  return rewriteRuns(s, true);
}

/** The text without its emphasis markers. */
export function stripEmphasis(s: string): string {
  if (!/[*_~]/.test(s)) return s;
  return dropClosers(dropOpeners(s));
}
