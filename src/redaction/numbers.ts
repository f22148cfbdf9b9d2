// Phone and payment card numbers: digit groups read from a start, at most MAX_NUMBER characters,
// then the longest run of groups that is a card (Luhn) or a phone number.
import { CLOSE, DOT, HYPHEN, isDigit, numberEnd, OPEN, PLUS, SPACE } from "./chars";

/** A number candidate (phone or card with separators) is read at most this far. */
const MAX_NUMBER = 40;

/** Luhn checksum of a digit string (ISO/IEC 7812-1). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 0x30;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** A number candidate split into digit groups and what separates them. */
interface NumberCandidate {
  plus: boolean;
  groups: { start: number; end: number }[];
  /** separators[k] is the text between group k and group k+1. */
  separators: string[];
}

const NO_CANDIDATE: NumberCandidate = { plus: false, groups: [], separators: [] };

/**
 * The digit group after `from` (at most three separator characters ( -.()) before it), the
 * `index`th of a number, within `highest`; null where the number ends.
 */
function nextGroup(
  text: string,
  from: number,
  highest: number,
  index: number,
  plus: boolean,
): { start: number; end: number } | null {
  let j = from;
  while (j < highest && j - from < 3) {
    const c = text.charCodeAt(j);
    if (c === SPACE || c === HYPHEN || c === DOT || c === OPEN || c === CLOSE) j++;
    else break;
  }
  if (j >= highest || !isDigit(text.charCodeAt(j))) return null;
  const start = j;
  while (j < highest && isDigit(text.charCodeAt(j))) j++;
  // A group cut by the bound is not a whole group.
  if (j === highest && j < text.length && isDigit(text.charCodeAt(j))) return null;
  // A one-digit group is a trunk prefix or country code (first), or follows a "+" country code
  // (+33 6 12 34 56 78); anywhere else the number ended before it ("1 2 3 4" is a list).
  if (j - start === 1 && index > (plus ? 1 : 0)) return null;
  return { start, end: j };
}

/**
 * Digit groups from `i` within MAX_NUMBER; none when they hold fewer than `minDigits` (counted
 * first, so the many candidates that fail cost no allocation).
 */
function numberCandidate(text: string, i: number, minDigits: number): NumberCandidate {
  const plus = text.charCodeAt(i) === PLUS;
  const from = plus ? i + 1 : i;
  const highest = Math.min(text.length, i + MAX_NUMBER);
  let digits = 0;
  let index = 0;
  for (let g = nextGroup(text, from, highest, 0, plus); g; g = nextGroup(text, g.end, highest, ++index, plus))
    digits += g.end - g.start;
  if (digits < minDigits) return NO_CANDIDATE;
  const groups: { start: number; end: number }[] = [];
  const separators: string[] = [];
  let at = from;
  for (
    let g = nextGroup(text, from, highest, 0, plus);
    g;
    g = nextGroup(text, at, highest, groups.length, plus)
  ) {
    separators.push(text.slice(at, g.start));
    groups.push(g);
    at = g.end;
  }
  // The number itself starts at `i` (after "+"), or with "(" around its first group.
  const lead = separators[0];
  if (lead !== undefined && lead !== "" && lead !== "(") return NO_CANDIDATE;
  return { plus, groups, separators };
}

/** Whether parentheses in the separators enclose whole groups, one pair at most. */
function parensBalanced(separators: readonly string[], count: number): boolean {
  let open = false;
  let pairs = 0;
  for (let k = 0; k <= count; k++) {
    const sep = separators[k] ?? "";
    for (let s = 0; s < sep.length; s++) {
      const c = sep.charCodeAt(s);
      if (c === OPEN) {
        if (open || pairs > 0) return false;
        open = true;
      } else if (c === CLOSE) {
        if (!open) return false;
        open = false;
        pairs++;
      }
    }
  }
  return !open;
}

/** 13 to 19 digits passing the Luhn check, whole or in groups of 3 to 6 (4-4-4-4, 4-6-5, 4-4-4-4-3). */
function isCard(text: string, c: NumberCandidate, count: number): boolean {
  let digits = "";
  for (let k = 0; k < count; k++) {
    const sep = c.separators[k] ?? "";
    if (k > 0 && sep !== " " && sep !== "-") return false;
    const g = c.groups[k];
    if (!g) return false;
    if (count > 1 && (g.end - g.start < 3 || g.end - g.start > 6)) return false;
    digits += text.slice(g.start, g.end);
  }
  if (c.plus || c.separators[0] !== "") return false;
  return digits.length >= 13 && digits.length <= 19 && luhnValid(digits);
}

function isPhone(text: string, c: NumberCandidate, count: number): boolean {
  const lengths: number[] = [];
  let digits = 0;
  for (let k = 0; k < count; k++) {
    const g = c.groups[k];
    if (!g) return false;
    lengths.push(g.end - g.start);
    digits += g.end - g.start;
  }
  if (!parensBalanced(c.separators, count - 1)) return false;
  // The text after the last group: a lone ")" would belong to the number.
  for (let k = 1; k < count; k++) {
    const sep = c.separators[k] ?? "";
    // One space, hyphen or dot between groups; parentheses around one.
    if (sep.replace(/[()]/g, "").length > 1) return false;
  }
  // International (E.164: at most 15 digits), written whole or in groups.
  if (c.plus) return digits >= 8 && digits <= 15 && (count === 1 || lengths.every((n) => n <= 6));
  // A national number: 10 or 11 digits in at least two groups, each 2 to 6 digits (a leading "1"
  // trunk prefix aside), the last at least 3: dates (2024-01-15), ISBNs (978-3-16-148410-0),
  // times and plain runs of digits fall outside.
  if (count < 2 || digits < 10 || digits > 11) return false;
  const first = lengths[0] ?? 0;
  const trunk = first === 1 && text.charCodeAt(c.groups[0]?.start ?? 0) === 0x31 && digits === 11;
  for (let k = 0; k < count; k++) {
    const n = lengths[k] ?? 0;
    if (n > 6 || (n < 2 && !(k === 0 && trunk))) return false;
  }
  if ((lengths[count - 1] ?? 0) < 3) return false;
  // 2024 01 15 or 2024.01.15 with a time after it: a date, whatever separates it.
  if (first === 4 && lengths[1] === 2 && (lengths[2] ?? 0) <= 2) return false;
  return true;
}

/** The longest card or phone number starting at `i` (fewer groups until one fits), or null. */
export function number(
  text: string,
  i: number,
  settings: { card: boolean; phone: boolean },
): { type: "card" | "phone"; end: number } | null {
  const plus = text.charCodeAt(i) === PLUS;
  const c = numberCandidate(text, i, plus && settings.phone ? 8 : settings.phone ? 10 : 13);
  // Digits in the first `count` groups: only counts within a card's or a phone number's range
  // are checked in full (a run of one-digit groups would otherwise check every prefix).
  const digits: number[] = [0];
  for (const g of c.groups) digits.push((digits[digits.length - 1] ?? 0) + g.end - g.start);
  const [phoneMin, phoneMax] = c.plus ? [8, 15] : [10, 11];
  for (let count = c.groups.length; count >= 1; count--) {
    const n = digits[count] ?? 0;
    const card = settings.card && n >= 13 && n <= 19;
    const phone = settings.phone && n >= phoneMin && n <= phoneMax;
    if (!card && !phone) continue;
    const end = c.groups[count - 1]?.end ?? i;
    // "(555) 123-4567)" keeps its closing parenthesis out; "(555)" alone is no number.
    if (!numberEnd(text, end)) continue;
    if (card && isCard(text, c, count)) return { type: "card", end };
    if (phone && isPhone(text, c, count)) return { type: "phone", end };
  }
  return null;
}
