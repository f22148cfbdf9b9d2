// A string built one UTF-16 code unit at a time, for rewrites that touch most characters of a long
// text (a run of escapes, a row of thousands of table cells): no string or array slot per piece.

/** Code units per String.fromCharCode call: well under any engine's argument limit. */
const CHUNK = 8192;

export class CodeUnits {
  private units: Uint16Array;
  private size = 0;

  constructor(capacity: number) {
    this.units = new Uint16Array(Math.max(16, capacity));
  }

  push(unit: number): void {
    if (this.size === this.units.length) {
      const grown = new Uint16Array(this.units.length * 2);
      grown.set(this.units);
      this.units = grown;
    }
    this.units[this.size++] = unit;
  }

  /** Appends s[from, to). */
  pushSlice(s: string, from: number, to: number): void {
    for (let i = from; i < to; i++) this.push(s.charCodeAt(i));
  }

  toString(): string {
    const parts: string[] = [];
    for (let i = 0; i < this.size; i += CHUNK) {
      // apply takes the typed array as it is; spreading it would iterate it element by element.
      const chunk = this.units.subarray(i, Math.min(this.size, i + CHUNK));
      parts.push(String.fromCharCode.apply(null, chunk as unknown as number[]));
    }
    return parts.join("");
  }
}

/** Whether a code unit is one String.prototype.trim removes (WhiteSpace and LineTerminator). */
export function isTrimmed(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}
