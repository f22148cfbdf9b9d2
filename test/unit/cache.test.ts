// The cache building blocks: byte-bounded LRU, key normalization, the layered result cache and
// the KV query-embedding cache, including their failure paths.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cacheApiLabel, cacheApiLayer } from "../../src/cache/cache-api";
import { CachingEmbedder } from "../../src/cache/embedding-cache";
import { canonicalJson, embeddingCacheKey, normalizeQuery, resultCacheKey } from "../../src/cache/keys";
import { ByteLru } from "../../src/cache/lru";
import { type CachedAnswer, ResultCache } from "../../src/cache/result-cache";
import type { Embedder, EmbedKind } from "../../src/embed/embedder";
import { LocalEmbedder } from "../../src/embed/local";
import { createLogger } from "../../src/observe/logger";
import { kvWriteLimitErrors, strictKv } from "../../src/store/kv-limits";
import { brokenCache, brokenKv } from "../fakes/broken";

const quiet = createLogger("error");

describe("ByteLru", () => {
  it("evicts the least recently used entries when the byte budget is exceeded", () => {
    const lru = new ByteLru<string>(100);
    lru.set("a", "A", 40, 60_000);
    lru.set("b", "B", 40, 60_000);
    expect(lru.get("a")).toBe("A"); // a is now the most recently used
    lru.set("c", "C", 40, 60_000); // 120 bytes: b goes
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBe("A");
    expect(lru.get("c")).toBe("C");
    expect(lru.bytes).toBe(80);
  });

  it("refuses an entry larger than the whole budget and expires entries", () => {
    const lru = new ByteLru<string>(100);
    expect(lru.set("huge", "x", 101, 60_000)).toBe(false);
    expect(lru.size).toBe(0);
    lru.set("t", "T", 10, 1000, 0);
    expect(lru.get("t", 999)).toBe("T");
    expect(lru.get("t", 1000)).toBeUndefined();
    expect(lru.bytes).toBe(0);
  });

  it("also bounds the number of entries", () => {
    const lru = new ByteLru<number>(1_000_000, 3);
    for (let i = 0; i < 5; i++) lru.set(`k${i}`, i, 1, 60_000);
    expect(lru.size).toBe(3);
    expect(lru.get("k0")).toBeUndefined();
    expect(lru.get("k4")).toBe(4);
  });
});

describe("cache keys", () => {
  it("normalizes case, whitespace and Unicode forms", () => {
    expect(normalizeQuery("  Café\tLATTE \n")).toBe("café latte");
    // "e" + combining acute (NFD) and the precomposed "é" are one query; so are full-width letters.
    expect(normalizeQuery("Cafe\u0301")).toBe(normalizeQuery("Café"));
    expect(normalizeQuery("ＡＢＣ")).toBe("abc");
  });

  it("gives filters with keys in different orders one key, and different filters different keys", async () => {
    const base = { namespace: "ns", version: "v1", generation: 3 };
    const a = await resultCacheKey({
      ...base,
      request: { q: "x", filter: JSON.parse(canonicalJson({ a: 1, b: { $gte: 2, $lt: 5 } })) },
    });
    const b = await resultCacheKey({
      ...base,
      request: { filter: JSON.parse(canonicalJson({ b: { $lt: 5, $gte: 2 }, a: 1 })), q: "x" },
    });
    const c = await resultCacheKey({ ...base, request: { q: "x", filter: { a: 2 } } });
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it("scopes keys by namespace, version and generation", async () => {
    const request = { q: "x" };
    const k = (namespace: string, version: string, generation: number) =>
      resultCacheKey({ namespace, version, generation, request });
    const keys = new Set([
      await k("a", "v1", 1),
      await k("b", "v1", 1),
      await k("a", "v2", 1),
      await k("a", "v1", 2),
    ]);
    expect(keys.size).toBe(4);
  });
});

describe("ResultCache", () => {
  const answer: CachedAnswer = { body: '{"results":[]}' };

  it("misses, then hits in the isolate layer, then in the Cache API layer from a fresh isolate", async () => {
    const cache = await caches.open(`results-${Date.now()}`);
    const key = `k-${Math.random()}`;
    const cacheApi = cacheApiLayer("https://search.example.com/v1/namespaces/n/search", cache);
    const first = new ResultCache({ lru: new ByteLru(1 << 20), cacheApi, ttlMs: 60_000, logger: quiet });
    expect(await first.get(key)).toBeNull();
    await first.put(key, answer);
    expect((await first.get(key))?.layer).toBe("isolate");
    const otherIsolate = new ResultCache({
      lru: new ByteLru(1 << 20),
      cacheApi,
      ttlMs: 60_000,
      logger: quiet,
    });
    const hit = await otherIsolate.get(key);
    expect(hit?.layer).toBe("cache-api");
    expect(hit?.answer.body).toBe(answer.body);
  });

  it("treats a throwing Cache API as a miss, never an error", async () => {
    const broken = brokenCache();
    const cacheApi = cacheApiLayer("https://search.example.com/", broken);
    const rc = new ResultCache({ lru: new ByteLru(0), cacheApi, ttlMs: 60_000, logger: quiet });
    expect(await rc.get("k")).toBeNull();
    await expect(rc.put("k", answer)).resolves.toBeUndefined();
  });

  it("addresses Cache API entries on the request's own host and path", async () => {
    const seen: string[] = [];
    const recording = {
      match: async (req: RequestInfo) => {
        seen.push(String(req instanceof Request ? req.url : req));
        return undefined;
      },
      put: async (req: RequestInfo) => {
        seen.push(String(req instanceof Request ? req.url : req));
      },
    } as unknown as Cache;
    const cacheApi = cacheApiLayer("https://search.example.com/v1/namespaces/n/search", recording);
    const rc = new ResultCache({ lru: new ByteLru(0), cacheApi, ttlMs: 60_000, logger: quiet });
    await rc.put("r1/n/v1/0/abc", answer);
    await rc.get("r1/n/v1/0/abc");
    expect(seen).toHaveLength(2);
    for (const url of seen) {
      expect(new URL(url).host).toBe("search.example.com");
      expect(new URL(url).pathname).toBe("/v1/namespaces/n/search");
    }
  });
});

describe("cacheApiLayer", () => {
  it("is inactive on *.workers.dev, whatever the case or a trailing dot", () => {
    for (const url of [
      "https://edgesearch.acme.workers.dev/v1/x",
      "https://EDGESEARCH-STAGING.Acme.Workers.Dev/readyz",
      "http://edgesearch.acme.workers.dev./",
    ]) {
      const layer = cacheApiLayer(url, caches.default);
      expect(layer).toMatchObject({ state: "inactive", reason: "workers-dev" });
      expect(cacheApiLabel(layer)).toBe("inactive:workers-dev");
    }
  });

  it("is active on a custom domain, with entries under the request's URL", () => {
    const layer = cacheApiLayer("https://search.example.com/v1/x?y=1", caches.default);
    expect(layer).toMatchObject({ state: "active", base: "https://search.example.com/v1/x" });
    // A host that only contains the suffix is someone's own domain.
    expect(cacheApiLayer("https://workers.dev.example.com/", caches.default).state).toBe("active");
    expect(cacheApiLayer("https://notworkers.dev/", caches.default).state).toBe("active");
  });

  it("is inactive without a request or without the runtime's Cache API", () => {
    expect(cacheApiLayer(null, caches.default)).toMatchObject({ state: "inactive", reason: "no-request" });
    expect(cacheApiLayer("https://search.example.com/", null)).toMatchObject({
      state: "inactive",
      reason: "no-runtime",
    });
  });
});

class CountingEmbedder implements Embedder {
  readonly model = "@cf/baai/bge-small-en-v1.5";
  readonly dimensions = 384;
  readonly maxInputTokens = 512;
  calls: string[][] = [];
  private readonly inner = new LocalEmbedder({ model: this.model, dimensions: this.dimensions });
  embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]> {
    this.calls.push(texts);
    return this.inner.embed(texts, kind);
  }
}

/** The test KV namespace with its binary reads answered by `get` (to count or delay them). */
function kvWithGet(get: (key: string) => Promise<ArrayBuffer | null>): KVNamespace {
  return new Proxy(env.KV, {
    get(target, prop) {
      if (prop === "get") return (key: string) => get(key);
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The test KV namespace, with the keys of its binary reads listed in `reads`. */
function countingKv(): { kv: KVNamespace; reads: string[] } {
  const reads: string[] = [];
  const kv = kvWithGet((key) => {
    reads.push(key);
    return env.KV.get(key, "arrayBuffer");
  });
  return { kv, reads };
}

describe("CachingEmbedder", () => {
  it("skips the model on a repeated (normalized) query and stores compact binary vectors", async () => {
    const inner = new CountingEmbedder();
    const variant = `t${Date.now()}`;
    const embedder = new CachingEmbedder(inner, env.KV, 3600, quiet, variant);
    const [first] = await embedder.embed(["Sea  Otters"], "query");
    const [second] = await embedder.embed(["sea otters"], "query");
    expect(inner.calls).toHaveLength(1);
    expect(Array.from(second ?? [])).toEqual(Array.from(first ?? []));
    const key = await embeddingCacheKey(inner.model, variant, normalizeQuery("sea otters"));
    const raw = await env.KV.get(key, "arrayBuffer");
    expect(raw?.byteLength).toBe(384 * 4);
  });

  it("keeps a query seen once out of KV, and shares it from its second sighting", async () => {
    const inner = new CountingEmbedder();
    const variant = `s${Date.now()}`;
    const { kv, reads } = countingKv();
    const embedder = new CachingEmbedder(inner, kv, 3600, quiet, variant);
    const key = await embeddingCacheKey(inner.model, variant, normalizeQuery("kelp forests"));
    const [first] = await embedder.embed(["kelp forests"], "query");
    expect(await env.KV.get(key, "arrayBuffer")).toBeNull();
    const [second] = await embedder.embed(["Kelp  Forests"], "query");
    // The second sighting came from the isolate (no KV read, no model call) and went to KV.
    expect(reads).toEqual([key]);
    expect(inner.calls).toHaveLength(1);
    expect((await env.KV.get(key, "arrayBuffer"))?.byteLength).toBe(384 * 4);
    expect(Array.from(second ?? [])).toEqual(Array.from(first ?? []));
    // What a caller gets is its own: changing it does not change later answers.
    second?.fill(0);
    const [third] = await embedder.embed(["kelp forests"], "query");
    expect(Array.from(third ?? [])).toEqual(Array.from(first ?? []));
  });

  it("asks the model when KV is slow, and still answers from KV when the model fails", async () => {
    const variant = `w${Date.now()}`;
    const slowKv = (ms: number) =>
      kvWithGet(async (key) => {
        await new Promise((r) => setTimeout(r, ms));
        return env.KV.get(key, "arrayBuffer");
      });
    // A stored vector no model would give: where an answer came from is visible in it.
    const stored = new Float32Array(384).fill(0.5);
    const put = async (query: string) =>
      env.KV.put(
        await embeddingCacheKey("@cf/baai/bge-small-en-v1.5", variant, normalizeQuery(query)),
        stored.buffer,
      );

    // KV answers within the wait: the model is not asked.
    await put("tide pools");
    const patient = new CountingEmbedder();
    const [fromKv] = await new CachingEmbedder(
      patient,
      slowKv(0),
      3600,
      quiet,
      variant,
      undefined,
      200,
    ).embed(["tide pools"], "query");
    expect(patient.calls).toHaveLength(0);
    expect(fromKv?.[0]).toBe(0.5);

    // KV takes longer than the wait: the model answers first.
    await put("salt marsh");
    const eager = new CountingEmbedder();
    const [fromModel] = await new CachingEmbedder(
      eager,
      slowKv(300),
      3600,
      quiet,
      variant,
      undefined,
      5,
    ).embed(["salt marsh"], "query");
    expect(eager.calls).toHaveLength(1);
    expect(fromModel?.[0]).not.toBe(0.5);

    // KV is slow and the model fails: KV's vector answers.
    await put("mud flats");
    const failing = new CountingEmbedder();
    failing.embed = async () => {
      throw new Error("model unavailable");
    };
    const [fallback] = await new CachingEmbedder(
      failing,
      slowKv(50),
      3600,
      quiet,
      variant,
      undefined,
      5,
    ).embed(["mud flats"], "query");
    expect(fallback?.[0]).toBe(0.5);

    // Slow KV without the vector, and a failing model: the model's error.
    await expect(
      new CachingEmbedder(failing, slowKv(50), 3600, quiet, variant, undefined, 5).embed(
        ["sand dunes"],
        "query",
      ),
    ).rejects.toThrow("model unavailable");
  });

  it("model-first: asks the model without reading KV, and shares a query from its second sighting", async () => {
    const inner = new CountingEmbedder();
    const variant = `m${Date.now()}`;
    const { kv, reads } = countingKv();
    const embedder = new CachingEmbedder(inner, kv, 3600, quiet, variant, undefined, 10, "model-first");
    const key = await embeddingCacheKey(inner.model, variant, normalizeQuery("river deltas"));
    const [first] = await embedder.embed(["river deltas"], "query");
    const [second] = await embedder.embed(["River  Deltas"], "query");
    expect(inner.calls).toHaveLength(2);
    expect(reads).toEqual([]);
    expect(Array.from(second ?? [])).toEqual(Array.from(first ?? []));
    expect((await env.KV.get(key, "arrayBuffer"))?.byteLength).toBe(384 * 4);
    expect(embedder.stats).toEqual({ hits: 0, misses: 2 });
  });

  it("model-first: answers from the isolate, then from KV, when the model fails", async () => {
    const variant = `f${Date.now()}`;
    const failing = new CountingEmbedder();
    failing.embed = async () => {
      throw new Error("model unavailable");
    };
    const { kv, reads } = countingKv();
    const modelFirst = (inner: Embedder) =>
      new CachingEmbedder(inner, kv, 3600, quiet, variant, undefined, 10, "model-first");

    // Seen by this isolate while the model worked: the isolate's vector, no KV read.
    const [seen] = await modelFirst(new CountingEmbedder()).embed(["coral reefs"], "query");
    const fromIsolate = modelFirst(failing);
    const [again] = await fromIsolate.embed(["coral reefs"], "query");
    expect(Array.from(again ?? [])).toEqual(Array.from(seen ?? []));
    expect(reads).toEqual([]);
    expect(fromIsolate.stats).toEqual({ hits: 1, misses: 0 });

    // Only in KV: KV's vector (one no model would give).
    const key = await embeddingCacheKey(failing.model, variant, normalizeQuery("sea grass"));
    await env.KV.put(key, new Float32Array(384).fill(0.5).buffer);
    const [fromKv] = await modelFirst(failing).embed(["sea grass"], "query");
    expect(fromKv?.[0]).toBe(0.5);
    expect(reads).toEqual([key]);

    // Cached nowhere: the model's error.
    await expect(modelFirst(failing).embed(["open ocean"], "query")).rejects.toThrow("model unavailable");
  });

  it("does not cache document embeddings", async () => {
    const inner = new CountingEmbedder();
    const embedder = new CachingEmbedder(inner, env.KV, 3600, quiet, `d${Date.now()}`);
    await embedder.embed(["a passage"], "document");
    await embedder.embed(["a passage"], "document");
    expect(inner.calls).toHaveLength(2);
  });

  it("takes KV's per-key write limit (another isolate shared the vector) as done, not a failure", async () => {
    const inner = new CountingEmbedder();
    const lines: string[] = [];
    const logger = createLogger("warn", {}, (_level, line) => lines.push(line));
    const variant = `r${Date.now()}`;
    const kv = strictKv(env.KV);
    const embedder = new CachingEmbedder(inner, kvWriteLimitErrors(kv), 3600, logger, variant);
    const key = await embeddingCacheKey(inner.model, variant, normalizeQuery("tide pools"));
    const [first] = await embedder.embed(["tide pools"], "query");
    // Another isolate shares the vector first, in the same second.
    await kv.put(key, new Float32Array(first ?? []).buffer);
    // The second sighting's write is refused by KV: nothing is logged as a failure.
    const [second] = await embedder.embed(["tide pools"], "query");
    expect(Array.from(second ?? [])).toEqual(Array.from(first ?? []));
    expect(lines).toEqual([]);
  });

  it("still answers when KV throws", async () => {
    const inner = new CountingEmbedder();
    const broken = brokenKv();
    const embedder = new CachingEmbedder(inner, broken, 3600, quiet);
    const [v] = await embedder.embed(["otters"], "query");
    expect(v).toHaveLength(384);
    expect(inner.calls).toHaveLength(1);
  });
});
