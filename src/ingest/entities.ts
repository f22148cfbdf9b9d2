// HTML character references for the HTML and Markdown parsers: the HTML tokenizer hands over text
// undecoded, and Markdown allows entities too.

import { ownValue } from "../util/lookup";

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

const HASH = 0x23;
const SEMICOLON = 0x3b;

const digit = (c: number) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : -1);
const hexDigit = (c: number) => {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
};
const isLetter = (c: number) => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
const isLetterOrDigit = (c: number) => isLetter(c) || (c >= 0x30 && c <= 0x39);

/**
 * Replaces character references with the characters they stand for; unknown ones stay as written.
 * A reference is "&#" and 1-8 digits, "&#x" and 1-7 hex digits, or "&" and a name of 2-32 letters
 * and digits (a letter first), each with an optional ";" (required after a name, except the
 * legacy few). One pass with no regular expression: a flood of references makes no match objects.
 */
export function decodeEntities(text: string): string {
  let amp = text.indexOf("&");
  if (amp === -1) return text;
  let out = "";
  // Characters before `copied` are in `out`.
  let copied = 0;
  while (amp !== -1) {
    // Past the reference at `amp` (its ";" included), or -1 when none starts there.
    let end = -1;
    let value: string | undefined;
    const c = text.charCodeAt(amp + 1);
    if (c === HASH) {
      const x = text.charCodeAt(amp + 2);
      const hex = (x | 0x20) === 0x78;
      const first = hex ? amp + 3 : amp + 2;
      const last = hex ? first + 7 : first + 8;
      let cp = 0;
      let j = first;
      for (; j < last; j++) {
        const d = hex ? hexDigit(text.charCodeAt(j)) : digit(text.charCodeAt(j));
        if (d < 0) break;
        cp = cp * (hex ? 16 : 10) + d;
      }
      if (j > first) {
        value = fromCodePoint(cp);
        end = text.charCodeAt(j) === SEMICOLON ? j + 1 : j;
      }
    } else if (isLetter(c)) {
      let j = amp + 2;
      while (j < amp + 33 && isLetterOrDigit(text.charCodeAt(j))) j++;
      if (j > amp + 2) {
        const name = text.slice(amp + 1, j);
        const semicolon = text.charCodeAt(j) === SEMICOLON;
        if (semicolon || LEGACY_WITHOUT_SEMICOLON.has(name)) value = named(name);
        end = semicolon ? j + 1 : j;
      }
    }
    if (end === -1) {
      amp = text.indexOf("&", amp + 1);
      continue;
    }
    if (value !== undefined) {
      out += text.slice(copied, amp) + value;
      copied = end;
    }
    amp = text.indexOf("&", end);
  }
  return copied === 0 ? text : out + text.slice(copied);
}
