// HTML character references for the HTML and Markdown parsers: HTMLRewriter hands over text
// undecoded, and Markdown allows entities too.

import { ownValue } from "../util/lookup";
import { CodeUnits } from "./code-units";

// The named references that occur in real documents; anything else is left as written.
const NAMED: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
  ensp: "\u2002",
  emsp: "\u2003",
  thinsp: "\u2009",
  zwnj: "\u200c",
  zwj: "\u200d",
  shy: "\u00ad",
  ndash: "\u2013",
  mdash: "\u2014",
  minus: "\u2212",
  hellip: "\u2026",
  lsquo: "\u2018",
  rsquo: "\u2019",
  sbquo: "\u201a",
  ldquo: "\u201c",
  rdquo: "\u201d",
  bdquo: "\u201e",
  laquo: "\u00ab",
  raquo: "\u00bb",
  lsaquo: "\u2039",
  rsaquo: "\u203a",
  bull: "\u2022",
  middot: "\u00b7",
  prime: "\u2032",
  Prime: "\u2033",
  dagger: "\u2020",
  Dagger: "\u2021",
  sect: "\u00a7",
  para: "\u00b6",
  copy: "\u00a9",
  reg: "\u00ae",
  trade: "\u2122",
  deg: "\u00b0",
  plusmn: "\u00b1",
  times: "\u00d7",
  divide: "\u00f7",
  frac12: "\u00bd",
  frac14: "\u00bc",
  frac34: "\u00be",
  sup1: "\u00b9",
  sup2: "\u00b2",
  sup3: "\u00b3",
  micro: "\u00b5",
  le: "\u2264",
  ge: "\u2265",
  ne: "\u2260",
  asymp: "\u2248",
  infin: "\u221e",
  larr: "\u2190",
  rarr: "\u2192",
  uarr: "\u2191",
  darr: "\u2193",
  harr: "\u2194",
  euro: "\u20ac",
  pound: "\u00a3",
  yen: "\u00a5",
  cent: "\u00a2",
  curren: "\u00a4",
  iexcl: "\u00a1",
  iquest: "\u00bf",
  ordf: "\u00aa",
  ordm: "\u00ba",
  szlig: "\u00df",
  aelig: "\u00e6",
  AElig: "\u00c6",
  oslash: "\u00f8",
  Oslash: "\u00d8",
  aring: "\u00e5",
  Aring: "\u00c5",
  ccedil: "\u00e7",
  Ccedil: "\u00c7",
  ntilde: "\u00f1",
  Ntilde: "\u00d1",
  eth: "\u00f0",
  thorn: "\u00fe",
  alpha: "\u03b1",
  beta: "\u03b2",
  gamma: "\u03b3",
  delta: "\u03b4",
  epsilon: "\u03b5",
  kappa: "\u03ba",
  lambda: "\u03bb",
  mu: "\u03bc",
  pi: "\u03c0",
  sigma: "\u03c3",
  tau: "\u03c4",
  phi: "\u03c6",
  chi: "\u03c7",
  omega: "\u03c9",
  Delta: "\u0394",
  Sigma: "\u03a3",
  Omega: "\u03a9",
};

// Accented Latin letters follow one pattern: &eacute; &Uuml; &ograve; ...
const ACCENTS: Record<string, string> = {
  acute: "\u0301",
  grave: "\u0300",
  circ: "\u0302",
  tilde: "\u0303",
  uml: "\u0308",
};

// Numeric references in 0x80-0x9F mean windows-1252 characters (HTML's parsing rules).
const WINDOWS_1252: Record<number, number> = {
  128: 0x20ac,
  130: 0x201a,
  131: 0x0192,
  132: 0x201e,
  133: 0x2026,
  134: 0x2020,
  135: 0x2021,
  136: 0x02c6,
  137: 0x2030,
  138: 0x0160,
  139: 0x2039,
  140: 0x0152,
  142: 0x017d,
  145: 0x2018,
  146: 0x2019,
  147: 0x201c,
  148: 0x201d,
  149: 0x2022,
  150: 0x2013,
  151: 0x2014,
  152: 0x02dc,
  153: 0x2122,
  154: 0x0161,
  155: 0x203a,
  156: 0x0153,
  158: 0x017e,
  159: 0x0178,
};

// The few references browsers also accept without the closing semicolon.
const LEGACY_WITHOUT_SEMICOLON = new Set(["amp", "lt", "gt", "quot", "nbsp", "copy", "reg"]);

function fromCodePoint(cp: number): string {
  if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return "\ufffd";
  return String.fromCodePoint(WINDOWS_1252[cp] ?? cp);
}

function named(name: string): string | undefined {
  const direct = ownValue(NAMED, name);
  if (direct !== undefined) return direct;
  const accent = /^([A-Za-z])(acute|grave|circ|tilde|uml)$/.exec(name);
  if (!accent?.[1] || !accent[2]) return undefined;
  const mark = ownValue(ACCENTS, accent[2]);
  if (mark === undefined) return undefined;
  const composed = (accent[1] + mark).normalize("NFC");
  // Only letters that exist precomposed are real entities (&eacute; yes, &qacute; no).
  return composed.length === 1 ? composed : undefined;
}

// The references decodeEntities replaces, as a pattern: /&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,7})|
// ([A-Za-z][A-Za-z0-9]{1,31}))(;?)/g. It scans by hand: a flood of references would otherwise pay
// for a match array, capture strings and a callback for each.
const NUMBER_SIGN = 0x23;
const SEMICOLON = 0x3b;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHexDigit(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** How many characters from `from` (at most `max`) pass `test`. */
function runOf(text: string, from: number, max: number, test: (c: number) => boolean): number {
  let n = 0;
  while (n < max && test(text.charCodeAt(from + n))) n++;
  return n;
}

/** Where the reference referenceAt last found ends: one slot, not an object per reference. */
const found = { end: 0 };

/**
 * What replaces the reference starting at the "&" at `at` (its end in `found.end`), or null when
 * none starts there.
 */
function referenceAt(text: string, at: number): string | null {
  const c = text.charCodeAt(at + 1);
  if (c === NUMBER_SIGN) {
    const dec = runOf(text, at + 2, 8, isDigit);
    let digitsEnd = at + 2 + dec;
    let value: number;
    if (dec > 0) {
      value = Number.parseInt(text.slice(at + 2, digitsEnd), 10);
    } else {
      const x = text.charCodeAt(at + 2);
      if (x !== 0x78 && x !== 0x58) return null;
      const hex = runOf(text, at + 3, 7, isHexDigit);
      if (hex === 0) return null;
      digitsEnd = at + 3 + hex;
      value = Number.parseInt(text.slice(at + 3, digitsEnd), 16);
    }
    found.end = text.charCodeAt(digitsEnd) === SEMICOLON ? digitsEnd + 1 : digitsEnd;
    return fromCodePoint(value);
  }
  if (!isAsciiLetter(c)) return null;
  const rest = runOf(text, at + 2, 31, (d) => isAsciiLetter(d) || isDigit(d));
  if (rest === 0) return null;
  const nameEnd = at + 2 + rest;
  const semi = text.charCodeAt(nameEnd) === SEMICOLON;
  const end = semi ? nameEnd + 1 : nameEnd;
  found.end = end;
  const name = text.slice(at + 1, nameEnd);
  if (!semi && !LEGACY_WITHOUT_SEMICOLON.has(name)) return text.slice(at, end);
  return named(name) ?? text.slice(at, end);
}

/** Replaces character references with the characters they stand for; unknown ones stay as written. */
export function decodeEntities(text: string): string {
  let at = text.indexOf("&");
  let value: string | null = null;
  while (at >= 0 && (value = referenceAt(text, at)) === null) at = text.indexOf("&", at + 1);
  if (value === null) return text;
  // Copied a code unit at a time: a flood of references would otherwise make a piece of each.
  const out = new CodeUnits(text.length);
  let kept = 0;
  while (at >= 0) {
    if (value !== null) {
      out.pushSlice(text, kept, at);
      out.pushSlice(value, 0, value.length);
      kept = found.end;
      at = text.indexOf("&", kept);
    } else {
      at = text.indexOf("&", at + 1);
    }
    value = at >= 0 ? referenceAt(text, at) : null;
  }
  out.pushSlice(text, kept, text.length);
  return out.toString();
}
