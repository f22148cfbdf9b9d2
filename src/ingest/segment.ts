// Cuts section text into token-counted atoms and rates every gap between two atoms as a place to
// end a chunk (paragraph, line, sentence, word, or nowhere better), for the chunker to choose from.
import { countTokens, scanUnits, TokenUnits, UNIT_CJK, UNIT_PUNCT, UNIT_WORD } from "../embed/tokenizer";

/** Boundary strengths, strongest last; a chunk prefers to end at the strongest one it can reach. */
export const BREAK_NONE = 0;
export const BREAK_WORD = 1;
export const BREAK_SENTENCE = 2;
export const BREAK_LINE = 3;
export const BREAK_PARAGRAPH = 4;
export const BREAK_END = 5;

/** Atoms as parallel arrays: atom i spans text[start[i], end[i]). */
export interface Segmentation {
  count: number;
  start: Int32Array;
  end: Int32Array;
  /** Whether a unit was cut into pieces: only then can a run's count differ from its atoms' sum. */
  cut: boolean;
  /** breaks[i]: strength of the boundary right after atoms[i]. */
  breaks: Uint8Array;
  /** prefix[i]: tokens in atoms[0..i); a run's count is a difference of two entries. */
  prefix: Float64Array;
}

/** Pieces of a cut-up unit stay within BERT's word length, so each alone is measured as BERT reads it. */
const MAX_PIECE_CODE_POINTS = 100;

const SENTENCE_END = new Set([".", "!", "?", "\u2026", "\u203c", "\u2047", "\u2048", "\u2049"]);
const CJK_SENTENCE_END = new Set(["\u3002", "\uff01", "\uff1f", "\uff0e"]);
const CLOSERS = new Set([
  '"',
  "'",
  ")",
  "]",
  "}",
  "\u201d",
  "\u2019",
  "\u00bb",
  "\u300d",
  "\u300f",
  "\uff09",
]);
const LOWERCASE_START_RE = /^\p{Ll}/u;
const BLANK_LINE_RE = /\n[^\S\n]*\n/;

/**
 * Cuts unit `k` of `units` into pieces of at most MAX_PIECE_CODE_POINTS code points and at most
 * `budget` tokens each, measured on the piece alone (the chunker re-measures pieces that end up
 * adjacent).
 */
function splitUnit(text: string, units: TokenUnits, k: number, budget: number, out: TokenUnits): void {
  const unitEnd = units.end[k] ?? 0;
  const kind = units.kind[k] ?? UNIT_WORD;
  const next = (i: number): number => i + ((text.codePointAt(i) ?? 0) > 0xffff ? 2 : 1);
  let from = units.start[k] ?? 0;
  while (from < unitEnd) {
    let end = from;
    for (let n = 0; n < MAX_PIECE_CODE_POINTS && end < unitEnd; n++) end = next(end);
    let tokens = countTokens(text.slice(from, end));
    if (tokens > budget) {
      // Longest prefix within the budget, by code point; a single one always fits (at most 3 tokens).
      const points: number[] = [];
      for (let i = from; i < end; i = next(i)) points.push(i);
      points.push(end);
      const at = (j: number): number => points[j] ?? end;
      let lo = 1;
      let hi = points.length - 1;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (countTokens(text.slice(from, at(mid))) <= budget) lo = mid;
        else hi = mid - 1;
      }
      end = at(lo);
      tokens = countTokens(text.slice(from, end));
    }
    out.add(from, end, kind, tokens);
    from = end;
  }
}

// What lies between two units: nothing, characters that are not whitespace (dropped ones), whitespace
// within a line, a line break, a blank line.
const GAP_NONE = 0;
const GAP_DROPPED = 1;
const GAP_SPACE = 2;
const GAP_LINE = 3;
const GAP_BLANK_LINE = 4;

function gapBetween(text: string, from: number, to: number): number {
  if (from === to) return GAP_NONE;
  // One plain space: most gaps in prose.
  if (to - from === 1 && text.charCodeAt(from) === 0x20) return GAP_SPACE;
  const gap = text.slice(from, to);
  if (BLANK_LINE_RE.test(gap)) return GAP_BLANK_LINE;
  if (gap.includes("\n")) return GAP_LINE;
  return /\s/.test(gap) ? GAP_SPACE : GAP_DROPPED;
}

const ASCII_CHARS = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c));

/** The one code point a punctuation or CJK unit holds, as a character (units never hold more). */
function unitChar(text: string, units: TokenUnits, i: number): string {
  const start = units.start[i] ?? 0;
  const end = units.end[i] ?? 0;
  return end - start === 1
    ? (ASCII_CHARS[text.charCodeAt(start)] ?? text.slice(start, end))
    : text.slice(start, end);
}

/** Whether unit `i` starts with a lowercase letter: only its first code point is looked at. */
function startsLowercase(text: string, units: TokenUnits, i: number): boolean {
  const start = units.start[i] ?? 0;
  const c = text.charCodeAt(start);
  if (c < 128) return c >= 0x61 && c <= 0x7a;
  const cp = text.codePointAt(start) ?? c;
  return LOWERCASE_START_RE.test(text.slice(start, start + (cp > 0xffff ? 2 : 1)));
}

function isSentenceEnd(text: string, units: TokenUnits, i: number, gap: number): boolean {
  if (units.kind[i] !== UNIT_PUNCT) return false;
  const ch = unitChar(text, units, i);
  if (CJK_SENTENCE_END.has(ch)) return true;
  if (gap < GAP_SPACE) return false;
  // "e.g. the" and "approx. five" read on: a sentence starts with something other than a lowercase letter.
  if (i + 1 < units.count && startsLowercase(text, units, i + 1)) return false;
  if (SENTENCE_END.has(ch)) return true;
  return (
    CLOSERS.has(ch) &&
    i > 0 &&
    units.end[i - 1] === units.start[i] &&
    SENTENCE_END.has(text.slice(units.start[i - 1] ?? 0, units.end[i - 1] ?? 0))
  );
}

/**
 * Atoms of `text` and the strength of every boundary between them. A unit above `budget` tokens or
 * `maxChars` characters is cut into pieces; any other unit stays whole (a long word is one [UNK]).
 */
export function segment(text: string, budget: number, maxChars: number): Segmentation {
  const units = scanUnits(text);
  let atoms = units;
  for (let k = 0; k < units.count; k++) {
    if ((units.tokens[k] ?? 0) <= budget && (units.end[k] ?? 0) - (units.start[k] ?? 0) <= maxChars) continue;
    // A unit to cut: copy the units before it, then go on copying or cutting.
    atoms = new TokenUnits(units.count + 16);
    for (let j = 0; j < units.count; j++) {
      const start = units.start[j] ?? 0;
      const end = units.end[j] ?? 0;
      const tokens = units.tokens[j] ?? 0;
      if (tokens > budget || end - start > maxChars) splitUnit(text, units, j, budget, atoms);
      else atoms.add(start, end, units.kind[j] ?? UNIT_WORD, tokens);
    }
    break;
  }
  const n = atoms.count;
  const breaks = new Uint8Array(n);
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    prefix[i + 1] = (prefix[i] ?? 0) + (atoms.tokens[i] ?? 0);
    if (i + 1 === n) {
      breaks[i] = BREAK_END;
      continue;
    }
    const gap = gapBetween(text, atoms.end[i] ?? 0, atoms.start[i + 1] ?? 0);
    if (gap === GAP_BLANK_LINE) breaks[i] = BREAK_PARAGRAPH;
    else if (gap === GAP_LINE) breaks[i] = BREAK_LINE;
    else if (isSentenceEnd(text, atoms, i, gap)) breaks[i] = BREAK_SENTENCE;
    else if (gap === GAP_SPACE || atoms.kind[i] === UNIT_CJK || atoms.kind[i + 1] === UNIT_CJK) {
      breaks[i] = BREAK_WORD;
    } else breaks[i] = BREAK_NONE;
  }
  return { count: n, start: atoms.start, end: atoms.end, cut: atoms !== units, breaks, prefix };
}
