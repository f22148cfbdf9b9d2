// Query embeddings cached in the isolate, then in KV: a repeated query skips Workers AI entirely.
// KV values are the raw little-endian float32 bytes (3 KiB for 768 dims), not JSON numbers. KV
// failures are misses.
//
// A query goes to KV the second time this isolate sees it, not the first: most queries are never
// repeated, a KV write costs more than embedding a short query again, and a write per unique
// query was a large share of a search miss's work. Queries that recur are shared with every
// other isolate from their second sighting on.
//
// Where the cache is asked depends on what the model costs. A remote model (Workers AI) is asked
// only when the isolate and KV have no vector ("cache-first"). An embedder computed in the isolate
// (the local one) answers sooner than a KV read could, so it is asked first and the cache is the
// fallback for when it fails ("model-first"): the vector a search gets is the same either way.
//
// Searches use the cache partitioned by namespace (forNamespace): a vector cached for one
// namespace is never answered to another, so how fast a search answers cannot tell a tenant
// whether another tenant searched the same text. Queries shared across namespaces are embedded
// once per namespace.
import type { Embedder, EmbedKind } from "../embed/embedder";
import { AppError, errorMessage } from "../errors";
import type { Logger } from "../observe/logger";
import { MIN_KV_TTL_SECONDS } from "../store/kv-limits";
import { embeddingCacheKey, normalizeQuery } from "./keys";
import { ByteLru } from "./lru";

/**
 * A hot KV read answers within a few milliseconds; a read KV has not cached at this location
 * can take tens (EMBEDDING_CACHE_WAIT_MS).
 */
export const DEFAULT_KV_WAIT_MS = 10;

const SLOW = Symbol("slow");

/** A promise of SLOW after `ms`, and a way to drop its timer when the race it is in is decided. */
function delay(ms: number): { slow: Promise<typeof SLOW>; cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const slow = new Promise<typeof SLOW>((resolve) => {
    timer = setTimeout(() => resolve(SLOW), ms);
  });
  return {
    slow,
    cancel: () => {
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

/** When the cache is asked: before the model, or only when the model fails (see the top). */
export type CacheOrder = "cache-first" | "model-first";

export interface EmbeddingCacheStats {
  /** Query vectors answered from the isolate or KV. */
  hits: number;
  /** Query vectors the model gave. */
  misses: number;
}

interface IsolateEntry {
  vector: Float32Array;
  /** Whether KV has (or is being sent) this embedding. */
  shared: boolean;
}

/** Isolate budget for query embeddings: about 1,300 of 768 dimensions. */
const ISOLATE_BYTES = 4 * 1024 * 1024;
/** Map and key overhead counted per entry besides the vector. */
const ENTRY_OVERHEAD_BYTES = 200;
let isolate: ByteLru<IsolateEntry> | undefined;
function isolateCache(): ByteLru<IsolateEntry> {
  if (!isolate) isolate = new ByteLru<IsolateEntry>(ISOLATE_BYTES);
  return isolate;
}

/** Forgets this isolate's query embeddings (tests). */
export function clearIsolateEmbeddings(): void {
  isolate?.clear();
}

export class CachingEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions: number;
  readonly maxInputTokens: number;
  readonly stats: EmbeddingCacheStats = { hits: 0, misses: 0 };
  /** Lifetime of a cached embedding, in KV and in the isolate: at least KV's minimum. */
  private readonly kvTtlSeconds: number;

  constructor(
    private readonly inner: Embedder,
    private readonly kv: KVNamespace,
    ttlSeconds: number,
    private readonly logger: Logger,
    /** Distinguishes settings that change vectors for the same model (pooling, query prefix). */
    private readonly variant = "default",
    /** Runs the cache write after the response (ctx.waitUntil); awaited when absent. */
    private readonly defer?: (work: Promise<unknown>) => void,
    /** How long a KV read may take before the model is asked as well. */
    private readonly kvWaitMs = DEFAULT_KV_WAIT_MS,
    private readonly order: CacheOrder = "cache-first",
    /** The namespace whose queries this cache holds; unset: one cache for every caller. */
    private readonly namespace?: string,
  ) {
    this.model = inner.model;
    this.dimensions = inner.dimensions;
    this.maxInputTokens = inner.maxInputTokens;
    this.kvTtlSeconds = Math.max(MIN_KV_TTL_SECONDS, ttlSeconds);
  }

  /** The same cache, holding only `namespace`'s query embeddings. */
  forNamespace(namespace: string): CachingEmbedder {
    return new CachingEmbedder(
      this.inner,
      this.kv,
      this.kvTtlSeconds,
      this.logger,
      this.variant,
      this.defer,
      this.kvWaitMs,
      this.order,
      namespace,
    );
  }

  async embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]> {
    // Documents are embedded once each at ingest: caching them would only fill KV.
    if (kind !== "query" || texts.length !== 1 || texts[0] === undefined)
      return this.inner.embed(texts, kind);
    const query = normalizeQuery(texts[0]);
    const key = await embeddingCacheKey(this.model, this.variant, query, this.namespace);
    const local = isolateCache().get(key);
    if (this.order === "model-first") return this.modelFirst(key, query, local);
    if (local) return [await this.fromIsolate(key, local)];
    const read = this.read(key);
    const wait = delay(this.kvWaitMs);
    const early = await Promise.race([read, wait.slow]);
    wait.cancel();
    if (early instanceof Float32Array) return [this.hit(key, early)];
    if (early === null) return this.compute(key, query);
    // KV is slow to answer (a key it has not cached here goes to its central stores, which is
    // what a new query's key always is): the model starts now, and whichever gives a vector
    // first answers. When the model fails, a vector KV still returns answers instead.
    type Outcome = { hit: Float32Array } | { vectors: Float32Array[] } | { error: unknown };
    const model: Promise<Outcome> = this.compute(key, query).then(
      (vectors) => ({ vectors }),
      (error: unknown) => ({ error }),
    );
    const fromKv = read.then((v): Outcome | Promise<Outcome> => (v ? { hit: v } : model));
    const first = await Promise.race([fromKv, model]);
    if ("hit" in first) return [this.hit(key, first.hit)];
    if ("vectors" in first) return first.vectors;
    const late = await read;
    if (late) return [this.hit(key, late)];
    throw first.error;
  }

  /** The model's vector; a cached one (isolate, then KV) only when the model fails. */
  private async modelFirst(
    key: string,
    query: string,
    local: IsolateEntry | undefined,
  ): Promise<Float32Array[]> {
    let vectors: Float32Array[];
    try {
      vectors = await this.compute(key, query);
    } catch (err) {
      if (local) return [await this.fromIsolate(key, local)];
      const stored = await this.read(key);
      if (stored) return [this.hit(key, stored)];
      throw err;
    }
    if (local) await this.shareOnce(key, local);
    return vectors;
  }

  /** A vector this isolate holds, as a copy: callers own what they get, and it must never change. */
  private async fromIsolate(key: string, local: IsolateEntry): Promise<Float32Array> {
    this.stats.hits++;
    await this.shareOnce(key, local);
    return local.vector.slice();
  }

  /** Sends a vector to KV the second time this isolate sees its query (see the top). */
  private async shareOnce(key: string, local: IsolateEntry): Promise<void> {
    if (local.shared) return;
    local.shared = true;
    await this.share(key, local.vector);
  }

  private hit(key: string, vector: Float32Array): Float32Array {
    this.stats.hits++;
    this.remember(key, vector, true);
    return vector;
  }

  /** The model's vector, remembered in the isolate; a miss is counted when the model answers. */
  private async compute(key: string, query: string): Promise<Float32Array[]> {
    const [vector] = await this.inner.embed([query], "query");
    this.stats.misses++;
    if (!vector) return [];
    this.remember(key, vector, false);
    return [vector];
  }

  private remember(key: string, vector: Float32Array, shared: boolean): void {
    // The model's answer after KV's (both were asked) must not mark a shared vector unshared.
    if (!shared && isolateCache().get(key)) return;
    const entry = { vector: vector.slice(), shared };
    isolateCache().set(key, entry, vector.byteLength + ENTRY_OVERHEAD_BYTES, this.kvTtlSeconds * 1000);
  }

  /** Sends the embedding to KV, after the response when the caller can defer work. */
  private async share(key: string, vector: Float32Array): Promise<void> {
    const write = this.write(key, vector);
    if (this.defer) this.defer(write);
    else await write;
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
      await this.kv.put(key, bytes, { expirationTtl: this.kvTtlSeconds });
    } catch (err) {
      // KV's one write per second per key (src/store/kv-limits.ts): another isolate shared this
      // query's vector in the same second, so KV has it. Expected with popular queries.
      if (err instanceof AppError && err.code === "rate_limited") {
        this.logger.debug("cache.write_skipped", { layer: "kv-embedding", error: errorMessage(err) });
        return;
      }
      this.logger.warn("cache.write_failed", { layer: "kv-embedding", error: errorMessage(err) });
    }
  }
}

/** `embedder` limited to one namespace's cached query embeddings, when it caches them. */
export function namespaceEmbedder(embedder: Embedder, namespace: string): Embedder {
  return embedder instanceof CachingEmbedder ? embedder.forNamespace(namespace) : embedder;
}
