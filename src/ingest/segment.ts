// Cuts section text into token-counted atoms and rates every gap between two atoms as a place to
// end a chunk (paragraph, line, sentence, word, or nowhere better), for the chunker to choose from.
import { countTokens, type TokenSpanKind, tokenizeWords } from "../embed/tokenizer";

/** Boundary strengths, strongest last; a chunk prefers to end at the strongest one it can reach. */
export const BREAK_NONE = 0;
export const BREAK_WORD = 1;
export const BREAK_SENTENCE = 2;
export const BREAK_LINE = 3;
export const BREAK_PARAGRAPH = 4;
export const BREAK_END = 5;

export interface Atom {
  start: number;
  end: number;
  tokens: number;
  kind: TokenSpanKind;
}

export interface Segmentation {
  atoms: Atom[];
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
 * Cuts one unit into pieces of at most MAX_PIECE_CODE_POINTS code points and at most `budget`
 * tokens each, measured on the piece alone (the chunker re-measures pieces that end up adjacent).
 */
function splitAtom(text: string, atom: Atom, budget: number, out: Atom[]): void {
  const points: number[] = [];
  for (let i = atom.start; i < atom.end; ) {
    points.push(i);
    const cp = text.codePointAt(i) ?? 0;
    i += cp > 0xffff ? 2 : 1;
  }
  points.push(atom.end);
  const at = (k: number): number => points[k] ?? atom.end;
  let from = 0;
  while (from < points.length - 1) {
    let lo = from + 1;
    let hi = Math.min(points.length - 1, from + MAX_PIECE_CODE_POINTS);
    // Longest prefix within the budget; a single code point always fits (at most 3 tokens).
    if (countTokens(text.slice(at(from), at(hi))) <= budget) lo = hi;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (countTokens(text.slice(at(from), at(mid))) <= budget) lo = mid;
      else hi = mid - 1;
    }
    out.push({
      start: at(from),
      end: at(lo),
      tokens: countTokens(text.slice(at(from), at(lo))),
      kind: atom.kind,
    });
    from = lo;
  }
}

function isSentenceEnd(text: string, atoms: Atom[], i: number, gap: string, next: Atom | undefined): boolean {
  const atom = atoms[i];
  if (atom?.kind !== "punct") return false;
  const ch = text.slice(atom.start, atom.end);
  if (CJK_SENTENCE_END.has(ch)) return true;
  if (!/\s/.test(gap)) return false;
  // "e.g. the" and "approx. five" read on: a sentence starts with something other than a lowercase letter.
  if (next && LOWERCASE_START_RE.test(text.slice(next.start, next.end))) return false;
  if (SENTENCE_END.has(ch)) return true;
  const prev = atoms[i - 1];
  return (
    CLOSERS.has(ch) &&
    prev !== undefined &&
    prev.end === atom.start &&
    SENTENCE_END.has(text.slice(prev.start, prev.end))
  );
}

/**
 * Atoms of `text` and the strength of every boundary between them. A unit above `budget` tokens or
 * `maxChars` characters is cut into pieces; any other unit stays whole (a long word is one [UNK]).
 */
export function segment(text: string, budget: number, maxChars: number): Segmentation {
  const atoms: Atom[] = [];
  for (const span of tokenizeWords(text)) {
    if (span.tokens > budget || span.end - span.start > maxChars) splitAtom(text, span, budget, atoms);
    else atoms.push(span);
  }
  const n = atoms.length;
  const breaks = new Uint8Array(n);
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const atom = atoms[i] as Atom;
    prefix[i + 1] = (prefix[i] ?? 0) + atom.tokens;
    const next = atoms[i + 1];
    if (!next) {
      breaks[i] = BREAK_END;
      continue;
    }
    const gap = text.slice(atom.end, next.start);
    if (BLANK_LINE_RE.test(gap)) breaks[i] = BREAK_PARAGRAPH;
    else if (gap.includes("\n")) breaks[i] = BREAK_LINE;
    else if (isSentenceEnd(text, atoms, i, gap, next)) breaks[i] = BREAK_SENTENCE;
    else if (/\s/.test(gap) || atom.kind === "cjk" || next.kind === "cjk") breaks[i] = BREAK_WORD;
    else breaks[i] = BREAK_NONE;
  }
  return { atoms, breaks, prefix };
}
