// Character classes and number boundaries shared by the redaction scanners (char codes, ASCII
// unless said otherwise).

export const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
export const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;
export const isLower = (c: number) => c >= 0x61 && c <= 0x7a;
export const isAlpha = (c: number) => isUpper(c) || isLower(c);
export const isAlnum = (c: number) => isDigit(c) || isAlpha(c);
export const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** A word character in any script (letters and digits past ASCII too), or "_". */
export const isWordish = (c: number) => isAlnum(c) || c === 0x5f || c > 0x7f;
// Local part characters: letters, digits and . _ % + - (the common subset of RFC 5322's atext).
export const isLocal = (c: number) =>
  isAlnum(c) || c === 0x2e || c === 0x5f || c === 0x25 || c === 0x2b || c === 0x2d;
export const isDomain = (c: number) => isAlnum(c) || c === 0x2d || c === 0x2e;
export const SPACE = 0x20;
export const HYPHEN = 0x2d;
export const DOT = 0x2e;
export const COLON = 0x3a;
export const PLUS = 0x2b;
export const OPEN = 0x28;
export const CLOSE = 0x29;
export const AT = 0x40;

/** Whether the character before `i` lets a number start at `i`: not inside a word, number or path. */
export function numberBoundary(text: string, i: number): boolean {
  if (i === 0) return true;
  const p = text.charCodeAt(i - 1);
  return !(
    isWordish(p) ||
    p === DOT ||
    p === 0x2c ||
    p === 0x2f ||
    p === COLON ||
    p === HYPHEN ||
    p === PLUS
  );
}

/** Whether the character at `end` ends a number: not a word character, nor "." or "," before a digit. */
export function numberEnd(text: string, end: number): boolean {
  if (end >= text.length) return true;
  const c = text.charCodeAt(end);
  if (isWordish(c)) return false;
  if (
    (c === DOT || c === 0x2c || c === HYPHEN || c === COLON || c === 0x2f) &&
    isDigit(text.charCodeAt(end + 1))
  )
    return false;
  return true;
}
