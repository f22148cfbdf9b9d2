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

export class ResultCache {
  constructor(private readonly opts: ResultCacheOptions) {}

  async get(key: string): Promise<{ answer: CachedAnswer; layer: CacheLayer } | null> {
    const local = this.opts.lru.get(key);
    if (local) return { answer: local, layer: "isolate" };
    const layer = this.opts.cacheApi;
    if (layer.state !== "active") return null;
    try {
      const res = await layer.cache.match(url(layer.base, key));
      if (!res) return null;
      const answer = { body: await res.text() };
      this.remember(key, answer);
      return { answer, layer: "cache-api" };
    } catch (err) {
      this.opts.logger.warn("cache.read_failed", { layer: "cache-api", error: errorMessage(err) });
      return null;
    }
  }

  /** Stores in every layer; returns the promise of the slow layer's write (for waitUntil). */
  put(key: string, answer: CachedAnswer): Promise<void> {
    this.remember(key, answer);
    const layer = this.opts.cacheApi;
    if (layer.state !== "active") return Promise.resolve();
    const seconds = Math.max(1, Math.floor(this.opts.ttlMs / 1000));
    const response = new Response(answer.body, {
      headers: { "content-type": "application/json", "cache-control": `public, max-age=${seconds}` },
    });
    return layer.cache.put(url(layer.base, key), response).catch((err: unknown) => {
      this.opts.logger.warn("cache.write_failed", { layer: "cache-api", error: errorMessage(err) });
    });
  }

  private remember(key: string, answer: CachedAnswer): void {
    this.opts.lru.set(key, answer, answer.body.length * 2 + key.length * 2 + 64, this.opts.ttlMs);
  }
}

function url(base: string, key: string): string {
  return `${base}?${KEY_PARAM}=${encodeURIComponent(key)}`;
}
