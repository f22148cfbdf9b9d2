// The Vectorize contract every VectorIndex must keep (limits and their errors, asynchronous writes,
// replace-on-upsert, deletes, namespaces, filters, cosine ranking, describe), registered against a
// backend by its test file.

import { describe, expect, it } from "vitest";
import { seededRandom } from "../../scripts/lib/random.ts";
import { AppError, type ErrorCode } from "../../src/errors";
import type {
  MetadataFilter,
  VectorIndex,
  VectorMetadata,
  VectorRecord,
} from "../../src/vectors/vector-index";

export interface ContractHarness {
  index: VectorIndex;
  /** Applies every pending write now. */
  settle(): Promise<void>;
}

export type MakeHarness = (options: { dimensions: number; holdWrites: boolean }) => Promise<ContractHarness>;

export async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw new Error(`expected an AppError, got ${String(err)}`);
  }
  throw new Error("expected the call to be rejected, it succeeded");
}

async function expectRejected(promise: Promise<unknown>, code: ErrorCode, field?: string): Promise<AppError> {
  const err = await rejection(promise);
  expect(err.code).toBe(code);
  expect(err.retryable).toBe(false);
  if (field !== undefined) expect(err.field).toBe(field);
  return err;
}

/** Deterministic pseudo-random numbers in [-1, 1). */
export function random(seed: number): () => number {
  const next = seededRandom(seed);
  return () => next() * 2 - 1;
}

/** Cosine similarity as the index sees it: both sides rounded to float32, summed in float64. */
export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Math.fround(a[i] ?? 0);
    const y = Math.fround(b[i] ?? 0);
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / (Math.sqrt(na) * Math.sqrt(nb));
}

const D = 4;
const unit = (i: number): number[] => Array.from({ length: D }, (_, k) => (k === i ? 1 : 0));

export function vectorIndexContract(make: MakeHarness): void {
  const setup = (holdWrites = false, dimensions = D) => make({ dimensions, holdWrites });

  describe("limits", () => {
    const vector = [1, 0, 0, 0];
    it.each([
      ["topK 101", { topK: 101 }],
      ["topK 21 with values", { topK: 21, returnValues: true }],
      ["topK 21 with all metadata", { topK: 21, returnMetadata: "all" as const }],
      ["topK 0", { topK: 0 }],
      ["topK 2.5", { topK: 2.5 }],
    ])("rejects a query with %s", async (_, options) => {
      const { index } = await setup();
      await expectRejected(index.query(vector, options), "bad_request", "options.topK");
    });

    it.each([
      ["topK 100", { topK: 100 }],
      [
        "topK 20 with values and all metadata",
        { topK: 20, returnValues: true, returnMetadata: "all" as const },
      ],
      ["topK 21 with indexed metadata", { topK: 21, returnMetadata: "indexed" as const }],
    ])("accepts a query with %s", async (_, options) => {
      const { index } = await setup();
      await expect(index.query(vector, options)).resolves.toEqual({ count: 0, matches: [] });
    });

    it("counts id length in UTF-8 bytes: 32 x 'é' (64 bytes) passes, one more byte fails", async () => {
      const { index } = await setup();
      await expect(index.upsert([{ id: "é".repeat(32), values: vector }])).resolves.toHaveProperty(
        "mutationId",
      );
      const err = await expectRejected(
        index.upsert([{ id: `${"é".repeat(32)}a`, values: vector }]),
        "bad_request",
        "vectors[0].id",
      );
      expect(err.message).toContain("65 bytes");
    });

    it("accepts 1000 vectors per upsert and rejects 1001", async () => {
      const { index } = await setup();
      const batch = (n: number): VectorRecord[] =>
        Array.from({ length: n }, (_, i) => ({ id: `v${i}`, values: vector }));
      await expect(index.upsert(batch(1000))).resolves.toHaveProperty("mutationId");
      await expectRejected(index.upsert(batch(1001)), "bad_request", "vectors");
    });

    it("rejects vectors and queries whose dimensions differ from the index's", async () => {
      const { index } = await setup();
      await expectRejected(index.upsert([{ id: "a", values: [1, 0, 0] }]), "bad_request");
      await expectRejected(index.query([1, 0, 0, 0, 0]), "bad_request");
    });

    it.each([
      ["a NaN", [1, Number.NaN, 0, 0]],
      ["an Infinity", [1, Number.POSITIVE_INFINITY, 0, 0]],
      ["no", []],
    ])("rejects vector values with %s value", async (_, values) => {
      const { index } = await setup();
      await expectRejected(index.upsert([{ id: "a", values }]), "bad_request", "vectors[0].values");
    });

    it("rejects metadata over 10 KiB and accepts it just under", async () => {
      const { index } = await setup();
      // {"text":"..."} is 11 bytes around the string.
      const fits = { text: "x".repeat(10 * 1024 - 11) };
      const over = { text: "x".repeat(10 * 1024 - 10) };
      await expect(index.upsert([{ id: "a", values: vector, metadata: fits }])).resolves.toHaveProperty(
        "mutationId",
      );
      await expectRejected(
        index.upsert([{ id: "a", values: vector, metadata: over }]),
        "bad_request",
        "vectors[0].metadata",
      );
    });

    it.each([
      ["a null value", JSON.parse('{"a": null}')],
      ["an array value", JSON.parse('{"a": ["x"]}')],
      ["an object value", JSON.parse('{"a": {"b": 1}}')],
      ["a key with a dot", { "a.b": 1 }],
      ["a key starting with $", { $a: 1 }],
      ["an empty key", { "": 1 }],
    ])("rejects metadata with %s", async (_, metadata: VectorMetadata) => {
      const { index } = await setup();
      await expectRejected(index.upsert([{ id: "a", values: vector, metadata }]), "bad_request");
    });

    it("rejects a namespace over 64 bytes and an empty one", async () => {
      const { index } = await setup();
      await expectRejected(
        index.upsert([{ id: "a", values: vector, namespace: "n".repeat(65) }]),
        "bad_request",
        "vectors[0].namespace",
      );
      await expectRejected(index.query(vector, { namespace: "" }), "bad_request", "options.namespace");
    });

    it("takes 20 ids per getByIds and 100 per deleteByIds, refusing more as Vectorize does", async () => {
      const { index, settle } = await setup();
      const ids = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`);
      await index.upsert(ids(101).map((id) => ({ id, values: vector })));
      await settle();
      expect(await index.getByIds(ids(20))).toHaveLength(20);
      const get = await expectRejected(index.getByIds(ids(21)), "bad_request", "ids");
      expect(get.message).toBe(
        "VECTOR_GET_ERROR (code = 40007): too many ids in payload; max id count is 20, got 21",
      );
      const del = await expectRejected(index.deleteByIds(ids(101)), "bad_request", "ids");
      expect(del.message).toBe(
        "VECTOR_DELETE_ERROR (code = 40007): too many ids in payload; max id count is 100, got 101",
      );
      await expectRejected(index.deleteByIds([]), "bad_request", "ids");
      // The refused calls changed nothing; 100 ids in one call are deleted.
      await settle();
      expect((await index.describe()).vectorCount).toBe(101);
      await index.deleteByIds(ids(100));
      await settle();
      expect((await index.describe()).vectorCount).toBe(1);
    });

    it("rejects an invalid filter as invalid_filter", async () => {
      const { index } = await setup();
      const filter = JSON.parse('{"category": {"$regex": "^n"}}');
      await expectRejected(index.query(vector, { filter }), "invalid_filter", "filter.category.$regex");
    });
  });

  describe("writes", () => {
    it("are invisible to queries, getByIds and describe until applied, then visible", async () => {
      const { index, settle } = await setup(true);
      const { mutationId } = await index.upsert([{ id: "a", values: [1, 0, 0, 0], metadata: { k: "v" } }]);
      expect(typeof mutationId).toBe("string");
      expect((await index.query([1, 0, 0, 0])).matches).toEqual([]);
      expect(await index.getByIds(["a"])).toEqual([]);
      expect(await index.describe()).toMatchObject({ vectorCount: 0, processedUpToMutation: null });

      await settle();
      expect((await index.query([1, 0, 0, 0])).matches.map((m) => m.id)).toEqual(["a"]);
      expect(await index.describe()).toMatchObject({
        vectorCount: 1,
        dimensions: D,
        processedUpToMutation: mutationId,
      });
    });

    it("gives each write its own mutation id and reports the last one applied", async () => {
      const { index, settle } = await setup(true);
      const first = await index.upsert([{ id: "a", values: unit(0) }]);
      const second = await index.deleteByIds(["a"]);
      expect(second.mutationId).not.toBe(first.mutationId);
      await settle();
      const info = await index.describe();
      expect(info.processedUpToMutation).toBe(second.mutationId);
      expect(info.vectorCount).toBe(0);
      expect(typeof info.processedUpToDatetime).toBe("number");
    });

    it("upsert replaces values and metadata in full, without merging", async () => {
      const { index, settle } = await setup();
      await index.upsert([{ id: "a", values: [1, 2, 3, 4], metadata: { kept: "no", n: 1 } }]);
      await settle();
      const before = await index.query([1, 2, 3, 4], { returnMetadata: "all" });
      expect(before.matches).toEqual([
        { id: "a", score: expect.closeTo(1, 5), metadata: { kept: "no", n: 1 } },
      ]);
      await index.upsert([{ id: "a", values: [0.1, 0.2, 0.3, 0.4], metadata: { n: 2 } }]);
      await settle();
      const after = await index.query([1, 0, 0, 0], { returnMetadata: "all", returnValues: true });
      expect(after.matches).toEqual([
        {
          id: "a",
          score: expect.closeTo(0.1 / Math.sqrt(0.3), 5),
          values: Array.from(Float32Array.from([0.1, 0.2, 0.3, 0.4])),
          metadata: { n: 2 },
        },
      ]);
      expect(await index.getByIds(["a"])).toEqual([
        { id: "a", values: Array.from(Float32Array.from([0.1, 0.2, 0.3, 0.4])), metadata: { n: 2 } },
      ]);
      expect((await index.describe()).vectorCount).toBe(1);
    });

    it("deleteByIds removes vectors from queries, getByIds and the count", async () => {
      const { index, settle } = await setup();
      await index.upsert([
        { id: "a", values: unit(0) },
        { id: "b", values: unit(1) },
      ]);
      await settle();
      expect((await index.query(unit(0), { topK: 10 })).matches.map((m) => m.id).sort()).toEqual(["a", "b"]);
      await index.deleteByIds(["a", "never-existed"]);
      await settle();
      expect((await index.getByIds(["a", "b"])).map((v) => v.id)).toEqual(["b"]);
      expect((await index.query(unit(0), { topK: 10 })).matches.map((m) => m.id)).toEqual(["b"]);
      expect((await index.describe()).vectorCount).toBe(1);
    });

    it("getByIds returns float32 values, metadata and namespace, skipping unknown ids", async () => {
      const { index, settle } = await setup();
      await index.upsert([{ id: "a", values: [0.1, 0.2, 0.3, 0.4], namespace: "ns", metadata: { x: true } }]);
      await settle();
      expect(await index.getByIds(["nope", "a"])).toEqual([
        {
          id: "a",
          values: Array.from(Float32Array.from([0.1, 0.2, 0.3, 0.4])),
          namespace: "ns",
          metadata: { x: true },
        },
      ]);
      expect(await index.getByIds([])).toEqual([]);
    });
  });

  describe("namespaces", () => {
    it("restrict a query to their vectors; no namespace searches all", async () => {
      const { index, settle } = await setup();
      await index.upsert([
        { id: "a1", values: unit(0), namespace: "alpha" },
        { id: "a2", values: unit(1), namespace: "alpha" },
        { id: "b1", values: unit(0), namespace: "beta" },
        { id: "n1", values: unit(0) },
      ]);
      await settle();
      const ids = async (namespace?: string) =>
        (await index.query(unit(0), { topK: 10, ...(namespace ? { namespace } : {}) })).matches
          .map((m) => m.id)
          .sort();
      expect(await ids("alpha")).toEqual(["a1", "a2"]);
      expect(await ids("beta")).toEqual(["b1"]);
      expect(await ids("gamma")).toEqual([]);
      expect(await ids()).toEqual(["a1", "a2", "b1", "n1"]);
      const [match] = (await index.query(unit(1), { topK: 1, namespace: "alpha" })).matches;
      expect(match).toMatchObject({ id: "a2", namespace: "alpha" });
    });

    it("an upsert with another namespace moves the vector", async () => {
      const { index, settle } = await setup();
      await index.upsert([{ id: "a", values: unit(0), namespace: "alpha" }]);
      await settle();
      // Queried once before the move, so a backend that caches the namespace must update it.
      expect((await index.query(unit(0), { namespace: "alpha" })).matches.map((m) => m.id)).toEqual(["a"]);
      await index.upsert([{ id: "a", values: unit(0), namespace: "beta" }]);
      await settle();
      expect((await index.query(unit(0), { namespace: "alpha" })).matches).toEqual([]);
      expect((await index.query(unit(0), { namespace: "beta" })).matches.map((m) => m.id)).toEqual(["a"]);
      expect((await index.getByIds(["a"]))[0]?.namespace).toBe("beta");
      expect((await index.describe()).vectorCount).toBe(1);
    });
  });

  describe("filters", () => {
    const docs: Record<string, VectorMetadata | undefined> = {
      a: { category: "news", year: 2020, draft: false, lang: "en" },
      b: { category: "blog", year: 2021, draft: true, lang: "fr" },
      c: { category: "news", year: 2022, lang: "en" },
      d: { category: "docs", year: "2021", draft: false },
      e: undefined,
    };
    const cases: [string, MetadataFilter, string[]][] = [
      ["bare value", { category: "news" }, ["a", "c"]],
      ["$eq", { category: { $eq: "news" } }, ["a", "c"]],
      ["$ne (missing fields match)", { category: { $ne: "news" } }, ["b", "d", "e"]],
      ["$in", { category: { $in: ["news", "docs"] } }, ["a", "c", "d"]],
      ["$nin (missing fields match)", { category: { $nin: ["news", "docs"] } }, ["b", "e"]],
      ["$gt on numbers skips the string '2021'", { year: { $gt: 2020 } }, ["b", "c"]],
      ["$gte with $lt", { year: { $gte: 2021, $lt: 2022 } }, ["b"]],
      ["$lte", { year: { $lte: 2021 } }, ["a", "b"]],
      ["$lt", { year: { $lt: 2021 } }, ["a"]],
      ["type-strict string", { year: "2021" }, ["d"]],
      ["type-strict number", { year: 2021 }, ["b"]],
      ["boolean", { draft: false }, ["a", "d"]],
      ["$ne boolean", { draft: { $ne: true } }, ["a", "c", "d", "e"]],
      ["null matches a missing field", { lang: null }, ["d", "e"]],
      ["$ne null requires the field", { lang: { $ne: null } }, ["a", "b", "c"]],
      ["string range as a prefix", { category: { $gte: "n", $lt: "o" } }, ["a", "c"]],
      ["implicit AND", { category: "news", lang: "en", year: { $gt: 2020 } }, ["c"]],
    ];
    it.each(cases)("%s selects the right vectors", async (_, filter, expected) => {
      const { index, settle } = await setup();
      await index.upsert(
        Object.entries(docs).map(([id, metadata]) => ({
          id,
          values: [1, 1, 1, 1],
          ...(metadata ? { metadata } : {}),
        })),
      );
      await settle();
      const result = await index.query([1, 1, 1, 1], { topK: 10, filter });
      expect(result.matches.map((m) => m.id).sort()).toEqual(expected);
      expect(result.count).toBe(expected.length);
    });

    describe("on strings longer than the 64 bytes a metadata index keeps", () => {
      const x64 = "x".repeat(64);
      const long: Record<string, string> = {
        long: `${x64}tail`,
        exact: x64,
        // 40 two-byte characters: the index keeps 32 of them.
        accents: "é".repeat(40),
        // 63 bytes and a two-byte character that no longer fits: the index keeps the 63.
        split: `${"a".repeat(63)}é`,
        short: "short",
      };
      const longCases: [string, MetadataFilter, string[]][] = [
        ["$eq the 64-byte prefix", { s: x64 }, ["exact", "long"]],
        ["$eq the whole long value", { s: `${x64}tail` }, []],
        ["$ne the 64-byte prefix", { s: { $ne: x64 } }, ["accents", "short", "split"]],
        [
          "$in a prefix cut on a character boundary",
          { s: { $in: ["é".repeat(32), "a".repeat(63)] } },
          ["accents", "split"],
        ],
        ["$nin the 64-byte prefix", { s: { $nin: [x64] } }, ["accents", "short", "split"]],
        ["$gt the 64-byte prefix", { s: { $gt: x64 } }, ["accents"]],
        ["$lte the 64-byte prefix", { s: { $lte: x64 } }, ["exact", "long", "short", "split"]],
      ];
      it.each(longCases)("%s compares the indexed prefix", async (_, filter, expected) => {
        const { index, settle } = await setup();
        await index.upsert(
          Object.entries(long).map(([id, value]) => ({ id, values: [1, 1, 1, 1], metadata: { s: value } })),
        );
        await settle();
        const result = await index.query([1, 1, 1, 1], { topK: 10, filter });
        expect(result.matches.map((m) => m.id).sort()).toEqual(expected);
        // The vectors keep their whole values.
        expect((await index.getByIds(["long"]))[0]?.metadata).toEqual({ s: `${x64}tail` });
      });
    });

    it("applies the filter before topK", async () => {
      const { index, settle } = await setup();
      await index.upsert([
        { id: "close", values: [1, 0, 0, 0], metadata: { keep: false } },
        { id: "far", values: [0, 1, 0, 0], metadata: { keep: true } },
      ]);
      await settle();
      const { matches } = await index.query([1, 0, 0, 0], { topK: 1, filter: { keep: true } });
      expect(matches.map((m) => m.id)).toEqual(["far"]);
    });
  });

  describe("ranking", () => {
    it("orders by cosine similarity exactly as a brute-force computation", async () => {
      const dims = 16;
      const { index, settle } = await setup(false, dims);
      const next = random(7);
      const records = Array.from({ length: 60 }, (_, i) => ({
        id: `v${String(i).padStart(2, "0")}`,
        values: Array.from({ length: dims }, next),
      }));
      await index.upsert(records);
      await settle();
      for (let q = 0; q < 3; q++) {
        const query = Array.from({ length: dims }, next);
        const expected = records
          .map((r) => ({ id: r.id, score: cosine(query, r.values) }))
          .sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : 1))
          .slice(0, 10);
        const { matches } = await index.query(query, { topK: 10 });
        expect(matches.map((m) => m.id)).toEqual(expected.map((e) => e.id));
        matches.forEach((m, i) => {
          expect(m.score).toBeCloseTo(expected[i]?.score ?? Number.NaN, 5);
        });
      }
    });

    it("still ranks exactly after deletes and replacements", async () => {
      const dims = 8;
      const { index, settle } = await setup(false, dims);
      const next = random(11);
      const records = new Map<string, number[]>(
        Array.from({ length: 40 }, (_, i) => {
          const scale = 1 + i; // Different norms, so a stale norm shows in the scores.
          return [`v${String(i).padStart(2, "0")}`, Array.from({ length: dims }, () => next() * scale)];
        }),
      );
      await index.upsert([...records].map(([id, values]) => ({ id, values })));
      await settle();
      const query = Array.from({ length: dims }, next);
      await index.query(query, { topK: 40 });
      const deleted = ["v00", "v07", "v13", "v20", "v38"];
      await index.deleteByIds(deleted);
      for (const id of deleted) records.delete(id);
      const replaced = Array.from({ length: dims }, next);
      records.set("v05", replaced);
      await index.upsert([{ id: "v05", values: replaced }]);
      await settle();
      const expected = [...records]
        .map(([id, values]) => ({ id, score: cosine(query, values) }))
        .sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : 1));
      const { matches } = await index.query(query, { topK: 40 });
      expect(matches.map((m) => m.id)).toEqual(expected.map((e) => e.id));
      matches.forEach((m, i) => {
        expect(m.score).toBeCloseTo(expected[i]?.score ?? Number.NaN, 5);
      });
    });

    it("scores an identical direction 1 and an opposite one -1", async () => {
      const { index, settle } = await setup();
      await index.upsert([
        { id: "same", values: [2, 0, 0, 0] },
        { id: "opposite", values: [-3, 0, 0, 0] },
      ]);
      await settle();
      const { matches } = await index.query([1, 0, 0, 0]);
      expect(matches.map((m) => [m.id, Number(m.score.toFixed(6))])).toEqual([
        ["same", 1],
        ["opposite", -1],
      ]);
    });

    it("breaks ties by id and returns 5 matches by default", async () => {
      const { index, settle } = await setup();
      await index.upsert(["g", "c", "a", "f", "b", "e", "d"].map((id) => ({ id, values: [1, 1, 0, 0] })));
      await settle();
      const result = await index.query([1, 1, 0, 0]);
      expect(result.matches.map((m) => m.id)).toEqual(["a", "b", "c", "d", "e"]);
      expect(result.count).toBe(5);
    });

    it("returns values and metadata only when asked", async () => {
      const { index, settle } = await setup();
      await index.upsert([{ id: "a", values: [0.1, 0.2, 0.3, 0.4], metadata: { k: "v" } }]);
      await settle();
      const [plain] = (await index.query(unit(0))).matches;
      expect(plain).toBeDefined();
      expect(Object.keys(plain ?? {}).sort()).toEqual(["id", "score"]);
      const [full] = (await index.query(unit(0), { returnValues: true, returnMetadata: "all" })).matches;
      expect(full?.values).toEqual(Array.from(Float32Array.from([0.1, 0.2, 0.3, 0.4])));
      expect(full?.metadata).toEqual({ k: "v" });
      const [indexed] = (await index.query(unit(0), { returnMetadata: "indexed" })).matches;
      expect(indexed?.metadata).toEqual({ k: "v" });
    });
  });
}
