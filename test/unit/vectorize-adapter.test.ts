// The Vectorize adapter over an in-memory Vectorize: the same contract as the local index, the
// same rejections (code, message, field) as local mode, reply validation and error mapping.

import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { AppError } from "../../src/errors";
import { createVectorIndex, vectorizeApiVersion } from "../../src/vectors/create";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import type { QueryOptions, VectorIndex, VectorRecord } from "../../src/vectors/vector-index";
import { mapVectorizeError, VectorizeAdapter, vectorizeErrorCode } from "../../src/vectors/vectorize";
import { FakeVectorize, FakeVectorizeV1 } from "../fakes/fake-vectorize";
import { rejection, vectorIndexContract } from "./vector-index-contract";

describe("Vectorize adapter: Vectorize contract", () => {
  vectorIndexContract(async ({ dimensions, holdWrites }) => {
    const fake = new FakeVectorize({ dimensions, autoApply: !holdWrites });
    return {
      index: new VectorizeAdapter(fake),
      settle: async () => fake.applyPending(),
    };
  });
});

describe("Vectorize adapter", () => {
  const setup = () => {
    const fake = new FakeVectorize({ dimensions: 4, autoApply: true });
    return { fake, adapter: new VectorizeAdapter(fake) };
  };

  describe("rejects bad input exactly as the local index does, without calling Vectorize", () => {
    const vector = [1, 0, 0, 0];
    const calls: [string, (index: VectorIndex) => Promise<unknown>][] = [
      ["an id over 64 bytes", (i) => i.upsert([{ id: "é".repeat(33), values: vector }])],
      [
        "1001 vectors",
        (i) => i.upsert(Array.from({ length: 1001 }, (_, k) => ({ id: `v${k}`, values: vector }))),
      ],
      ["an empty upsert", (i) => i.upsert([])],
      ["a non-finite value", (i) => i.upsert([{ id: "a", values: [1, Number.NaN, 0, 0] }])],
      [
        "oversized metadata",
        (i) => i.upsert([{ id: "a", values: vector, metadata: { t: "x".repeat(10240) } }]),
      ],
      ["a bad metadata key", (i) => i.upsert([{ id: "a", values: vector, metadata: { $k: 1 } }])],
      ["a long namespace", (i) => i.upsert([{ id: "a", values: vector, namespace: "n".repeat(65) }])],
      ["topK 101", (i) => i.query(vector, { topK: 101 })],
      ["topK 21 with values", (i) => i.query(vector, { topK: 21, returnValues: true })],
      ["a $regex filter", (i) => i.query(vector, { filter: JSON.parse('{"a": {"$regex": "x"}}') })],
      ["a boolean returnMetadata", (i) => i.query(vector, JSON.parse('{"returnMetadata": true}'))],
      ["101 ids to delete", (i) => i.deleteByIds(Array.from({ length: 101 }, (_, k) => `v${k}`))],
      ["21 ids to get", (i) => i.getByIds(Array.from({ length: 21 }, (_, k) => `v${k}`))],
      ["an id over 64 bytes to get", (i) => i.getByIds(["x".repeat(65)])],
    ];
    it.each(calls)("%s", async (_, call) => {
      const { fake, adapter } = setup();
      const local = new LocalVectorIndexClient(env.LOCAL_INDEX, `adapter-${crypto.randomUUID()}`);
      await local.configure({ dimensions: 4, metric: "cosine" });
      const fromAdapter = await rejection(call(adapter));
      const fromLocal = await rejection(call(local));
      const shape = (e: AppError) => ({
        code: e.code,
        message: e.message,
        field: e.field,
        retryable: e.retryable,
      });
      expect(shape(fromAdapter)).toEqual(shape(fromLocal));
      expect(fromAdapter.retryable).toBe(false);
      expect(fake.calls).toEqual([]);
    });
  });

  it("sends Vectorize's defaults explicitly and float32 values", async () => {
    const { fake, adapter } = setup();
    await adapter.query([0.1, 0, 0, 0]);
    expect(fake.calls).toHaveLength(1);
    const [vector, options] = fake.calls[0]?.args ?? [];
    expect(vector).toEqual(Float32Array.from([0.1, 0, 0, 0]));
    expect(options).toEqual({ topK: 5, returnValues: false, returnMetadata: "none" });
    const filter = { category: { $in: ["a", "b"] } };
    await adapter.query([1, 0, 0, 0], { namespace: "ns", filter, topK: 3 });
    expect(fake.calls[1]?.args[1]).toEqual({
      topK: 3,
      returnValues: false,
      returnMetadata: "none",
      namespace: "ns",
      filter,
    });
  });

  it("maps Vectorize's rejections to non-retryable bad_request and keeps its message", async () => {
    const { fake, adapter } = setup();
    // Dimensions are only known to Vectorize, so this one reaches it.
    const err = await rejection(adapter.upsert([{ id: "a", values: [1, 0, 0] }]));
    expect(err).toMatchObject({ code: "bad_request", retryable: false, extra: { vectorizeCode: 40012 } });
    expect(err.message).toContain("expected 4 dimensions, and got 3 dimensions");
    expect(fake.calls.map((c) => c.method)).toEqual(["upsert"]);
  });

  it.each<[string, unknown, string, boolean]>([
    [
      "a query validation code",
      new Error(
        "VECTOR_QUERY_ERROR (code = 40006): invalid query vector, expected 768 dimensions, and got 0 dimensions",
      ),
      "bad_request",
      false,
    ],
    ["an id too long", new Error("VECTOR_UPSERT_ERROR (code = 40008): id too long"), "bad_request", false],
    [
      "rate limiting",
      new Error("VECTOR_UPSERT_ERROR (code = 40041): Too Many Requests"),
      "upstream_failed",
      true,
    ],
    [
      "an internal error code",
      new Error("VECTOR_QUERY_ERROR (code = 50001): internal error"),
      "upstream_failed",
      true,
    ],
    ["a lost connection", new Error("Network connection lost."), "upstream_failed", true],
    ["a thrown string", "boom", "upstream_failed", true],
  ])("maps %s", async (_, thrown, code, retryable) => {
    const { fake, adapter } = setup();
    fake.failNext("query", thrown);
    const err = await rejection(adapter.query([1, 0, 0, 0]));
    expect(err).toMatchObject({ code, retryable });
    expect(err.cause).toBe(thrown);
    // The failure was one-shot: the next call goes through.
    await expect(adapter.query([1, 0, 0, 0])).resolves.toEqual({ count: 0, matches: [] });
  });

  it("has a fake that refuses over-cap id lists with the binding's words, mapped as not retryable", async () => {
    const fake = new FakeVectorize({ dimensions: 4, autoApply: true });
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`);
    await expect(fake.getByIds(ids(20))).resolves.toEqual([]);
    const get = await fake.getByIds(ids(21)).catch((err: unknown) => err);
    expect(String(get)).toContain(
      "VECTOR_GET_ERROR (code = 40007): too many ids in payload; max id count is 20, got 21",
    );
    await expect(fake.deleteByIds(ids(100))).resolves.toHaveProperty("mutationId");
    const del = await fake.deleteByIds(ids(173)).catch((err: unknown) => err);
    expect(String(del)).toContain(
      "VECTOR_DELETE_ERROR (code = 40007): too many ids in payload; max id count is 100, got 173",
    );
    expect(mapVectorizeError(del, "deleteByIds")).toMatchObject({ code: "bad_request", retryable: false });
  });

  it("reads the code from an error's code property or its message", () => {
    expect(vectorizeErrorCode(Object.assign(new Error("nope"), { code: 40007 }))).toBe(40007);
    expect(vectorizeErrorCode(new Error("VECTOR_GET_ERROR (code = 40007): too many ids"))).toBe(40007);
    expect(vectorizeErrorCode(new Error("no code here"))).toBeUndefined();
    const ours = new AppError("invalid_filter", "bad", { retryable: false });
    expect(mapVectorizeError(ours, "query")).toBe(ours);
  });

  it.each<
    [
      string,
      "query" | "upsert" | "describe" | "getByIds",
      unknown,
      () => (a: VectorIndex) => Promise<unknown>,
    ]
  >([
    ["a query reply without matches", "query", { count: 1 }, () => (a) => a.query([1, 0, 0, 0])],
    [
      "a match without a score",
      "query",
      { count: 1, matches: [{ id: "a" }] },
      () => (a) => a.query([1, 0, 0, 0]),
    ],
    [
      "an upsert reply without a mutation id",
      "upsert",
      { count: 1, ids: ["a"] },
      () => (a) => a.upsert([{ id: "a", values: [1, 0, 0, 0] }]),
    ],
    ["a describe reply without a count", "describe", { dimensions: 4 }, () => (a) => a.describe()],
    ["a vector with string values", "getByIds", [{ id: "a", values: ["1"] }], () => (a) => a.getByIds(["a"])],
  ])("refuses %s as a non-retryable upstream failure", async (_, method, reply, call) => {
    const { fake, adapter } = setup();
    vi.spyOn(fake, method).mockResolvedValue(JSON.parse(JSON.stringify(reply)));
    const err = await rejection(call()(adapter));
    expect(err).toMatchObject({ code: "upstream_failed", retryable: false });
    expect(err.message).toContain("unexpected reply");
  });

  it("normalizes describe: the mutation id as a string, null before any write, datetimes as epoch ms", async () => {
    const { fake, adapter } = setup();
    expect(await adapter.describe()).toEqual({
      vectorCount: 0,
      dimensions: 4,
      processedUpToMutation: null,
      processedUpToDatetime: 0,
    });
    const { mutationId } = await adapter.upsert([{ id: "a", values: [1, 0, 0, 0] }]);
    expect((await adapter.describe()).processedUpToMutation).toBe(mutationId);

    vi.spyOn(fake, "describe").mockResolvedValue(
      JSON.parse(
        '{"vectorCount": 3, "dimensions": 4, "processedUpToMutation": 17, "processedUpToDatetime": "2025-01-02T03:04:05.000Z"}',
      ),
    );
    expect(await adapter.describe()).toEqual({
      vectorCount: 3,
      dimensions: 4,
      processedUpToMutation: "17",
      processedUpToDatetime: Date.UTC(2025, 0, 2, 3, 4, 5),
    });
  });

  it("drops empty namespaces and values or metadata that were not asked for", async () => {
    const { fake, adapter } = setup();
    vi.spyOn(fake, "query").mockResolvedValue(
      JSON.parse(
        '{"count": 1, "matches": [{"id": "a", "score": 0.5, "namespace": "", "values": [], "metadata": {}}]}',
      ),
    );
    expect(await adapter.query([1, 0, 0, 0])).toEqual({ count: 1, matches: [{ id: "a", score: 0.5 }] });
  });

  it("returns values as plain numbers when Vectorize sends typed arrays", async () => {
    const { fake, adapter } = setup();
    const record: VectorRecord = { id: "a", values: [0.5, 0.25, 0, 1] };
    vi.spyOn(fake, "getByIds").mockResolvedValue([{ id: "a", values: Float64Array.from([0.5, 0.25, 0, 1]) }]);
    expect(await adapter.getByIds(["a"])).toEqual([record]);
  });
});

describe("createVectorIndex", () => {
  const options: QueryOptions = { topK: 1 };

  it("builds the Vectorize adapter for the cloudflare backend", async () => {
    const fake = new FakeVectorize({ dimensions: 2, autoApply: true });
    const index = createVectorIndex({
      backend: "cloudflare",
      vectorize: fake,
      localIndex: env.LOCAL_INDEX,
      indexName: "x",
    });
    await index.upsert([{ id: "a", values: [1, 0] }]);
    expect((await index.query([1, 0], options)).matches.map((m) => m.id)).toEqual(["a"]);
    expect(fake.calls.map((c) => c.method)).toEqual(["upsert", "query"]);
  });

  it("refuses a V1 binding, although it has queryById like a V2 one", async () => {
    const v1 = new FakeVectorizeV1(4);
    expect("queryById" in v1).toBe(true);
    expect(vectorizeApiVersion(v1)).toBe("v1");
    expect(vectorizeApiVersion(new FakeVectorize({ dimensions: 4 }))).toBe("v2");
    const make = () =>
      createVectorIndex({
        backend: "cloudflare",
        vectorize: v1,
        localIndex: env.LOCAL_INDEX,
        indexName: "x",
      });
    expect(make).toThrow(AppError);
    expect(make).toThrow(/V1 \(legacy\) index/);
    expect(v1.calls).toEqual([]);
  });

  it("tells a V1 binding without a version flag by its describe() reply", async () => {
    const v1 = new FakeVectorizeV1(4, { hideVersion: true });
    expect(vectorizeApiVersion(v1)).toBe("unknown");
    const index = createVectorIndex({
      backend: "cloudflare",
      vectorize: v1,
      localIndex: env.LOCAL_INDEX,
      indexName: "x",
    });
    const err = await rejection(index.describe());
    expect(err).toMatchObject({ code: "internal", retryable: false });
    expect(err.message).toMatch(/V1 \(legacy\) index/);
  });

  it("builds the local index client for the local backend, one object per index name", async () => {
    const fake = new FakeVectorize({ dimensions: 2, autoApply: true });
    const name = `create-${crypto.randomUUID()}`;
    const first = createVectorIndex({
      backend: "local",
      vectorize: fake,
      localIndex: env.LOCAL_INDEX,
      indexName: name,
    });
    await first.upsert([{ id: "a", values: [1, 0] }]);
    const same = new LocalVectorIndexClient(env.LOCAL_INDEX, name);
    await same.flush();
    expect((await first.query([1, 0], options)).matches.map((m) => m.id)).toEqual(["a"]);
    const other = createVectorIndex({
      backend: "local",
      vectorize: fake,
      localIndex: env.LOCAL_INDEX,
      indexName: `${name}-other`,
    });
    expect((await other.describe()).vectorCount).toBe(0);
    expect(fake.calls).toEqual([]);
  });
});
