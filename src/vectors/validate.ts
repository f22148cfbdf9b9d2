// Input checks with Vectorize's limits, shared by the Vectorize adapter (before the network) and the
// local index (as its own rules), so both backends reject the same inputs with the same AppError
// codes, messages and fields.

import { AppError } from "../errors";
import { byteLength } from "../validation";
import { validateFilter } from "./filter";
import {
  type MetadataFilter,
  TOO_MANY_IDS_CODE,
  VECTORIZE_LIMITS,
  type VectorMetadata,
} from "./vector-index";

export interface ValidVector {
  id: string;
  values: Float32Array;
  namespace?: string;
  metadata?: VectorMetadata;
}

export interface ValidQuery {
  vector: Float32Array;
  topK: number;
  namespace?: string;
  filter?: MetadataFilter;
  returnValues: boolean;
  returnMetadata: "none" | "indexed" | "all";
}

/** Vectorize's default number of matches. */
export const DEFAULT_TOP_K = 5;

function bad(message: string, field: string): AppError {
  return new AppError("bad_request", message, { field, retryable: false });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function validateId(id: unknown, field: string): string {
  if (typeof id !== "string" || id.length === 0) throw bad("vector id must be a non-empty string", field);
  const bytes = byteLength(id);
  if (bytes > VECTORIZE_LIMITS.maxIdBytes) {
    throw bad(`vector id too long: max is ${VECTORIZE_LIMITS.maxIdBytes} bytes, got ${bytes} bytes`, field);
  }
  return id;
}

export function validateNamespace(namespace: unknown, field: string): string | undefined {
  if (namespace === undefined) return undefined;
  if (typeof namespace !== "string" || namespace.length === 0) {
    throw bad("namespace must be a non-empty string", field);
  }
  const bytes = byteLength(namespace);
  if (bytes > VECTORIZE_LIMITS.maxNamespaceBytes) {
    throw bad(
      `namespace too long: max is ${VECTORIZE_LIMITS.maxNamespaceBytes} bytes, got ${bytes} bytes`,
      field,
    );
  }
  return namespace;
}

/**
 * Values as float32, as Vectorize stores them. `dimensions` is the index's, when known; without it
 * only the platform maximum is checked and the index itself rejects a mismatch.
 */
export function validateValues(values: unknown, field: string, dimensions?: number): Float32Array {
  if (!(Array.isArray(values) || values instanceof Float32Array || values instanceof Float64Array)) {
    throw bad("vector values must be an array of numbers, a Float32Array or a Float64Array", field);
  }
  const length = values.length;
  if (length === 0) throw bad("vector values cannot be empty", field);
  if (dimensions !== undefined && length !== dimensions) {
    throw bad(`invalid vector: expected ${dimensions} dimensions, and got ${length} dimensions`, field);
  }
  if (length > VECTORIZE_LIMITS.maxDimensions) {
    throw bad(`invalid vector: max is ${VECTORIZE_LIMITS.maxDimensions} dimensions, got ${length}`, field);
  }
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const v: unknown = values[i];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw bad(`vector values must be finite numbers; value ${i} is ${String(v)}`, field);
    }
    out[i] = v;
  }
  return out;
}

/**
 * Metadata keys follow Vectorize's rules (not empty, no "." or '"', no leading "$"). Values are the
 * service's contract, the VectorMetadata type: strings, finite numbers and booleans. Vectorize also
 * stores string arrays and nested objects, which this interface neither writes nor filters on.
 */
export function validateMetadata(metadata: unknown, field: string): VectorMetadata | undefined {
  if (metadata === undefined) return undefined;
  if (!isPlainObject(metadata)) throw bad("metadata must be an object", field);
  const out: VectorMetadata = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (key.length === 0) throw bad("metadata keys cannot be empty", field);
    if (key.includes(".") || key.includes('"') || key.startsWith("$")) {
      throw bad(`metadata key "${key}" cannot contain "." or '"', or start with "$"`, `${field}.${key}`);
    }
    if (
      typeof value === "string" ||
      typeof value === "boolean" ||
      (typeof value === "number" && Number.isFinite(value))
    ) {
      out[key] = value;
    } else {
      const got = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
      throw bad(
        `metadata value "${key}" must be a string, a finite number or a boolean, got ${got}`,
        `${field}.${key}`,
      );
    }
  }
  const bytes = byteLength(JSON.stringify(out));
  if (bytes > VECTORIZE_LIMITS.maxMetadataBytes) {
    throw bad(
      `metadata too large: max is ${VECTORIZE_LIMITS.maxMetadataBytes} bytes, got ${bytes} bytes`,
      field,
    );
  }
  return out;
}

/**
 * Checks an upsert batch. Every vector must have the index's dimensions when known, and the same
 * length as the others in the batch in any case.
 */
export function validateVectors(vectors: unknown, dimensions?: number): ValidVector[] {
  if (!Array.isArray(vectors)) throw bad("vectors must be an array", "vectors");
  if (vectors.length === 0) throw bad("vectors cannot be empty", "vectors");
  if (vectors.length > VECTORIZE_LIMITS.maxUpsertBatch) {
    throw bad(
      `too many vectors: max is ${VECTORIZE_LIMITS.maxUpsertBatch} per call, got ${vectors.length}`,
      "vectors",
    );
  }
  let expected = dimensions;
  return vectors.map((vector: unknown, i): ValidVector => {
    const field = `vectors[${i}]`;
    if (!isPlainObject(vector)) throw bad("each vector must be an object", field);
    const id = validateId(vector.id, `${field}.id`);
    const values = validateValues(vector.values, `${field}.values`, expected);
    expected = values.length;
    const namespace = validateNamespace(vector.namespace, `${field}.namespace`);
    const metadata = validateMetadata(vector.metadata, `${field}.metadata`);
    return {
      id,
      values,
      ...(namespace === undefined ? {} : { namespace }),
      ...(metadata === undefined ? {} : { metadata }),
    };
  });
}

/**
 * Checks a getByIds or deleteByIds id list. Over the per-call cap it fails as the binding does,
 * with its error text and code (see VECTORIZE_LIMITS); callers page with src/vectors/paging.ts.
 */
export function validateIds(ids: unknown, operation: "getByIds" | "deleteByIds"): string[] {
  if (!Array.isArray(ids)) throw bad("ids must be an array of strings", "ids");
  if (operation === "deleteByIds" && ids.length === 0) throw bad("ids cannot be empty", "ids");
  const [max, prefix] =
    operation === "getByIds"
      ? [VECTORIZE_LIMITS.maxGetBatch, "VECTOR_GET_ERROR"]
      : [VECTORIZE_LIMITS.maxDeleteBatch, "VECTOR_DELETE_ERROR"];
  if (ids.length > max) {
    throw new AppError(
      "bad_request",
      `${prefix} (code = ${TOO_MANY_IDS_CODE}): too many ids in payload; max id count is ${max}, got ${ids.length}`,
      { field: "ids", retryable: false, extra: { vectorizeCode: TOO_MANY_IDS_CODE } },
    );
  }
  return ids.map((id: unknown, i) => validateId(id, `ids[${i}]`));
}

/** Checks query options against Vectorize's limits, applying its defaults. */
export function validateQuery(vector: unknown, options: unknown, dimensions?: number): ValidQuery {
  const values = validateValues(vector, "vector", dimensions);
  if (options !== undefined && !isPlainObject(options))
    throw bad("query options must be an object", "options");
  const opts: Record<string, unknown> = options ?? {};

  const returnValues = opts.returnValues ?? false;
  if (typeof returnValues !== "boolean") throw bad("returnValues must be a boolean", "options.returnValues");
  const returnMetadata = opts.returnMetadata ?? "none";
  if (returnMetadata !== "none" && returnMetadata !== "indexed" && returnMetadata !== "all") {
    throw bad('returnMetadata must be "none", "indexed" or "all"', "options.returnMetadata");
  }
  const topK = opts.topK ?? DEFAULT_TOP_K;
  if (typeof topK !== "number" || !Number.isInteger(topK) || topK < 1) {
    throw bad("topK must be a positive integer", "options.topK");
  }
  const heavy = returnValues || returnMetadata === "all";
  const maxTopK = heavy ? VECTORIZE_LIMITS.maxTopKWithValuesOrMetadata : VECTORIZE_LIMITS.maxTopK;
  if (topK > maxTopK) {
    throw bad(
      heavy
        ? `with returnValues=true or returnMetadata=all, max top K is ${maxTopK}, but got ${topK}`
        : `max top K is ${maxTopK}, but got ${topK}`,
      "options.topK",
    );
  }
  const namespace = validateNamespace(opts.namespace, "options.namespace");
  const filter = opts.filter === undefined ? undefined : validateFilter(opts.filter);
  return {
    vector: values,
    topK,
    returnValues,
    returnMetadata,
    ...(namespace === undefined ? {} : { namespace }),
    ...(filter === undefined ? {} : { filter }),
  };
}
