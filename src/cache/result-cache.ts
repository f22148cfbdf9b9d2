// The layered result cache: the isolate LRU (always works, fastest), then the Cache API (per
// location; skipped where it is inactive, see cache-api.ts). A failing layer is a miss, logged,
// never an error: caching must not be able to fail a search.
import { errorMessage } from "../errors";
import type { Logger } from "../observe/logger";
import type { CacheApiLayer } from "./cache-api";
import type { ByteLru } from "./lru";

export type CacheLayer = "isolate" | "cache-api";

export interface CachedAnswer {
  /** The serialized answer body. */
  body: string;
  /**
   * The earliest expiry (epoch ms) among the answer's documents: the entry lives no longer, and a
   * hit at or after it is a miss, in every layer.
   */
  expiresAt?: number;
}

export interface ResultCacheOptions {
  lru: ByteLru<CachedAnswer>;
  /** The Cache API layer; an inactive one is never put to or matched. */
  cacheApi: CacheApiLayer;
  ttlMs: number;
  logger: Logger;
}

// Cache API entries are addressed by URL: the request's own (cache-api.ts), with the key here.
const KEY_PARAM = "result-cache";
// Carries CachedAnswer.expiresAt through the Cache API layer.
const EXPIRES_HEADER = "x-edgesearch-expires-at";

export class ResultCache {
  constructor(private readonly opts: ResultCacheOptions) {}

  async get(key: string): Promise<{ answer: CachedAnswer; layer: CacheLayer } | null> {
    const local = this.opts.lru.get(key);
    if (local && this.lifetimeMs(local) > 0) return { answer: local, layer: "isolate" };
    const layer = this.opts.cacheApi;
    if (layer.state !== "active") return null;
    try {
      const res = await layer.cache.match(url(layer.base, key));
      if (!res) return null;
      const expires = Number(res.headers.get(EXPIRES_HEADER) ?? Number.NaN);
      const answer: CachedAnswer = {
        body: await res.text(),
        ...(Number.isFinite(expires) ? { expiresAt: expires } : {}),
      };
      if (this.lifetimeMs(answer) <= 0) return null;
      this.remember(key, answer);
      return { answer, layer: "cache-api" };
    } catch (err) {
      this.opts.logger.warn("cache.read_failed", { layer: "cache-api", error: errorMessage(err) });
      return null;
    }
  }

  /** Stores in every layer; returns the promise of the slow layer's write (for waitUntil). */
  put(key: string, answer: CachedAnswer): Promise<void> {
    const lifetime = this.lifetimeMs(answer);
    if (lifetime <= 0) return Promise.resolve();
    this.remember(key, answer);
    const layer = this.opts.cacheApi;
    // max-age is whole seconds: rounded down, so an entry never outlives a document's expiry.
    const seconds = Math.floor(lifetime / 1000);
    if (layer.state !== "active" || seconds < 1) return Promise.resolve();
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "cache-control": `public, max-age=${seconds}`,
    };
    if (answer.expiresAt !== undefined) headers[EXPIRES_HEADER] = String(answer.expiresAt);
    const response = new Response(answer.body, { headers });
    return layer.cache.put(url(layer.base, key), response).catch((err: unknown) => {
      this.opts.logger.warn("cache.write_failed", { layer: "cache-api", error: errorMessage(err) });
    });
  }

  private remember(key: string, answer: CachedAnswer): void {
    this.opts.lru.set(key, answer, answer.body.length * 2 + key.length * 2 + 64, this.lifetimeMs(answer));
  }

  /** How long the answer may be served from now: the TTL, cut at its documents' earliest expiry. */
  private lifetimeMs(answer: CachedAnswer): number {
    if (answer.expiresAt === undefined) return this.opts.ttlMs;
    return Math.min(this.opts.ttlMs, answer.expiresAt - Date.now());
  }
}

function url(base: string, key: string): string {
  return `${base}?${KEY_PARAM}=${encodeURIComponent(key)}`;
}
