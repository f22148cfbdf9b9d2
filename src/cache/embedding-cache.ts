// Query embeddings cached in KV: a repeated query skips Workers AI entirely. Values are the raw
// little-endian float32 bytes (3 KiB for 768 dims), not JSON numbers. KV failures are misses.
import type { Embedder, EmbedKind } from "../embed/embedder";
import { errorMessage } from "../errors";
import type { Logger } from "../observe/logger";
import { embeddingCacheKey, normalizeQuery } from "./keys";

// KV's minimum expiration TTL.
const MIN_KV_TTL_SECONDS = 60;

export interface EmbeddingCacheStats {
  hits: number;
  misses: number;
}

export class CachingEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions: number;
  readonly maxInputTokens: number;
  readonly stats: EmbeddingCacheStats = { hits: 0, misses: 0 };

  constructor(
    private readonly inner: Embedder,
    private readonly kv: KVNamespace,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
    /** Distinguishes settings that change vectors for the same model (pooling, query prefix). */
    private readonly variant = "default",
    /** Runs the cache write after the response (ctx.waitUntil); awaited when absent. */
    private readonly defer?: (work: Promise<unknown>) => void,
  ) {
    this.model = inner.model;
    this.dimensions = inner.dimensions;
    this.maxInputTokens = inner.maxInputTokens;
  }

  async embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]> {
    // Documents are embedded once each at ingest: caching them would only fill KV.
    if (kind !== "query" || texts.length !== 1 || texts[0] === undefined)
      return this.inner.embed(texts, kind);
    const query = normalizeQuery(texts[0]);
    const key = await embeddingCacheKey(this.model, this.variant, query);
    const cached = await this.read(key);
    if (cached) {
      this.stats.hits++;
      return [cached];
    }
    this.stats.misses++;
    const [vector] = await this.inner.embed([query], kind);
    if (!vector) return [];
    const write = this.write(key, vector);
    if (this.defer) this.defer(write);
    else await write;
    return [vector];
  }

  private async read(key: string): Promise<Float32Array | null> {
    try {
      const buf = await this.kv.get(key, "arrayBuffer");
      if (!buf || buf.byteLength !== this.dimensions * 4) return null;
      return new Float32Array(buf);
    } catch (err) {
      this.logger.warn("cache.read_failed", { layer: "kv-embedding", error: errorMessage(err) });
      return null;
    }
  }

  private async write(key: string, vector: Float32Array): Promise<void> {
    try {
      const bytes = new Float32Array(vector).buffer;
      await this.kv.put(key, bytes, { expirationTtl: Math.max(MIN_KV_TTL_SECONDS, this.ttlSeconds) });
    } catch (err) {
      this.logger.warn("cache.write_failed", { layer: "kv-embedding", error: errorMessage(err) });
    }
  }
}
