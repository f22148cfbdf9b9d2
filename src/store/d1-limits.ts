// D1's per-statement limits (https://developers.cloudflare.com/d1/platform/limits/; in a batch they
// apply to each statement). Local D1 (SQLite in workerd) refuses more than 100 bound parameters
// ("D1_ERROR: too many SQL variables at offset N: SQLITE_ERROR") and SQL over 100,000 bytes
// ("D1_ERROR: statement too long: SQLITE_TOOBIG") as D1 does, but binds strings and blobs of
// up to about 16 MB where D1 stops at 2,000,000 bytes: checkBoundValues refuses those locally
// with D1's error (seen from D1: "D1_ERROR: string or blob too big: SQLITE_TOOBIG").

export const D1_LIMITS = {
  /** "Maximum bound parameters per query". */
  maxBoundParameters: 100,
  /** "Maximum SQL statement length", in UTF-8 bytes. */
  maxSqlBytes: 100_000,
  /** "Maximum string, BLOB or table row size", in bytes (UTF-8 for strings). */
  maxValueBytes: 2_000_000,
  /**
   * "Maximum database size: 10 GB (Workers Paid) / 500 MB (Free)". Read as 10^10 bytes, the
   * smaller of GB and GiB, so a database is never counted as having room it does not have.
   */
  maxDatabaseBytes: 10_000_000_000,
} as const;

export const D1_VALUE_TOO_BIG = "D1_ERROR: string or blob too big: SQLITE_TOOBIG";

/** UTF-8 length of a string, without encoding it. */
export function utf8Length(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: 4 bytes for its 2 code units.
      bytes += 2;
      i++;
    } else bytes += 2; // 3 bytes (a lone surrogate is encoded as U+FFFD, also 3)
  }
  return bytes;
}

/** Bytes a bound value takes as a SQLite string or blob; 0 for numbers and nulls. */
function valueBytes(value: unknown): number {
  if (typeof value === "string") {
    // UTF-8 takes at least one byte and at most three per UTF-16 unit: measure only in between.
    if (value.length * 3 <= D1_LIMITS.maxValueBytes) return value.length;
    if (value.length > D1_LIMITS.maxValueBytes) return value.length;
    return utf8Length(value);
  }
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  return 0;
}

/** Refuses, as D1 does, a statement binding a string or blob over D1's size limit. */
export function checkBoundValues(values: readonly unknown[]): void {
  for (const value of values) {
    if (valueBytes(value) > D1_LIMITS.maxValueBytes) throw new Error(D1_VALUE_TOO_BIG);
  }
}

/**
 * JSON arrays of the given JSON values, each at most `maxBytes` in UTF-8 (one bound parameter
 * each), in order. A value longer than that on its own gets an array of its own (D1 refuses it).
 */
export function jsonArraySlices(values: readonly string[], maxBytes: number): string[] {
  const slices: string[] = [];
  let part: string[] = [];
  let bytes = 2; // "[" and "]"
  for (const value of values) {
    const size = utf8Length(value);
    // A comma before every value but the first.
    if (part.length > 0 && bytes + 1 + size > maxBytes) {
      slices.push(`[${part.join(",")}]`);
      part = [];
      bytes = 2;
    }
    bytes += size + (part.length > 0 ? 1 : 0);
    part.push(value);
  }
  if (part.length > 0) slices.push(`[${part.join(",")}]`);
  return slices;
}
