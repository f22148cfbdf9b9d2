// Vector ids for chunks. Vectorize ids are unique per index (not per namespace) and at most
// 64 bytes, while document ids may be 512 bytes: so a chunk id is a 128-bit hash of
// (namespace, document id) plus the chunk's index, e.g. "Xq3...-12". Stable across re-ingests,
// so an update overwrites vectors in place.
import { base64url } from "../util/encoding";

const encoder = new TextEncoder();

export async function chunkIdPrefix(namespace: string, docId: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`${namespace}\u0000${docId}`));
  return base64url(new Uint8Array(digest, 0, 16));
}

export function chunkId(prefix: string, index: number): string {
  return `${prefix}-${index}`;
}

export function chunkIds(prefix: string, from: number, to: number): string[] {
  const ids: string[] = [];
  for (let i = from; i < to; i++) ids.push(chunkId(prefix, i));
  return ids;
}
