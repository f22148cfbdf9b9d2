// Personal data detectors for ingest redaction: email addresses, phone numbers, payment card
// numbers (Luhn), IBANs (mod 97) and IP addresses (v4 and v6), replaced by a token per type.
//
// Hand-written scanners, no regular expression: one pass over the text, and every candidate is
// read at most a bounded number of characters from where it starts (MAX_* below, and in
// numbers.ts for phone and card numbers), so the work is linear in the text whatever it holds
// (test/unit/ingest-linear.property.test.ts times it). A digit, "+" or "(" starts a number
// candidate only after a character that cannot be part of a number or word, and a failed
// candidate is not read again from inside.

import {
  AT,
  COLON,
  DOT,
  HYPHEN,
  isAlnum,
  isAlpha,
  isDigit,
  isDomain,
  isHex,
  isLocal,
  isLower,
  isWordish,
  numberBoundary,
  OPEN,
  PLUS,
  SPACE,
} from "./chars";
import { number } from "./numbers";

export { luhnValid } from "./numbers";

export const REDACTION_TYPES = ["email", "phone", "card", "iban", "ip"] as const;
export type RedactionType = (typeof REDACTION_TYPES)[number];

export type RedactionSettings = Record<RedactionType, boolean>;
export type RedactionCounts = Partial<Record<RedactionType, number>>;

export const REDACTION_TOKENS: Record<RedactionType, string> = {
  email: "[EMAIL]",
  phone: "[PHONE]",
  card: "[CARD]",
  iban: "[IBAN]",
  ip: "[IP]",
};

export const NO_REDACTION: RedactionSettings = {
  email: false,
  phone: false,
  card: false,
  iban: false,
  ip: false,
};

/** The local part of an address is at most 64 characters, the domain at most 253 (RFC 5321 4.5.3.1). */
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;
/** An IBAN is at most 34 characters, 42 with a space every four. */
const MAX_IBAN = 42;
/** The longest IPv6 text form (with an embedded IPv4) is 45 characters. */
const MAX_IPV6 = 45;

/** ISO 13616 check: the first four characters moved to the end, letters as 10..35, mod 97 is 1. */
export function ibanValid(iban: string): boolean {
  const s = iban.slice(4) + iban.slice(0, 4);
  let rest = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) rest = (rest * 10 + (c - 0x30)) % 97;
    else rest = (rest * 100 + (c - 0x41 + 10)) % 97;
  }
  return rest === 1;
}

/** End of an email address whose "@" is at `at`, with its start, or null. */
function email(text: string, at: number, floor: number): { start: number; end: number } | null {
  let start = at;
  const lowest = Math.max(floor, at - MAX_LOCAL);
  while (start > lowest && isLocal(text.charCodeAt(start - 1))) start--;
  // Longer than an address may be, or inside a word the scan already passed.
  if (start > floor && start === lowest && isLocal(text.charCodeAt(start - 1))) return null;
  while (start < at && text.charCodeAt(start) === DOT) start++;
  if (start === at) return null;
  let end = at + 1;
  const highest = Math.min(text.length, at + 1 + MAX_DOMAIN);
  while (end < highest && isDomain(text.charCodeAt(end))) end++;
  if (end === highest && end < text.length && isDomain(text.charCodeAt(end))) return null;
  // A sentence's full stop or a dash after the address is not part of it.
  while (end > at + 1 && (text.charCodeAt(end - 1) === DOT || text.charCodeAt(end - 1) === HYPHEN)) end--;
  // No dot, no domain (the common "@handle" case costs no allocation). Searched within the
  // domain only: an unbounded indexOf would read to the end of the text from every "@".
  let dot = at + 1;
  while (dot < end && text.charCodeAt(dot) !== DOT) dot++;
  if (dot >= end) return null;
  const labels = text.slice(at + 1, end).split(".");
  if (labels.length < 2) return null;
  for (const label of labels) {
    if (label.length === 0 || label.length > 63) return null;
    if (label.charCodeAt(0) === HYPHEN || label.charCodeAt(label.length - 1) === HYPHEN) return null;
  }
  const tld = labels[labels.length - 1] ?? "";
  for (let i = 0; i < tld.length; i++) if (!isAlpha(tld.charCodeAt(i))) return null;
  return tld.length >= 2 ? { start, end } : null;
}

/** End of an IPv4 address starting at `i` (four decimal octets, no leading zero), or -1. */
function ipv4(text: string, i: number): number {
  let j = i;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (text.charCodeAt(j) !== DOT) return -1;
      j++;
    }
    const from = j;
    while (j < text.length && j - from < 4 && isDigit(text.charCodeAt(j))) j++;
    const len = j - from;
    if (len === 0 || len > 3) return -1;
    if (len > 1 && text.charCodeAt(from) === 0x30) return -1;
    if (Number(text.slice(from, j)) > 255) return -1;
  }
  // 1.2.3.4.5 is a version, not an address; a port may follow (10.0.0.1:443).
  if (j >= text.length) return j;
  const next = text.charCodeAt(j);
  if (isWordish(next) || ((next === DOT || next === 0x2c) && isDigit(text.charCodeAt(j + 1)))) return -1;
  return j;
}

/** Whether `s` (hex groups, colons, maybe a trailing IPv4) is an IPv6 address (RFC 4291 2.2). */
function ipv6Valid(s: string): boolean {
  const double = s.indexOf("::");
  if (double !== -1 && s.indexOf("::", double + 1) !== -1) return false;
  let groups = 0;
  let digit = false;
  const parts = double === -1 ? [s] : [s.slice(0, double), s.slice(double + 2)];
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p] ?? "";
    if (part === "") continue;
    const fields = part.split(":");
    for (let f = 0; f < fields.length; f++) {
      const field = fields[f] ?? "";
      const last = p === parts.length - 1 && f === fields.length - 1;
      if (last && field.includes(".")) {
        if (ipv4(field, 0) !== field.length) return false;
        groups += 2;
        digit = true;
        continue;
      }
      if (field.length === 0 || field.length > 4) return false;
      for (let k = 0; k < field.length; k++) {
        const c = field.charCodeAt(k);
        if (!isHex(c)) return false;
        if (isDigit(c)) digit = true;
      }
      groups++;
    }
  }
  // Words made of hex letters around "::" (cafe::beef) are code, not addresses: a digit is asked for.
  if (!digit) return false;
  return double === -1 ? groups === 8 : groups <= 7 && groups >= 1;
}

/** End of an IPv6 address starting at `i`, or -1. */
function ipv6(text: string, i: number): number {
  let j = i;
  let colons = 0;
  const highest = Math.min(text.length, i + MAX_IPV6 + 1);
  while (j < highest) {
    const c = text.charCodeAt(j);
    if (c === COLON) colons++;
    else if (!(isHex(c) || c === DOT)) break;
    j++;
  }
  if (colons < 2 || j === highest) return -1;
  while (j > i && text.charCodeAt(j - 1) === DOT) j--;
  if (j < text.length && isWordish(text.charCodeAt(j))) return -1;
  return ipv6Valid(text.slice(i, j)) ? j : -1;
}

/**
 * An IBAN starting at `i` (groups of four may be spaced): `end` is -1 when there is none, `read`
 * how far an IBAN-shaped run goes (a failed IBAN is not read again as a card or phone number).
 */
function iban(text: string, i: number): { end: number; read: number } {
  if (!(isAlpha(text.charCodeAt(i)) && isAlpha(text.charCodeAt(i + 1)))) return { end: -1, read: i };
  if (!(isDigit(text.charCodeAt(i + 2)) && isDigit(text.charCodeAt(i + 3)))) return { end: -1, read: i };
  const highest = Math.min(text.length, i + MAX_IBAN + 1);
  // Ends of each run of four characters a space may follow: candidates from longest to shortest.
  let compact = "";
  const ends: { end: number; length: number }[] = [];
  let j = i;
  let inGroup = 0;
  while (j < highest) {
    const c = text.charCodeAt(j);
    if (isAlnum(c)) {
      compact += String.fromCharCode(isLower(c) ? c - 0x20 : c);
      inGroup++;
      j++;
      ends.push({ end: j, length: compact.length });
    } else if (c === SPACE && inGroup === 4 && isAlnum(text.charCodeAt(j + 1))) {
      inGroup = 0;
      j++;
    } else break;
  }
  const read = compact.length >= 15 ? j : i;
  if (j === highest && j < text.length && isAlnum(text.charCodeAt(j))) return { end: -1, read };
  for (let k = ends.length - 1; k >= 0; k--) {
    const e = ends[k];
    if (!e || e.length < 15 || e.length > 34) continue;
    if (e.end < text.length && isWordish(text.charCodeAt(e.end))) continue;
    if (ibanValid(compact.slice(0, e.length))) return { end: e.end, read };
  }
  return { end: -1, read };
}

/** The text with every enabled kind of personal data replaced by its token, and how many of each. */
export function redactText(
  text: string,
  settings: RedactionSettings,
): { text: string; counts: RedactionCounts } {
  const counts: RedactionCounts = {};
  if (!REDACTION_TYPES.some((t) => settings[t])) return { text, counts };
  let out = "";
  let copied = 0;
  let i = 0;
  const replace = (type: RedactionType, start: number, end: number) => {
    out += text.slice(copied, start) + REDACTION_TOKENS[type];
    counts[type] = (counts[type] ?? 0) + 1;
    copied = end;
    i = end;
  };
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === AT) {
      if (settings.email) {
        const found = email(text, i, copied);
        if (found) {
          replace("email", found.start, found.end);
          continue;
        }
      }
      i++;
      continue;
    }
    const boundary = numberBoundary(text, i);
    if (boundary && settings.ip && (isHex(c) || c === COLON)) {
      const v4 = isDigit(c) ? ipv4(text, i) : -1;
      if (v4 !== -1) {
        replace("ip", i, v4);
        continue;
      }
      const v6 = ipv6(text, i);
      if (v6 !== -1) {
        replace("ip", i, v6);
        continue;
      }
    }
    if (boundary && (settings.card || settings.phone) && (isDigit(c) || c === PLUS || c === OPEN)) {
      const found = number(text, i, settings);
      if (found) {
        replace(found.type, i, found.end);
        continue;
      }
    }
    if (settings.iban && isAlpha(c) && (i === 0 || !isWordish(text.charCodeAt(i - 1)))) {
      const found = iban(text, i);
      if (found.end !== -1) {
        replace("iban", i, found.end);
        continue;
      }
      if (found.read > i) {
        i = found.read;
        continue;
      }
    }
    i++;
  }
  return { text: copied === 0 ? text : out + text.slice(copied), counts };
}

/** Adds `more` into `into`. */
export function addCounts(into: RedactionCounts, more: RedactionCounts): RedactionCounts {
  for (const t of REDACTION_TYPES) {
    const n = more[t];
    if (n) into[t] = (into[t] ?? 0) + n;
  }
  return into;
}
