// The local vector index object, through its client: the Vectorize contract (on one shard and on
// several), plus what only the local stand-in has (durable state across eviction, alarms, fixed
// dimensions, compact storage). Engine and shard specifics: local-index-engine and local-index-shards.

import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import { cosine, rejection, vectorIndexContract } from "./vector-index-contract";

const HOLD_MS = 60 * 60 * 1000;

function freshIndex() {
  const name = `test-${crypto.randomUUID()}`;
  return {
    client: new LocalVectorIndexClient(env.LOCAL_INDEX, name),
    stub: env.LOCAL_INDEX.get(env.LOCAL_INDEX.idFromName(name)),
  };
}

// The same contract with one object and with the vectors spread over three; and with rescoring
// reading float values from SQLite only (no memory for them), or from memory for the first few.
describe.each([
  { label: "1 shard", shards: 1 },
  { label: "3 shards", shards: 3 },
  { label: "1 shard, floats from SQLite", shards: 1, floatCacheBytes: 0 },
  { label: "1 shard, floats partly in memory", shards: 1, floatCacheBytes: 64 },
])("local vector index with $label: Vectorize contract", ({ shards, floatCacheBytes }) => {
  vectorIndexContract(async ({ dimensions, holdWrites }) => {
    const { client } = freshIndex();
    await client.configure({
      dimensions,
      metric: "cosine",
      shards,
      ...(holdWrites ? { applyDelayMs: HOLD_MS } : {}),
      ...(floatCacheBytes === undefined ? {} : { floatCacheBytes }),
    });
    return {
      index: client,
      settle: async () => {
        await client.flush();
      },
    };
  });
});

describe("local vector index float values in memory", () => {
  const DIMS = 16;
  const vector = (seed: number) => Array.from({ length: DIMS }, (_, i) => Math.sin(seed * 7.3 + i * 1.9));

  async function indexWith(floatCacheBytes: number | undefined) {
    const { client, stub } = freshIndex();
    await client.configure({
      dimensions: DIMS,
      metric: "cosine",
      ...(floatCacheBytes === undefined ? {} : { floatCacheBytes }),
    });
    await client.upsert(Array.from({ length: 60 }, (_, i) => ({ id: `v${i}`, values: vector(i) })));
    await client.flush();
    return { client, stub };
  }

  it("answers exactly the same whether rescoring reads floats from memory or SQLite, after updates and deletes", async () => {
    // All in memory (the default budget), the first 10 vectors' worth, none.
    const indexes = await Promise.all([indexWith(undefined), indexWith(10 * DIMS * 4), indexWith(0)]);
    const queries = [vector(3.5), vector(17.2), vector(40.9)];
    const answers = async () =>
      Promise.all(indexes.map(({ client }) => Promise.all(queries.map((q) => client.query(q, { topK: 8 })))));

    const before = await answers();
    expect(before[1]).toEqual(before[0]);
    expect(before[2]).toEqual(before[0]);
    const stats = await Promise.all(indexes.map(({ stub }) => stub.engineStats()));
    expect(stats.map((s) => (s.ok ? s.value.floatsCached : -1))).toEqual([60, 10, 0]);
    expect(stats.map((s) => (s.ok ? s.value.floatBytes : -1))).toEqual([60 * DIMS * 4, 10 * DIMS * 4, 0]);

    // Each query's best match gets new values; a cached float must not outlive its vector.
    const best = before[0]?.map((r) => r.matches[0]?.id ?? "") ?? [];
    for (const { client } of indexes) {
      await client.upsert(best.map((id, i) => ({ id, values: vector(100 + i) })));
      await client.deleteByIds(["v1", "v2"]);
      await client.flush();
    }
    const after = await answers();
    expect(after[1]).toEqual(after[0]);
    expect(after[2]).toEqual(after[0]);
    // Every match scores with its vector's current values: new ones for the replaced vectors.
    const current = (id: string) =>
      best.includes(id) ? vector(100 + best.indexOf(id)) : vector(Number(id.slice(1)));
    for (const [qi, q] of queries.entries()) {
      const matches = after[0]?.[qi]?.matches ?? [];
      expect(matches).toHaveLength(8);
      for (const m of matches) expect(m.score, m.id).toBeCloseTo(cosine(q, current(m.id)), 5);
      expect(matches.map((m) => m.id)).not.toContain("v1");
      expect(matches.map((m) => m.id)).not.toContain("v2");
    }
    // Searching for a replaced vector's new values finds it first, with a cosine of 1, everywhere.
    for (const [i, id] of best.entries()) {
      const found = await Promise.all(
        indexes.map(({ client }) => client.query(vector(100 + i), { topK: 1 })),
      );
      for (const answer of found) {
        expect(answer.matches[0]?.id).toBe(id);
        expect(answer.matches[0]?.score).toBeCloseTo(1, 5);
      }
    }
    const afterStats = await indexes[0]?.stub.engineStats();
    expect(afterStats).toMatchObject({ ok: true, value: { floatsCached: 58 } });
  });
});

describe("local vector index", () => {
  it("applies pending writes when its alarm fires, without a flush", async () => {
    const { client, stub } = freshIndex();
    await client.configure({ dimensions: 2, metric: "cosine", applyDelayMs: HOLD_MS });
    const { mutationId } = await client.upsert([{ id: "a", values: [1, 0] }]);
    expect((await client.describe()).vectorCount).toBe(0);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await client.describe()).toMatchObject({ vectorCount: 1, processedUpToMutation: mutationId });
  });

  it("applies writes by itself after the default delay", async () => {
    const { client } = freshIndex();
    const { mutationId } = await client.upsert([{ id: "a", values: [1, 0] }]);
    await expect
      .poll(async () => (await client.describe()).processedUpToMutation, { timeout: 5000, interval: 25 })
      .toBe(mutationId);
    expect((await client.query([1, 0])).matches.map((m) => m.id)).toEqual(["a"]);
  });

  it("flush applies writes in order and returns the last mutation id", async () => {
    const { client } = freshIndex();
    await client.configure({ dimensions: 2, metric: "cosine", applyDelayMs: HOLD_MS });
    expect(await client.flush()).toBeNull();
    await client.upsert([{ id: "a", values: [1, 0], metadata: { v: 1 } }]);
    await client.upsert([{ id: "a", values: [0, 1], metadata: { v: 2 } }]);
    await client.deleteByIds(["a"]);
    const last = await client.upsert([{ id: "a", values: [1, 1], metadata: { v: 3 } }]);
    expect(await client.flush()).toBe(last.mutationId);
    expect((await client.getByIds(["a"]))[0]?.metadata).toEqual({ v: 3 });
  });

  it("keeps vectors, settings and processed state when the object is evicted", async () => {
    const { client, stub } = freshIndex();
    await client.upsert([
      { id: "a", values: [1, 0, 0], namespace: "ns", metadata: { tag: "x" } },
      { id: "b", values: [0, 1, 0], namespace: "ns" },
    ]);
    const last = await client.flush();
    expect((await client.query([1, 0, 0], { namespace: "ns" })).matches.map((m) => m.id)).toEqual(["a", "b"]);

    await evictDurableObject(stub);

    expect(await client.describe()).toEqual({
      vectorCount: 2,
      dimensions: 3,
      processedUpToMutation: last,
      processedUpToDatetime: expect.any(Number),
    });
    const { matches } = await client.query([1, 0, 0], {
      namespace: "ns",
      filter: { tag: "x" },
      returnMetadata: "all",
    });
    expect(matches).toEqual([
      { id: "a", score: expect.closeTo(1, 6), namespace: "ns", metadata: { tag: "x" } },
    ]);
    await expect(client.upsert([{ id: "c", values: [1, 0] }])).rejects.toMatchObject({ code: "bad_request" });
  });

  it("keeps pending writes across eviction and applies them afterwards", async () => {
    const { client, stub } = freshIndex();
    await client.configure({ dimensions: 2, metric: "cosine", applyDelayMs: HOLD_MS });
    const { mutationId } = await client.upsert([{ id: "a", values: [1, 0] }]);
    await evictDurableObject(stub);
    expect((await client.describe()).vectorCount).toBe(0);
    expect(await client.flush()).toBe(mutationId);
    expect((await client.getByIds(["a"])).map((v) => v.id)).toEqual(["a"]);
  });

  it("takes its dimensions from the first upsert and rejects others, even while it is pending", async () => {
    const { client } = freshIndex();
    expect((await client.describe()).dimensions).toBe(0);
    await client.upsert([{ id: "a", values: [1, 2, 3] }]);
    expect((await client.describe()).dimensions).toBe(3);
    const err = await rejection(client.upsert([{ id: "b", values: [1, 2] }]));
    expect(err).toMatchObject({ code: "bad_request", field: "vectors[0].values", retryable: false });
    expect(err.message).toBe("invalid vector: expected 3 dimensions, and got 2 dimensions");
    await expect(client.query([1, 2])).rejects.toMatchObject({ code: "bad_request", field: "vector" });
  });

  it("rejects vectors of mixed lengths in one batch before fixing dimensions", async () => {
    const { client } = freshIndex();
    const err = await rejection(
      client.upsert([
        { id: "a", values: [1, 2, 3] },
        { id: "b", values: [1, 2] },
      ]),
    );
    expect(err).toMatchObject({ code: "bad_request", field: "vectors[1].values" });
    expect((await client.describe()).dimensions).toBe(0);
  });

  it("refuses to change the dimensions of a configured index", async () => {
    const { client } = freshIndex();
    await client.configure({ dimensions: 4, metric: "cosine" });
    await expect(client.configure({ dimensions: 4, metric: "cosine" })).resolves.toMatchObject({
      dimensions: 4,
    });
    const err = await rejection(client.configure({ dimensions: 8, metric: "cosine" }));
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: "conflict", retryable: false });
  });

  it("answers errors from the object as AppErrors with their code, field and message", async () => {
    const { stub, client } = freshIndex();
    await client.configure({ dimensions: 2, metric: "cosine" });
    // Straight to the object, past the client's own checks: the object is the authority.
    const reply = await runInDurableObject(stub, (instance) =>
      instance.upsert([{ id: "x".repeat(65), values: Float32Array.from([1, 0]) }]),
    );
    expect(reply).toEqual({
      ok: false,
      error: {
        code: "bad_request",
        message: "vector id too long: max is 64 bytes, got 65 bytes",
        retryable: false,
        field: "vectors[0].id",
      },
    });
  });

  it.each([
    ["a reply without ids", { count: 1, scores: Float64Array.of(1), namespaces: [""] }],
    ["a match without a score", { count: 1, ids: ["a"], scores: new Float64Array(0), namespaces: [""] }],
    ["scores as a list", { count: 1, ids: ["a"], scores: [1], namespaces: [""] }],
    ["a negative count", { count: -1, ids: [], scores: new Float64Array(0), namespaces: [] }],
    ["a count that is not the ids'", { count: 2, ids: ["a"], scores: Float64Array.of(1), namespaces: [""] }],
    [
      "values that are not numbers",
      { count: 1, ids: ["a"], scores: Float64Array.of(1), namespaces: [""], values: [["1"]] },
    ],
    [
      "metadata holding an object",
      { count: 1, ids: ["a"], scores: Float64Array.of(1), namespaces: [""], metadata: [{ k: {} }] },
    ],
  ])("refuses %s from the object as a non-retryable upstream failure", async (_, value) => {
    // An object namespace whose one shard answers `value` to a query.
    const stub = {
      layout: async () => ({ ok: true, value: { shards: 1, fixed: true } }),
      query: async () => ({ ok: true, value }),
    };
    const objects = { idFromName: (name: string) => name, get: () => stub };
    const client = new LocalVectorIndexClient(
      objects as unknown as typeof env.LOCAL_INDEX,
      `reply-${crypto.randomUUID()}`,
    );
    const err = await rejection(client.query([1, 0]));
    expect(err).toMatchObject({ code: "upstream_failed", retryable: false });
    expect(err.message).toContain("unexpected reply");
  });

  it("returns a reply's values as numbers and its metadata as sent", async () => {
    const { client } = freshIndex();
    await client.upsert([{ id: "a", values: [0.5, -1], metadata: { tag: "x", n: 2, ok: true } }]);
    await client.flush();
    const { matches } = await client.query([0.5, -1], { returnValues: true, returnMetadata: "all" });
    expect(matches).toEqual([
      { id: "a", score: expect.closeTo(1, 6), values: [0.5, -1], metadata: { tag: "x", n: 2, ok: true } },
    ]);
    expect(Array.isArray(matches[0]?.values)).toBe(true);
  });

  it("stores each vector as a float32 blob with JSON metadata", async () => {
    const { client, stub } = freshIndex();
    await client.upsert([{ id: "a", values: [0.5, -1, 2, 0.25], namespace: "ns", metadata: { k: "v" } }]);
    await client.flush();
    const row = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql
        .exec<{ namespace: string; vals: ArrayBuffer; metadata: string }>(
          "SELECT namespace, vals, metadata FROM vectors WHERE id = 'a'",
        )
        .one(),
    );
    expect(row.vals.byteLength).toBe(16);
    expect(Array.from(new Float32Array(row.vals))).toEqual([0.5, -1, 2, 0.25]);
    expect(row.namespace).toBe("ns");
    expect(JSON.parse(row.metadata)).toEqual({ k: "v" });
  });

  it("searches a larger namespace exactly, again after eviction", async () => {
    const { client, stub } = freshIndex();
    const dims = 64;
    const values = (i: number) => Array.from({ length: dims }, (_, d) => Math.sin(i * 0.37 + d * 1.3));
    for (let start = 0; start < 3000; start += 1000) {
      await client.upsert(
        Array.from({ length: 1000 }, (_, k) => ({
          id: `v${start + k}`,
          values: values(start + k),
          namespace: "big",
        })),
      );
    }
    await client.flush();
    const target = 1234;
    const before = await client.query(values(target), { namespace: "big", topK: 3 });
    expect(before.matches[0]).toMatchObject({ id: `v${target}`, score: expect.closeTo(1, 5) });
    await evictDurableObject(stub);
    const after = await client.query(values(target), { namespace: "big", topK: 3 });
    expect(after).toEqual(before);
    expect((await client.describe()).vectorCount).toBe(3000);

    // Deletes spread over several storage blocks, then the exact top 5 of what remains.
    const deleted = [target, 0, 511, 512, 1023, 2999].map((i) => `v${i}`);
    await client.deleteByIds(deleted);
    await client.flush();
    const expected = Array.from({ length: 3000 }, (_, i) => ({
      id: `v${i}`,
      score: cosine(values(target), values(i)),
    }))
      .filter((e) => !deleted.includes(e.id))
      .sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : 1))
      .slice(0, 5);
    const remaining = await client.query(values(target), { namespace: "big", topK: 5 });
    expect(remaining.matches.map((m) => m.id)).toEqual(expected.map((e) => e.id));
    remaining.matches.forEach((m, i) => {
      expect(m.score).toBeCloseTo(expected[i]?.score ?? Number.NaN, 5);
    });
  });
});
