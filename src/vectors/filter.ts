// Vectorize metadata filters: validation with Vectorize's documented rules, and evaluation with its
// semantics, shared by the local index, the Vectorize adapter (to reject bad filters before the
// network) and test fakes.
//
// Semantics (developers.cloudflare.com/vectorize/reference/metadata-filtering):
// - fields combine with an implicit AND; a bare value means $eq; a dotted key is a nested path;
// - one field may carry either a single operator, or one lower bound ($gt/$gte) together with one
//   upper bound ($lt/$lte); no other combination is accepted;
// - comparisons are type-strict: a string never equals a number, a range on numbers is numeric and
//   a range on strings is lexicographic (by code point, the order of their UTF-8 bytes).
// The documentation is silent on fields a vector does not have. We treat a missing field as null,
// the reading under which `{ field: { $eq: null } }` (which Vectorize accepts) is meaningful: $eq
// null, $ne <value> and $nin match it; $eq <value>, $ne null, $in and ranges do not. Stored values
// that are not string, number or boolean (arrays, objects) cannot be indexed by Vectorize and count
// as missing.
// A string metadata index holds "the first 64B of the string data truncated on UTF-8 character
// boundaries to the longest well-formed UTF-8 substring within that limit, so vectors are
// filterable on the first 64B of their value" (same page): $eq/$ne/$in/$nin and ranges compare that
// prefix, so a longer value equals its prefix and never its whole self. matchesIndexedFilter is
// that comparison (the local index and the fakes use it); matchesFilter compares whole values, as
// the service's own checks on D1 metadata do. The documentation says nothing of long operands:
// they are compared whole here, and the search API refuses them (workers/api/routes/search.ts).

import { AppError } from "../errors";
import {
  type FilterOperators,
  type FilterScalar,
  type MetadataFilter,
  VECTORIZE_LIMITS,
  type VectorMetadata,
} from "./vector-index";

const MAX_FIELD_CHARS = 512;
const EQUALITY_OPS = ["$eq", "$ne"] as const;
const SET_OPS = ["$in", "$nin"] as const;
const LOWER_OPS = ["$gt", "$gte"] as const;
const UPPER_OPS = ["$lt", "$lte"] as const;
const ALL_OPS: readonly string[] = [...EQUALITY_OPS, ...SET_OPS, ...LOWER_OPS, ...UPPER_OPS];

type Scalar = Exclude<FilterScalar, null>;

function invalid(message: string, field: string): AppError {
  return new AppError("invalid_filter", message, { field, retryable: false });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isScalar(value: unknown): value is Scalar {
  return (
    typeof value === "string" ||
    typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value))
  );
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function validateFieldName(name: string): void {
  const field = `filter.${name}`;
  if (name.length === 0) throw invalid("filter field names cannot be empty", field);
  if (name.length > MAX_FIELD_CHARS) {
    throw invalid(`filter field "${name.slice(0, 32)}…" is longer than ${MAX_FIELD_CHARS} characters`, field);
  }
  if (name.includes('"')) throw invalid(`filter field "${name}" cannot contain a double quote`, field);
  if (name.startsWith("$")) {
    throw invalid(
      `filter field "${name}" cannot start with "$": logical operators are not supported, fields are combined with AND`,
      field,
    );
  }
  for (const segment of name.split(".")) {
    if (segment.length === 0) {
      throw invalid(`filter field "${name}" has an empty path segment (dots separate nested keys)`, field);
    }
    if (segment.startsWith("$")) {
      throw invalid(`filter field "${name}" has a path segment starting with "$"`, field);
    }
  }
}

function validateOperators(name: string, ops: Record<string, unknown>): FilterOperators {
  const keys = Object.keys(ops);
  const field = `filter.${name}`;
  if (keys.length === 0) throw invalid(`filter field "${name}" has an empty operator object`, field);
  for (const key of keys) {
    if (!key.startsWith("$")) {
      throw invalid(
        `filter field "${name}" holds a nested object; nest with a dotted field name such as "${name}.${key}"`,
        field,
      );
    }
    if (!ALL_OPS.includes(key)) {
      throw invalid(
        `unknown filter operator "${key}" on field "${name}" (supported: ${ALL_OPS.join(", ")})`,
        `${field}.${key}`,
      );
    }
  }
  const lower = keys.filter((k) => (LOWER_OPS as readonly string[]).includes(k));
  const upper = keys.filter((k) => (UPPER_OPS as readonly string[]).includes(k));
  const isRangeOnly = lower.length + upper.length === keys.length;
  if (keys.length > 1 && (!isRangeOnly || lower.length > 1 || upper.length > 1)) {
    throw invalid(
      `filter field "${name}" combines ${keys.join(" and ")}; only one lower bound ($gt/$gte) with one upper bound ($lt/$lte) may be combined`,
      field,
    );
  }

  const out: FilterOperators = {};
  for (const op of EQUALITY_OPS) {
    if (!(op in ops)) continue;
    const operand = ops[op];
    if (operand !== null && !isScalar(operand)) {
      throw invalid(
        `${op} on field "${name}" needs a string, number, boolean or null, got ${describe(operand)}`,
        `${field}.${op}`,
      );
    }
    out[op] = operand;
  }
  for (const op of SET_OPS) {
    if (!(op in ops)) continue;
    const operand = ops[op];
    if (!Array.isArray(operand) || operand.length === 0) {
      throw invalid(
        `${op} on field "${name}" needs a non-empty array, got ${describe(operand)}`,
        `${field}.${op}`,
      );
    }
    const items: Scalar[] = [];
    for (const item of operand) {
      if (!isScalar(item)) {
        throw invalid(
          `${op} on field "${name}" accepts only strings, numbers and booleans, got ${describe(item)}`,
          `${field}.${op}`,
        );
      }
      items.push(item);
    }
    out[op] = items;
  }
  let rangeType: "string" | "number" | undefined;
  for (const op of [...LOWER_OPS, ...UPPER_OPS]) {
    if (!(op in ops)) continue;
    const operand = ops[op];
    if (typeof operand !== "string" && !(typeof operand === "number" && Number.isFinite(operand))) {
      throw invalid(
        `${op} on field "${name}" needs a number or a string, got ${describe(operand)}`,
        `${field}.${op}`,
      );
    }
    const type = typeof operand === "string" ? "string" : "number";
    if (rangeType !== undefined && rangeType !== type) {
      throw invalid(`range bounds on field "${name}" must both be numbers or both be strings`, field);
    }
    rangeType = type;
    out[op] = operand;
  }
  return out;
}

/** Checks a filter against Vectorize's rules and returns it typed; throws AppError("invalid_filter"). */
export function validateFilter(filter: unknown): MetadataFilter {
  if (!isPlainObject(filter)) throw invalid(`filter must be an object, got ${describe(filter)}`, "filter");
  const names = Object.keys(filter);
  if (names.length === 0) throw invalid("filter must have at least one field", "filter");
  const out: MetadataFilter = {};
  for (const name of names) {
    validateFieldName(name);
    const condition = filter[name];
    if (condition === null || isScalar(condition)) {
      out[name] = condition;
    } else if (isPlainObject(condition)) {
      out[name] = validateOperators(name, condition);
    } else {
      throw invalid(
        `filter field "${name}" needs a string, number, boolean, null or an operator object, got ${describe(condition)}` +
          (Array.isArray(condition) ? " (use $in for a list)" : ""),
        `filter.${name}`,
      );
    }
  }
  // Measured after the structural checks so the error names the real problem first.
  const bytes = new TextEncoder().encode(JSON.stringify(out)).byteLength;
  if (bytes >= VECTORIZE_LIMITS.maxFilterBytes) {
    throw invalid(
      `filter is ${bytes} bytes as compact JSON; it must be under ${VECTORIZE_LIMITS.maxFilterBytes}`,
      "filter",
    );
  }
  return out;
}

/** The indexable value at a dotted path, or undefined when absent or not a string/number/boolean. */
export function lookupField(metadata: VectorMetadata | undefined, path: string): Scalar | undefined {
  let current: unknown = metadata;
  for (const segment of path.split(".")) {
    if (!isPlainObject(current) || !Object.hasOwn(current, segment)) return undefined;
    current = current[segment];
  }
  return isScalar(current) ? current : undefined;
}

/** Orders strings by code point, which is the byte order of their UTF-8 encodings. */
export function compareStrings(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const ca = a.codePointAt(i) ?? 0;
    const cb = b.codePointAt(i) ?? 0;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

function equals(value: Scalar | undefined, operand: FilterScalar): boolean {
  if (operand === null) return value === undefined;
  return value === operand;
}

function compare(value: Scalar | undefined, operand: FilterScalar): number | undefined {
  if (typeof operand === "number" && typeof value === "number") return value - operand;
  if (typeof operand === "string" && typeof value === "string") return compareStrings(value, operand);
  return undefined;
}

function matchesOperators(value: Scalar | undefined, ops: FilterOperators): boolean {
  if ("$eq" in ops && ops.$eq !== undefined && !equals(value, ops.$eq)) return false;
  if ("$ne" in ops && ops.$ne !== undefined && equals(value, ops.$ne)) return false;
  if (ops.$in !== undefined && (value === undefined || !ops.$in.includes(value))) return false;
  if (ops.$nin !== undefined && value !== undefined && ops.$nin.includes(value)) return false;
  const checks: [FilterScalar | undefined, (c: number) => boolean][] = [
    [ops.$gt, (c) => c > 0],
    [ops.$gte, (c) => c >= 0],
    [ops.$lt, (c) => c < 0],
    [ops.$lte, (c) => c <= 0],
  ];
  for (const [operand, accept] of checks) {
    if (operand === undefined) continue;
    const c = compare(value, operand);
    if (c === undefined || !accept(c)) return false;
  }
  return true;
}

/**
 * Where a filter condition holds a string longer than a metadata index keeps ("" for a bare
 * value, else the operator), and its length in bytes; undefined when none does.
 */
export function overlongString(
  condition: FilterScalar | FilterOperators,
): { at: string; bytes: number } | undefined {
  const entries: [string, unknown][] =
    condition === null || typeof condition !== "object" ? [["", condition]] : Object.entries(condition);
  for (const [at, operand] of entries) {
    for (const item of Array.isArray(operand) ? operand : [operand]) {
      if (typeof item !== "string" || item.length * 3 <= VECTORIZE_LIMITS.maxIndexedStringBytes) continue;
      const bytes = new TextEncoder().encode(item).byteLength;
      if (bytes > VECTORIZE_LIMITS.maxIndexedStringBytes) return { at, bytes };
    }
  }
  return undefined;
}

type Read = (metadata: VectorMetadata | undefined, path: string) => Scalar | undefined;

function matches(metadata: VectorMetadata | undefined, filter: MetadataFilter, read: Read): boolean {
  for (const [path, condition] of Object.entries(filter)) {
    const value = read(metadata, path);
    if (condition === null || typeof condition !== "object") {
      if (!equals(value, condition)) return false;
    } else if (!matchesOperators(value, condition)) {
      return false;
    }
  }
  return true;
}

/** Whether metadata satisfies a validated filter, comparing whole values. */
export function matchesFilter(metadata: VectorMetadata | undefined, filter: MetadataFilter): boolean {
  return matches(metadata, filter, lookupField);
}

/**
 * The part of a string a Vectorize string metadata index keeps: its longest prefix of whole
 * characters within VECTORIZE_LIMITS.maxIndexedStringBytes bytes of UTF-8.
 */
export function indexedString(value: string): string {
  const limit = VECTORIZE_LIMITS.maxIndexedStringBytes;
  // No UTF-16 code unit takes more than 3 bytes of UTF-8.
  if (value.length * 3 <= limit) return value;
  let bytes = 0;
  let end = 0;
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + size > limit) break;
    bytes += size;
    end += char.length;
  }
  return value.slice(0, end);
}

function lookupIndexed(metadata: VectorMetadata | undefined, path: string): Scalar | undefined {
  const value = lookupField(metadata, path);
  return typeof value === "string" ? indexedString(value) : value;
}

/** Whether a vector's metadata satisfies a validated filter as Vectorize's metadata indexes see it. */
export function matchesIndexedFilter(metadata: VectorMetadata | undefined, filter: MetadataFilter): boolean {
  return matches(metadata, filter, lookupIndexed);
}
