// Counting facet values in the Worker: each document's value of a field, in, the most frequent
// values (as facetCounts orders them) and what the rest add up to, out. Linear in the documents;
// its map holds at most one entry per document, and facetCounts hands it at most
// MAX_DOCUMENT_ROWS documents (past that SQLite groups the values itself).

export type FacetValue = string | number | boolean;

export interface FacetCount {
  value: FacetValue;
  /** Documents holding the value. */
  count: number;
}

export interface FacetValues {
  /** The most frequent values, most documents first, then by value (see facetCounts). */
  values: FacetCount[];
  /** Documents holding a value of the field that is not among `values` (0: nothing was cut). */
  otherCount: number;
}

/**
 * The `limit` most frequent values among `values` (one per document: JSON values, a non-scalar
 * or null counting for none), and how many documents hold one of the others.
 */
export function countValues(values: readonly unknown[], limit: number): FacetValues {
  const counts = new Map<string, FacetCount>();
  let total = 0;
  for (const value of values) {
    const key = valueKey(value);
    if (key === null) continue;
    total++;
    const entry = counts.get(key);
    if (entry) entry.count++;
    // -0 is 0 to SQLite (JSON.stringify writes it as 0 anyway).
    else counts.set(key, { value: value === 0 ? 0 : (value as FacetValue), count: 1 });
  }
  const top = [...counts.values()].sort(compareCounts).slice(0, limit);
  return { values: top, otherCount: total - top.reduce((sum, v) => sum + v.count, 0) };
}

/**
 * A scalar's identity as SQLite groups it: by type (numbers are one type whether integer or
 * real), then by value; null for what holds no scalar.
 */
function valueKey(value: unknown): string | null {
  switch (typeof value) {
    case "string":
      return `s${value}`;
    case "number":
      // -0 and 0 are one value to SQLite, as to String().
      return Number.isFinite(value) ? `n${String(value)}` : null;
    case "boolean":
      return value ? "t" : "f";
    default:
      return null;
  }
}

function kindRank(value: FacetValue): number {
  if (typeof value === "boolean") return value ? 1 : 0;
  return typeof value === "number" ? 2 : 3;
}

/** Most documents first, then false < true < numbers (ascending) < strings (by code points). */
export function compareCounts(a: FacetCount, b: FacetCount): number {
  if (a.count !== b.count) return b.count - a.count;
  const kinds = kindRank(a.value) - kindRank(b.value);
  if (kinds !== 0) return kinds;
  if (typeof a.value === "number" && typeof b.value === "number") return a.value - b.value;
  if (typeof a.value === "string" && typeof b.value === "string") return compareCodePoints(a.value, b.value);
  return 0;
}

/**
 * Strings by code point, as SQLite compares UTF-8 bytes. JavaScript's `<` compares UTF-16 code
 * units, which puts a surrogate pair (U+10000 and up) before U+E000..U+FFFF: shifting the code
 * units above U+D7FF restores code point order.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointOrder(x) - codePointOrder(y);
  }
  return a.length - b.length;
}

function codePointOrder(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}
