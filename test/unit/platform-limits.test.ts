// Platform limits our code can only reach through what it writes: each test either drives the
// local binding to show it refuses what Cloudflare refuses, or builds the largest thing our code
// can produce and holds it to the limit (docs/platform-limits.md).
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { formatGeneration, generationKey } from "../../src/cache/generation";
import { embeddingCacheKey } from "../../src/cache/keys";
import { loadConfig } from "../../src/config";
import { EMBEDDING_MODELS } from "../../src/embed/embedder";
import { backoffSeconds, QUEUE_MAX_DELAY_SECONDS } from "../../src/ingest/pipeline";
import { byteLength, NamespaceSchema } from "../../src/validation";
import { pointerKey } from "../../src/versions/pointer";
import { GoldenQueriesBody, MAX_GOLDEN_QUERIES } from "../../workers/api/routes/versions";
import { MAX_QUERY_CHARS } from "../../workers/api/schemas";

// Workers KV: "Key size 512 bytes", "Value size 25 MiB", "Metadata size 1024 bytes",
// expirationTtl "at least 60 seconds" (https://developers.cloudflare.com/kv/platform/limits/,
// https://developers.cloudflare.com/kv/api/write-key-value-pairs/).
const KV_MAX_KEY_BYTES = 512;
const KV_MAX_VALUE_BYTES = 25 * 1024 * 1024;
const KV_MIN_TTL_SECONDS = 60;
// SQLite-backed Durable Objects: "Maximum string, BLOB or table row size 2 MB"
// (https://developers.cloudflare.com/durable-objects/platform/limits/).
const DO_MAX_ROW_BYTES = 2_000_000;
// "Storage per Durable Object 10 GB"; 5 GB per account on Workers Free (same page).
const DO_MAX_STORAGE_BYTES_FREE = 5_000_000_000;

const longestNamespace = "n".repeat(63);
const longestModel = Object.keys(EMBEDDING_MODELS).reduce((a, b) => (byteLength(b) > byteLength(a) ? b : a));

describe("Workers KV", () => {
  it("refuses, locally as on Cloudflare, a long key, a large value, large metadata and a short TTL", async () => {
    const kv = env.KV;
    await expect(kv.put("k".repeat(KV_MAX_KEY_BYTES + 1), "v")).rejects.toThrow(
      "UTF-8 encoded length of 513 exceeds key length limit of 512",
    );
    await expect(kv.put("v", new Uint8Array(KV_MAX_VALUE_BYTES + 1))).rejects.toThrow(
      "Value length of 26214401 exceeds limit of 26214400",
    );
    await expect(kv.put("m", "v", { metadata: { m: "x".repeat(1024) } })).rejects.toThrow(
      "exceeds limit of 1024",
    );
    await expect(kv.put("t", "v", { expirationTtl: KV_MIN_TTL_SECONDS - 1 })).rejects.toThrow(
      "Expiration TTL must be at least 60",
    );
    await kv.put("k".repeat(KV_MAX_KEY_BYTES), "v", { expirationTtl: KV_MIN_TTL_SECONDS });
  });

  it("writes no key longer than 512 bytes: the longest namespace and model in every key builder", async () => {
    // 63 characters is the longest namespace the API accepts.
    expect(NamespaceSchema.safeParse(longestNamespace).success).toBe(true);
    expect(NamespaceSchema.safeParse(`${longestNamespace}n`).success).toBe(false);
    const longQuery = "q".repeat(MAX_QUERY_CHARS);
    const keys = [
      generationKey(longestNamespace),
      pointerKey(longestNamespace),
      await embeddingCacheKey(longestModel, "mean:".padEnd(1000, "x"), longQuery),
      await embeddingCacheKey(longestModel, "mean:".padEnd(1000, "x"), longQuery, longestNamespace),
    ];
    const longest = Math.max(...keys.map(byteLength));
    expect(longest).toBeLessThanOrEqual(KV_MAX_KEY_BYTES);
    // What the figure is: emb2/<63>/<model>/<43-character SHA-256>, about a fifth of the limit.
    expect(longest).toBe(5 + 63 + 1 + byteLength(longestModel) + 1 + 43);
  });

  it("writes no value over 25 MiB: a query embedding of the widest model is its float32 bytes", () => {
    const widest = Math.max(...Object.values(EMBEDDING_MODELS).map((m) => m.dimensions));
    const embeddingBytes = new Float32Array(widest).buffer.byteLength;
    expect(embeddingBytes).toBe(widest * 4);
    expect(embeddingBytes).toBeLessThanOrEqual(KV_MAX_VALUE_BYTES);
    // The generation value: two integers.
    const generation = formatGeneration({
      generation: Number.MAX_SAFE_INTEGER,
      writtenAt: Number.MAX_SAFE_INTEGER,
    });
    expect(byteLength(generation)).toBeLessThan(64);
  });

  it("refuses an embedding cache TTL under KV's 60 s minimum in the config", () => {
    expect(() => loadConfig({ EMBEDDING_CACHE_TTL_SECONDS: String(KV_MIN_TTL_SECONDS - 1) })).toThrow(
      /EMBEDDING_CACHE_TTL_SECONDS/,
    );
    expect(
      loadConfig({ EMBEDDING_CACHE_TTL_SECONDS: String(KV_MIN_TTL_SECONDS) }).embeddingCacheTtlSeconds,
    ).toBe(KV_MIN_TTL_SECONDS);
  });
});

describe("Queues delaySeconds", () => {
  it("never asks for a retry delay over 12 hours, whatever the attempt count or cap", () => {
    expect(QUEUE_MAX_DELAY_SECONDS).toBe(12 * 60 * 60);
    const always = () => 1;
    // max_retries is at most 100 (configLimitProblems); the default cap is 300 s.
    expect(backoffSeconds(100, 2, 300, always)).toBe(300);
    expect(backoffSeconds(10_000, 2, 300, always)).toBe(300);
    // A cap asked for above Queues' limit is held to it.
    expect(backoffSeconds(100, 2, 1_000_000, always)).toBe(QUEUE_MAX_DELAY_SECONDS);
    expect(backoffSeconds(100, 2, Number.POSITIVE_INFINITY, always)).toBe(QUEUE_MAX_DELAY_SECONDS);
  });
});

describe("Durable Object SQLite", () => {
  it("refuses, locally as on Cloudflare, a 101st bound parameter and a statement over 100 KB", async () => {
    const stub = env.SHARD_MAP.get(env.SHARD_MAP.idFromName(`limits-${crypto.randomUUID()}`));
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const params = (n: number) =>
        [`SELECT ${Array(n).fill("?").join(",")}`, ...Array<number>(n).fill(1)] as const;
      expect(() => sql.exec(...params(101))).toThrow("too many SQL variables");
      expect(sql.exec(...params(100)).toArray()).toHaveLength(1);
      expect(() => sql.exec(`SELECT '${"x".repeat(100_000)}'`)).toThrow("statement too long: SQLITE_TOOBIG");
    });
  });

  it("keeps one alarm per coordinator, at the earliest time any pending work needs", async () => {
    // "Each Durable Object is able to schedule a single alarm at a time by calling setAlarm()"
    // (https://developers.cloudflare.com/durable-objects/api/alarms/): a later setAlarm replaces it.
    const stub = env.COORDINATOR.get(env.COORDINATOR.idFromName(`limits-${crypto.randomUUID()}`));
    await runInDurableObject(stub, async (instance, state) => {
      const schedule = () => (instance as unknown as { scheduleAlarm(): Promise<void> }).scheduleAlarm();
      const now = Date.now();
      // A generation publish is pending (due within 5 s) while the alarm is set a day out: the
      // alarm moves earlier, or the publish would wait a day.
      await state.storage.setAlarm(now + 86_400_000);
      state.storage.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('generationPending', '1')");
      await schedule();
      const moved = await state.storage.getAlarm();
      expect(moved).toBeGreaterThan(now);
      expect(moved).toBeLessThanOrEqual(Date.now() + 5000);
      // An earlier alarm is kept: the later time would replace it.
      const earlier = Date.now() + 1000;
      await state.storage.setAlarm(earlier);
      await schedule();
      expect(await state.storage.getAlarm()).toBe(earlier);
    });
  });

  it("stores the largest golden query set the API accepts in rows under 2 MB each, far under 10 GB", () => {
    // The widest UTF-8 a query can take (3 bytes per UTF-16 unit) and ids whose every byte JSON
    // escapes ('"'), 512 bytes each: the coordinator stores one row per query (query, JSON ids).
    const query = "€".repeat(MAX_QUERY_CHARS);
    const relevant = Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(512, '"'));
    const body = { queries: Array.from({ length: MAX_GOLDEN_QUERIES }, () => ({ query, relevant })) };
    expect(GoldenQueriesBody.safeParse(body).success).toBe(true);
    // One more id, or a longer query, is refused: these are the largest rows.
    expect(GoldenQueriesBody.safeParse({ queries: [{ query, relevant: [...relevant, "x"] }] }).success).toBe(
      false,
    );
    expect(GoldenQueriesBody.safeParse({ queries: [{ query: `${query}€`, relevant }] }).success).toBe(false);
    const rowBytes = byteLength(query) + byteLength(JSON.stringify(relevant));
    expect(rowBytes).toBeLessThanOrEqual(DO_MAX_ROW_BYTES);
    // The whole set, the largest thing a coordinator stores, against an object's 10 GB (5 GB per
    // account on Free): about 55 MB.
    expect(rowBytes * MAX_GOLDEN_QUERIES).toBeLessThan(DO_MAX_STORAGE_BYTES_FREE / 10);
  });
});
