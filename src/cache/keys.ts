// Cache keys. A result key names everything an answer depends on: namespace, active index
// version, the namespace's write generation and the normalized request (query text normalized
// for case, whitespace and Unicode; filter in canonical key order). Keys are hashed, so their
// length never depends on the request and no query text is stored in a key.

import { base64url } from "../util/encoding";

const encoder = new TextEncoder();

/** NFKC, lowercase, whitespace collapsed: "  Café\tLatte " and "café latte" are one query. */
export function normalizeQuery(query: string): string {
  return query.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
}

/** JSON with object keys sorted at every level, so equal filters serialize equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export async function sha256Base64url(text: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}

export interface ResultKeyParts {
  namespace: string;
  version: string;
  generation: number;
  request: Record<string, unknown>;
}

export async function resultCacheKey(parts: ResultKeyParts): Promise<string> {
  const hash = await sha256Base64url(canonicalJson(parts.request));
  // Namespace, version and generation stay readable: they scope the entry.
  return `r1/${parts.namespace}/${parts.version}/${parts.generation}/${hash}`;
}

/**
 * A query embedding's key. With a namespace, the entry is that namespace's alone ("emb2/<ns>/...",
 * readable like a result key's): whether a query is cached must not tell one tenant what another
 * searched.
 */
export async function embeddingCacheKey(
  model: string,
  variant: string,
  normalizedQuery: string,
  namespace?: string,
): Promise<string> {
  if (namespace === undefined)
    return `emb1:${model}:${await sha256Base64url(`${variant}\u0000${normalizedQuery}`)}`;
  return `emb2/${namespace}/${model}/${await sha256Base64url(JSON.stringify([variant, normalizedQuery]))}`;
}
