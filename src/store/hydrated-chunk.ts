// Chunk rows joined with their documents, decoded into the chunks search answers. Both the
// document store (hydrate) and the keyword index (hits that carry their chunk) read these rows.
import { z } from "zod";
import type { Metadata } from "../validation";

export interface HydratedChunk {
  chunkId: string;
  docId: string;
  index: number;
  title: string | null;
  headings: string[];
  text: string;
  metadata: Metadata;
  /** The document's expiry (epoch ms), when it has one: a cached answer holding it lives no longer. */
  expiresAt?: number;
}

const HydrateRowSchema = z.object({
  chunk_id: z.string(),
  doc_id: z.string(),
  idx: z.number(),
  title: z.string().nullable(),
  headings: z.string(),
  text: z.string(),
  metadata: z.string(),
  expires_at: z.number().nullable().optional(),
});

/**
 * A chunk as search answers it, from a row of chunk_id, doc_id, idx, title, headings, text and
 * metadata (chunks joined with documents).
 */
export function hydratedChunk(raw: unknown): HydratedChunk {
  const r = HydrateRowSchema.parse(raw);
  return {
    chunkId: r.chunk_id,
    docId: r.doc_id,
    index: r.idx,
    title: r.title,
    headings: parseJson<string[]>(r.headings, []),
    text: r.text,
    metadata: parseJson<Metadata>(r.metadata, {}),
    ...(typeof r.expires_at === "number" ? { expiresAt: r.expires_at } : {}),
  };
}

/** A JSON column, or `fallback` when it does not parse. */
export function parseJson<T>(s: string, fallback: T): T {
  try {
    return JSON.parse(s) as T;
  } catch {
    return fallback;
  }
}
