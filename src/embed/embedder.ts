// The Embedder interface: Workers AI in production, the local embedder offline. Callers never
// know which one they hold.

/** Whether a text is a search query or a passage being indexed (some models prefix queries). */
export type EmbedKind = "query" | "document";

export interface Embedder {
  /** Model id, e.g. "@cf/baai/bge-base-en-v1.5"; part of every cache key and version record. */
  readonly model: string;
  readonly dimensions: number;
  /** Inputs longer than this many model tokens are truncated by the model: chunk below it. */
  readonly maxInputTokens: number;
  /**
   * Embeds texts in order, one unit-length vector per text. Splits into batches the backend
   * accepts. Throws AppError (retryable for 429/5xx/timeouts, not for 4xx).
   */
  embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]>;
}

export interface EmbeddingModelInfo {
  dimensions: number;
  maxInputTokens: number;
}

/** The Workers AI text-embedding models we support, with their output size and input limit. */
export const EMBEDDING_MODELS: Record<string, EmbeddingModelInfo> = {
  "@cf/baai/bge-small-en-v1.5": { dimensions: 384, maxInputTokens: 512 },
  "@cf/baai/bge-base-en-v1.5": { dimensions: 768, maxInputTokens: 512 },
  "@cf/baai/bge-large-en-v1.5": { dimensions: 1024, maxInputTokens: 512 },
};

/** EMBEDDING_MODEL when unset. */
export const DEFAULT_EMBEDDING_MODEL = "@cf/baai/bge-base-en-v1.5";

/** Workers AI accepts at most this many texts per embedding call. */
export const MAX_EMBED_BATCH = 100;
