// The Porter stemmer exactly as SQLite's FTS5 "porter" tokenizer runs it (ext/fts5/fts5_tokenize.c,
// fts5PorterCb): on the UTF-8 bytes of a folded token, where every byte that is not a, e, i, o, u
// (or y after a consonant) counts as a consonant, tokens under 3 or over 64 bytes pass through,
// and within a step the first rule whose suffix matches decides, even when its condition fails.
// Stems come back as byte strings (one char per UTF-8 byte): compared, never shown.
// Source: https://github.com/sqlite/sqlite/blob/master/ext/fts5/fts5_tokenize.c

const encoder = new TextEncoder();
// FTS5_PORTER_MAX_TOKEN in fts5_tokenize.c: longer tokens are not stemmed.
const MAX_TOKEN_BYTES = 64;
const MIN_TOKEN_BYTES = 3;

type Bytes = number[];
type Condition = (b: Bytes, n: number) => boolean;
/** Suffix, replacement, condition on the stem before the suffix (none: always). */
type Rule = readonly [string, string, Condition?];

const A = 97;
const E = 101;
const I = 105;
const O = 111;
const U = 117;
const Y = 121;

function isVowel(c: number, yIsVowel: boolean): boolean {
  return c === A || c === E || c === I || c === O || c === U || (yIsVowel && c === Y);
}

/** fts5PorterGobbleVC: the index after the first vowel-consonant pair, or 0 when there is none. */
function gobbleVC(b: Bytes, from: number, n: number, prevCons: boolean): number {
  let cons = prevCons;
  let i = from;
  for (; i < n; i++) {
    cons = !isVowel(b[i] ?? 0, cons);
    if (!cons) break;
  }
  for (i++; i < n; i++) {
    cons = !isVowel(b[i] ?? 0, cons);
    if (cons) return i + 1;
  }
  return 0;
}

const mGt0: Condition = (b, n) => gobbleVC(b, 0, n, false) !== 0;
const mGt1: Condition = (b, n) => {
  const at = gobbleVC(b, 0, n, false);
  return at !== 0 && gobbleVC(b, at, n, true) !== 0;
};
const mEq1: Condition = (b, n) => {
  const at = gobbleVC(b, 0, n, false);
  return at !== 0 && gobbleVC(b, at, n, true) === 0;
};
/** *o: the stem ends consonant-vowel-consonant, the last not w, x or y. */
const oStar: Condition = (b, n) => {
  const last = b[n - 1];
  if (last === 119 || last === 120 || last === Y) return false;
  let mask = 0;
  let cons = false;
  for (let i = 0; i < n; i++) {
    cons = !isVowel(b[i] ?? 0, cons);
    mask = ((mask << 1) | (cons ? 1 : 0)) & 7;
  }
  return mask === 5;
};
const hasVowel: Condition = (b, n) => {
  for (let i = 0; i < n; i++) if (isVowel(b[i] ?? 0, i > 0)) return true;
  return false;
};
const mGt1AndSOrT: Condition = (b, n) => (b[n - 1] === 115 || b[n - 1] === 116) && mGt1(b, n);

const STEP_1B2: Rule[] = [
  ["at", "ate"],
  ["bl", "ble"],
  ["iz", "ize"],
];
const STEP_2: Rule[] = (
  [
    ["ational", "ate"],
    ["tional", "tion"],
    ["enci", "ence"],
    ["anci", "ance"],
    ["izer", "ize"],
    ["logi", "log"],
    ["bli", "ble"],
    ["alli", "al"],
    ["entli", "ent"],
    ["eli", "e"],
    ["ousli", "ous"],
    ["ization", "ize"],
    ["ation", "ate"],
    ["ator", "ate"],
    ["alism", "al"],
    ["iveness", "ive"],
    ["fulness", "ful"],
    ["ousness", "ous"],
    ["aliti", "al"],
    ["iviti", "ive"],
    ["biliti", "ble"],
  ] as const
).map(([s, r]) => [s, r, mGt0] as const);
const STEP_3: Rule[] = (
  [
    ["ical", "ic"],
    ["ness", ""],
    ["icate", "ic"],
    ["iciti", "ic"],
    ["ful", ""],
    ["ative", ""],
    ["alize", "al"],
  ] as const
).map(([s, r]) => [s, r, mGt0] as const);
const STEP_4: Rule[] = [
  ..."al ance ence er ic able ible ant ement ment ent".split(" ").map((s) => [s, "", mGt1] as const),
  ["ion", "", mGt1AndSOrT] as const,
  ..."ou ism ate iti ous ive ize".split(" ").map((s) => [s, "", mGt1] as const),
];

function endsWith(b: Bytes, n: number, suffix: string): boolean {
  if (n <= suffix.length) return false;
  for (let i = 0; i < suffix.length; i++) if (b[n - suffix.length + i] !== suffix.charCodeAt(i)) return false;
  return true;
}

/** Applies the first rule whose suffix matches; the new length, and whether it was replaced. */
function applyRules(b: Bytes, n: number, rules: readonly Rule[]): { n: number; applied: boolean } {
  for (const [suffix, replacement, condition] of rules) {
    if (!endsWith(b, n, suffix)) continue;
    const stem = n - suffix.length;
    if (condition && !condition(b, stem)) return { n, applied: false };
    for (let i = 0; i < replacement.length; i++) b[stem + i] = replacement.charCodeAt(i);
    return { n: stem + replacement.length, applied: true };
  }
  return { n, applied: false };
}

function step1a(b: Bytes, n: number): number {
  if (b[n - 1] !== 115) return n;
  if (b[n - 2] === E) {
    const sses = n > 4 && b[n - 4] === 115 && b[n - 3] === 115;
    return sses || (n > 3 && b[n - 3] === I) ? n - 2 : n - 1;
  }
  return b[n - 2] !== 115 ? n - 1 : n;
}

/** Step 1b: -eed, -ed, -ing, then the clean-up after -ed and -ing. */
function step1b(b: Bytes, n: number): number {
  if (endsWith(b, n, "eed")) return mGt0(b, n - 3) ? n - 1 : n;
  const suffix = endsWith(b, n, "ed") ? 2 : endsWith(b, n, "ing") ? 3 : 0;
  if (suffix === 0 || !hasVowel(b, n - suffix)) return n;
  const m = n - suffix;
  const fixed = applyRules(b, m, STEP_1B2);
  if (fixed.applied) return fixed.n;
  const c = b[m - 1] ?? 0;
  if (!isVowel(c, false) && c !== 108 && c !== 115 && c !== 122 && c === b[m - 2]) return m - 1;
  if (mEq1(b, m) && oStar(b, m)) {
    b[m] = E;
    return m + 1;
  }
  return m;
}

function step5(b: Bytes, n: number): number {
  let m = n;
  if (b[m - 1] === E && (mGt1(b, m - 1) || (mEq1(b, m - 1) && !oStar(b, m - 1)))) m--;
  if (m > 1 && b[m - 1] === 108 && b[m - 2] === 108 && mGt1(b, m - 1)) m--;
  return m;
}

/** The UTF-8 bytes of `text`; most tokens are ASCII, which needs no encoder. */
function utf8(text: string): Bytes {
  const bytes: Bytes = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return Array.from(encoder.encode(text));
    bytes.push(c);
  }
  return bytes;
}

/** The FTS5 porter stem of a token already folded by the unicode61 tokenizer, as a byte string. */
export function porterStem(folded: string): string {
  const bytes = utf8(folded);
  if (bytes.length > MAX_TOKEN_BYTES || bytes.length < MIN_TOKEN_BYTES) return String.fromCharCode(...bytes);
  let n = step1b(bytes, step1a(bytes, bytes.length));
  if (bytes[n - 1] === Y && hasVowel(bytes, n - 1)) bytes[n - 1] = I;
  n = applyRules(bytes, n, STEP_2).n;
  n = applyRules(bytes, n, STEP_3).n;
  n = applyRules(bytes, n, STEP_4).n;
  n = step5(bytes, n);
  return String.fromCharCode(...bytes.slice(0, n));
}
