// The metered bindings count what Cloudflare bills and answer exactly as the bindings they wrap.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CachingEmbedder } from "../../src/cache/embedding-cache";
import { embeddingCacheKey, normalizeQuery } from "../../src/cache/keys";
import { LocalEmbedder } from "../../src/embed/local";
import { createLogger } from "../../src/observe/logger";
import { Meter } from "../../src/observe/meter";
import { meteredKv, meteredQueue, queueChunks } from "../../src/observe/metered";
import { embeddingTokens, meteredEmbedder, meteredReranker } from "../../src/observe/metered-adapters";
import { meteredD1 } from "../../src/observe/metered-d1";

const MODEL = "@cf/baai/bge-base-en-v1.5";

describe("meteredD1", () => {
  it("counts queries with the rows they read and wrote, a batch per statement", async () => {
    const meter = new Meter();
    const db = meteredD1(env.DB, meter);
    await db.prepare("CREATE TABLE IF NOT EXISTS metered_probe (id INTEGER PRIMARY KEY, v TEXT)").run();
    const insert = db.prepare("INSERT INTO metered_probe (v) VALUES (?1)");
    const before = meter.total();
    await db.batch([insert.bind("a"), insert.bind("b"), insert.bind("c")]);
    const afterBatch = meter.total();
    expect(afterBatch.d1Queries - before.d1Queries).toBe(3);
    expect(afterBatch.d1RowsWritten - before.d1RowsWritten).toBeGreaterThanOrEqual(3);
    const { results } = await db.prepare("SELECT v FROM metered_probe").all();
    expect(meter.total().d1Queries - afterBatch.d1Queries).toBe(1);
    expect(meter.total().d1RowsRead - afterBatch.d1RowsRead).toBeGreaterThanOrEqual(results.length);
  });

  it("answers first() as D1 does, and counts it", async () => {
    const meter = new Meter();
    const db = meteredD1(env.DB, meter);
    const one = "SELECT 1 AS n";
    expect(await db.prepare(one).first()).toEqual(await env.DB.prepare(one).first());
    expect(await db.prepare(one).first("n")).toBe(1);
    expect(await db.prepare("SELECT 1 AS n WHERE 0").first("n")).toBeNull();
    await expect(env.DB.prepare(one).first("missing")).rejects.toThrow(/D1_COLUMN_NOTFOUND/);
    await expect(db.prepare(one).first("missing")).rejects.toThrow(/D1_COLUMN_NOTFOUND/);
    expect(meter.total().d1Queries).toBe(4);
  });

  it("counts the queries of a session it opens", async () => {
    const meter = new Meter();
    const session = meteredD1(env.DB, meter).withSession("first-unconstrained");
    await session.prepare("SELECT 1").all();
    expect(meter.total().d1Queries).toBe(1);
  });
});

describe("embedding cache and KV", () => {
  const logger = createLogger("error", {});
  const build = (meter: Meter, variant: string) =>
    new CachingEmbedder(
      meteredEmbedder(new LocalEmbedder({ model: MODEL, dimensions: 768, maxInputTokens: 512 }), meter),
      meteredKv(env.KV, meter),
      3600,
      logger,
      variant,
      undefined,
      60_000,
      "cache-first",
    );

  it("a miss reads KV once and calls the model; a KV hit reads KV once and calls no model", async () => {
    const variant = `metered-${crypto.randomUUID()}`;
    const missMeter = new Meter();
    await build(missMeter, variant).embed(["arctic tern migration"], "query");
    expect(missMeter.total()).toMatchObject({ kvReads: 1, kvWrites: 0, aiCalls: 1 });
    expect(missMeter.total().aiInputTokens).toBe(embeddingTokens(["arctic tern migration"], 512));

    const query = "snowy owl hunting";
    const key = await embeddingCacheKey(MODEL, variant, normalizeQuery(query));
    await env.KV.put(key, new Float32Array(768).fill(1 / Math.sqrt(768)).buffer);
    const hitMeter = new Meter();
    await build(hitMeter, variant).embed([query], "query");
    expect(hitMeter.total()).toMatchObject({ kvReads: 1, aiCalls: 0, aiInputTokens: 0 });
  });
});

describe("meteredKv and meteredQueue", () => {
  it("counts a bulk get per key, and a message per 64 KB chunk", async () => {
    const meter = new Meter();
    await meteredKv(env.KV, meter).get(["a", "b", "c"]);
    expect(meter.total().kvReads).toBe(3);
    expect(queueChunks({ small: true })).toBe(1);
    expect(queueChunks("x".repeat(100_000), "text")).toBe(2);
    const sent: unknown[] = [];
    const queue = { send: async (b: unknown) => void sent.push(b), sendBatch: async () => undefined };
    await meteredQueue(queue as unknown as Queue, meter).send({ n: 1 });
    expect(meter.total().queueOperations).toBe(1);
    expect(sent).toEqual([{ n: 1 }]);
  });
});

describe("meteredReranker", () => {
  it("counts one AI call per rerank and the tokens of each (query, passage) pair", async () => {
    const meter = new Meter();
    const inner = {
      model: "@cf/baai/bge-reranker-base",
      rerank: async (_q: string, t: string[]) => t.map(() => 0),
    };
    const scores = await meteredReranker(inner, meter).rerank("sea ice", ["walrus", "puffin burrows"]);
    expect(scores).toEqual([0, 0]);
    // [CLS] sea ice [SEP] walrus [SEP] and [CLS] sea ice [SEP] puffin burrows [SEP]: WordPiece may
    // split a word, so at least 6 and 7 tokens.
    expect(meter.total().aiCalls).toBe(1);
    expect(meter.total().aiInputTokens).toBeGreaterThanOrEqual(13);
  });
});

describe("Meter scopes", () => {
  it("keeps documents processed side by side apart, and sums them", async () => {
    const meter = new Meter();
    const work = (n: number) =>
      meter.scope(async () => {
        for (let i = 0; i < n; i++) {
          await new Promise((r) => setTimeout(r, 1));
          meter.add("aiCalls");
        }
        return meter.scoped()?.aiCalls;
      });
    expect(await Promise.all([work(2), work(5)])).toEqual([2, 5]);
    expect(meter.total().aiCalls).toBe(7);
    expect(meter.scoped()).toBeUndefined();
  });
});
