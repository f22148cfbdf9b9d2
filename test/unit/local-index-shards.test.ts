// A local index spread over several objects: the same answers as one object, vectors really spread,
// describe()/flush() that only report a mutation once every shard shows it, the shard count fixed by
// the first write, and fresh object instances (after eviction) rebuilding the same answers from SQLite.

import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../scripts/lib/random.ts";
import { shardName, shardOf } from "../../src/vectors/engine/shards";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import { deleteVectors, getVectors } from "../../src/vectors/paging";
import type { VectorRecord } from "../../src/vectors/vector-index";
import { rejection } from "./vector-index-contract";

const HOLD_MS = 60 * 60 * 1000;
const DIMS = 32;
const SHARDS = 4;

function stubOf(name: string, shard: number) {
  return env.LOCAL_INDEX.get(env.LOCAL_INDEX.idFromName(shardName(name, shard)));
}

async function fresh(shards: number, applyDelayMs?: number) {
  const name = `shards-${crypto.randomUUID()}`;
  const client = new LocalVectorIndexClient(env.LOCAL_INDEX, name);
  await client.configure({
    dimensions: DIMS,
    metric: "cosine",
    shards,
    ...(applyDelayMs === undefined ? {} : { applyDelayMs }),
  });
  return { name, client };
}

function records(count: number, seed: number): VectorRecord[] {
  const next = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => ({
    id: `doc-${i}`,
    values: Array.from({ length: DIMS }, () => next() * 2 - 1),
    namespace: i % 4 === 0 ? "odd" : "main",
    metadata: { n: i, tag: i % 3 === 0 ? "a" : "b" },
  }));
}

async function shardCounts(name: string, shards: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: shards }, async (_, n) => {
      const reply = await stubOf(name, n).describe();
      if (!reply.ok) throw new Error(reply.error.message);
      return reply.value.vectorCount;
    }),
  );
}

describe("sharded local index", () => {
  it("routes ids by a stable hash", () => {
    expect(shardOf("doc-1", 1)).toBe(0);
    const spread = new Set(Array.from({ length: 200 }, (_, i) => shardOf(`doc-${i}`, SHARDS)));
    expect([...spread].sort()).toEqual([0, 1, 2, 3]);
    expect(shardOf("doc-17", SHARDS)).toBe(shardOf("doc-17", SHARDS));
    expect(shardName("idx", 0)).toBe("idx");
    expect(shardName("idx", 2)).toBe("idx#2");
  });

  it("spreads vectors over its objects and answers exactly as a single object does", async () => {
    const data = records(400, 5);
    const single = await fresh(1);
    const sharded = await fresh(SHARDS);
    for (const { client } of [single, sharded]) {
      await client.upsert(data.slice(0, 200));
      await client.upsert(data.slice(200));
      await client.flush();
    }
    const counts = await shardCounts(sharded.name, SHARDS);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(400);
    expect(counts.every((c) => c > 50)).toBe(true);
    expect((await sharded.client.describe()).vectorCount).toBe(400);

    const next = seededRandom(6);
    const queries = Array.from({ length: 4 }, () => Array.from({ length: DIMS }, () => next() * 2 - 1));
    const options = [
      { topK: 10 },
      { topK: 20, returnValues: true, returnMetadata: "all" as const },
      { topK: 7, namespace: "odd", returnMetadata: "indexed" as const },
      { topK: 15, filter: { tag: "a", n: { $gte: 100 } } },
    ];
    for (const query of queries) {
      for (const opts of options) {
        expect(await sharded.client.query(query, opts)).toEqual(await single.client.query(query, opts));
      }
    }

    const ids = ["doc-399", "missing", "doc-3", "doc-250", "doc-3", "doc-0"];
    expect(await sharded.client.getByIds(ids)).toEqual(await single.client.getByIds(ids));
    expect((await sharded.client.getByIds(ids)).map((r) => r.id)).toEqual([
      "doc-399",
      "doc-3",
      "doc-250",
      "doc-0",
    ]);

    const doomed = Array.from({ length: 150 }, (_, i) => `doc-${i * 2}`);
    for (const { client } of [single, sharded]) {
      await deleteVectors(client, doomed);
      await client.flush();
    }
    expect((await sharded.client.describe()).vectorCount).toBe(250);
    expect(await sharded.client.getByIds(doomed.slice(0, 20))).toEqual([]);
    for (const opts of options) {
      expect(await sharded.client.query(queries[0] ?? [], opts)).toEqual(
        await single.client.query(queries[0] ?? [], opts),
      );
    }
  });

  it("reports a mutation as processed only once every shard shows it", async () => {
    const { name, client } = await fresh(SHARDS, HOLD_MS);
    const data = records(60, 7);
    const first = await client.upsert(data);
    const second = await client.deleteByIds(["doc-1", "doc-2"]);
    expect(await client.describe()).toMatchObject({
      vectorCount: 0,
      processedUpToMutation: null,
      processedUpToDatetime: null,
    });
    expect(await shardCounts(name, SHARDS)).toEqual([0, 0, 0, 0]);

    expect(await client.flush()).toBe(second.mutationId);
    const info = await client.describe();
    expect(info).toMatchObject({
      vectorCount: 58,
      dimensions: DIMS,
      processedUpToMutation: second.mutationId,
    });
    expect(info.processedUpToMutation).not.toBe(first.mutationId);
    expect(info.processedUpToDatetime).toEqual(expect.any(Number));
    // Every shard that holds a part of the batch shows it, and no deleted id is anywhere.
    expect(
      (
        await getVectors(
          client,
          data.map((r) => r.id),
        )
      ).length,
    ).toBe(58);
    expect(await client.getByIds(["doc-1", "doc-2"])).toEqual([]);

    // A later write leaves the processed state where it was until it is applied everywhere.
    const third = await client.upsert([{ id: "late", values: data[0]?.values ?? [] }]);
    const pending = await client.describe();
    expect(pending.processedUpToMutation).toBe(second.mutationId);
    expect(pending.processedUpToDatetime).toBeLessThanOrEqual(info.processedUpToDatetime ?? 0);
    expect(await runDurableObjectAlarm(stubOf(name, 0))).toBe(true);
    expect(await client.describe()).toMatchObject({
      vectorCount: 59,
      processedUpToMutation: third.mutationId,
    });
    expect((await client.getByIds(["late"])).map((r) => r.id)).toEqual(["late"]);
  });

  it("answers the same from fresh instances of every shard, rebuilt from SQLite", async () => {
    const { name, client } = await fresh(SHARDS);
    await client.upsert(records(300, 9));
    await client.flush();
    const query = records(1, 10)[0]?.values ?? [];
    const opts = { topK: 12, returnMetadata: "all" as const, filter: { tag: "b" } };
    const before = await client.query(query, opts);
    expect(before.count).toBe(12);
    for (let n = 0; n < SHARDS; n++) await evictDurableObject(stubOf(name, n));
    expect(await client.query(query, opts)).toEqual(before);
    expect((await client.describe()).vectorCount).toBe(300);
  });

  it("searches with the WebAssembly kernel on every shard", async () => {
    const { name, client } = await fresh(2);
    await client.upsert(records(100, 11));
    await client.flush();
    await client.query(records(1, 12)[0]?.values ?? [], { topK: 3 });
    for (let n = 0; n < 2; n++) {
      const stats = await stubOf(name, n).engineStats();
      expect(stats).toMatchObject({ ok: true, value: { kernel: "wasm-simd" } });
    }
  });

  it("fixes the shard count with the first write", async () => {
    const { client } = await fresh(2, HOLD_MS);
    await expect(client.configure({ dimensions: DIMS, metric: "cosine", shards: 3 })).resolves.toMatchObject({
      shards: 3,
    });
    await client.upsert([{ id: "a", values: Array.from({ length: DIMS }, () => 1) }]);
    const err = await rejection(client.configure({ dimensions: DIMS, metric: "cosine", shards: 2 }));
    expect(err).toMatchObject({ code: "conflict", field: "shards", retryable: false });
    // Settings without a shard count keep the fixed one.
    await expect(client.configure({ dimensions: DIMS, metric: "cosine" })).resolves.toMatchObject({
      shards: 3,
    });
  });

  it("keeps an index written before shards existed on its one object", async () => {
    const name = `legacy-${crypto.randomUUID()}`;
    const stub = stubOf(name, 0);
    // An index written before shards: settings without a shard count, and a processed mutation.
    await stub.upsert([{ id: "a", values: Float32Array.from({ length: DIMS }, () => 1) }]);
    await stub.flush();
    const client = new LocalVectorIndexClient(env.LOCAL_INDEX, name);
    expect(await stub.layout()).toEqual({ ok: true, value: { shards: 1, fixed: true } });
    expect((await client.getByIds(["a"])).map((r) => r.id)).toEqual(["a"]);
  });
});
