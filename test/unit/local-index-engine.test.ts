// The local index's search engine on its own: int8 quantization, the WebAssembly SIMD kernel and
// its JS twin (same scores, so the same candidates), filtered candidates, and the recall of the
// quantized scan with exact rescoring against exact float search on a seeded clustered dataset.

import { describe, expect, it } from "vitest";
import { seededRandom } from "../../scripts/lib/random.ts";
import { jsKernel, type ScanKernel, wasmKernel } from "../../src/vectors/engine/kernel";
import { CODE_LIMIT, dequantize, quantize, strideFor } from "../../src/vectors/engine/quantize";
import { QuantizedStore } from "../../src/vectors/engine/quantized-store";
import { candidateCount, rescore } from "../../src/vectors/engine/rescore";
import { searchStores } from "../../src/vectors/engine/search";
import { KERNEL_MODULE } from "../../src/vectors/engine/wasm-module";
import {
  cosineScore,
  dot,
  norm,
  type ScoredRow,
  TopK,
  VectorBlockMatrix,
} from "../../src/vectors/exact-search";
import type { VectorMetadata } from "../../src/vectors/vector-index";

/** Unit vectors around `clusters` random centres, like embeddings of documents on a few topics. */
function clustered(seed: number, count: number, dims: number, clusters: number): Float32Array[] {
  const next = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const unit = (v: Float32Array) => {
    const n = norm(v);
    return v.map((x) => x / n);
  };
  const centres = Array.from({ length: clusters }, () => unit(Float32Array.from({ length: dims }, gauss)));
  const spread = 0.9 / Math.sqrt(dims);
  return Array.from({ length: count }, () => {
    const centre = centres[Math.floor(next() * clusters)] ?? new Float32Array(dims);
    return unit(centre.map((x) => x + gauss() * spread));
  });
}

const kernels: [string, () => ScanKernel][] = [
  ["WebAssembly SIMD", () => wasmKernel(KERNEL_MODULE)],
  ["JS", () => jsKernel()],
];

function storeOf(kernel: ScanKernel, vectors: Float32Array[], dims: number): QuantizedStore {
  const store = new QuantizedStore(dims, kernel);
  vectors.forEach((v, i) => {
    store.set(`v${String(i).padStart(5, "0")}`, v, { group: i % 3 });
  });
  return store;
}

function exactTop(vectors: Float32Array[], query: Float32Array, k: number, keep = (_i: number) => true) {
  const matrix = new VectorBlockMatrix(query.length);
  vectors.forEach((v, i) => {
    if (keep(i)) matrix.set(`v${String(i).padStart(5, "0")}`, v, undefined);
  });
  const top = new TopK<ScoredRow>(k);
  matrix.search(query, top);
  return top.items;
}

/** The quantized first pass and exact rescoring, as the index object runs them. */
function quantizedTop(
  store: QuantizedStore,
  vectors: Float32Array[],
  query: Float32Array,
  k: number,
  accept?: (metadata: VectorMetadata | undefined) => boolean,
) {
  const fetch = (ids: readonly string[]) =>
    new Map(ids.map((id) => [id, vectors[Number(id.slice(1))] ?? new Float32Array()]));
  return searchStores(query, k, [{ namespace: "", store }], accept, fetch);
}

/** The store's top 10 after rescoring is exact search's: the same ids, and the same float64 scores. */
function expectExactTop(store: QuantizedStore, vectors: Float32Array[], query: Float32Array) {
  const got = quantizedTop(store, vectors, query, 10);
  const want = exactTop(vectors, query, 10);
  expect(got.map((m) => m.id)).toEqual(want.map((m) => m.id));
  // toBe compares with Object.is: the same float64, bit for bit.
  got.forEach((m, i) => {
    expect(m.score).toBe(want[i]?.score);
  });
}

/**
 * A store holding `distinct` random vectors three times over under ids inserted out of order, a
 * query, and every row ranked by quantized score, then id: the order candidates must follow.
 */
function tiedStore(seed: number, distinct: number) {
  const next = seededRandom(seed);
  const dims = 24;
  const vectors = Array.from({ length: distinct }, () =>
    Float32Array.from({ length: dims }, () => next() - 0.5),
  );
  const store = new QuantizedStore(dims, wasmKernel(KERNEL_MODULE));
  const rows = distinct * 3;
  for (let n = 0; n < rows; n++) {
    const i = (n * 97) % rows;
    store.set(`r${String(i).padStart(3, "0")}`, vectors[i % distinct] ?? new Float32Array(dims), undefined);
  }
  const query = Float32Array.from({ length: dims }, () => next() - 0.5);
  const scores = store.approximateScores(query);
  const ranked = Array.from(scores, (score, row) => ({ row, score, id: store.idAt(row) })).sort(
    (a, b) => b.score - a.score || (a.id < b.id ? -1 : 1),
  );
  return { store, query, ranked };
}

describe("int8 quantization", () => {
  it("keeps a vector's direction: the round trip's cosine to the original is above 0.999", () => {
    const next = seededRandom(3);
    for (const dims of [4, 100, 384, 768]) {
      const values = Float32Array.from({ length: dims }, () => (next() * 2 - 1) * 7);
      const codes = new Int8Array(strideFor(dims));
      const scale = quantize(values, codes);
      expect(Math.max(...codes.map(Math.abs))).toBe(CODE_LIMIT);
      expect(codes.subarray(dims).every((c) => c === 0)).toBe(true);
      const back = dequantize(codes, scale, dims);
      expect(norm(back)).toBeCloseTo(1, 2);
      expect(cosineScore(values, norm(values), back)).toBeGreaterThan(0.999);
    }
  });

  it("maps a zero vector to zero codes and scale 0, so it scores 0 like in exact search", () => {
    const codes = new Int8Array(64);
    expect(quantize(new Float32Array(8), codes)).toBe(0);
    expect(codes.every((c) => c === 0)).toBe(true);
  });

  it("pads rows to an even number of codes, the kernel's dimension pairs", () => {
    expect([1, 2, 65, 384, 767, 1536].map(strideFor)).toEqual([2, 2, 66, 384, 768, 1536]);
  });
});

describe("scan kernels", () => {
  const dims = 100;
  const vectors = clustered(11, 1500, dims, 12);
  const queries = clustered(12, 8, dims, 12);

  it("the WebAssembly kernel instantiates in workerd", () => {
    expect(wasmKernel(KERNEL_MODULE).kind).toBe("wasm-simd");
  });

  it("WebAssembly and JS kernels give bit-identical scores and the same candidates", () => {
    const wasm = storeOf(wasmKernel(KERNEL_MODULE), vectors, dims);
    const js = storeOf(jsKernel(), vectors, dims);
    for (const query of queries) {
      expect(Array.from(wasm.approximateScores(query))).toEqual(Array.from(js.approximateScores(query)));
      expect(wasm.candidates(query, 50)).toEqual(js.candidates(query, 50));
    }
  });

  it("WebAssembly and JS kernels compute bit-identical float dot products, in exact search's order", () => {
    const wasm = wasmKernel(KERNEL_MODULE);
    const js = jsKernel();
    for (const kernel of [wasm, js]) kernel.memory.grow(1);
    const next = seededRandom(31);
    // Lengths with every remainder mod 4: the kernels run over zero padding to a multiple of 4.
    for (const length of [1, 2, 3, 4, 5, 7, 100, 383, 768]) {
      const a = Float32Array.from({ length }, () => (next() - 0.5) * 1e3);
      const b = Float32Array.from({ length }, () => (next() - 0.5) * 1e-3);
      const padded = Math.ceil(length / 4) * 4;
      const results = [wasm, js].map((kernel) => {
        new Float32Array(kernel.memory.buffer, 0, padded * 2).fill(0);
        new Float32Array(kernel.memory.buffer, 0, length).set(a);
        new Float32Array(kernel.memory.buffer, padded * 4, length).set(b);
        return kernel.dot(0, padded * 4, padded);
      });
      expect(results[0]).toBe(results[1]);
      expect(results[0]).toBe(dot(a, 0, b, 0, length));
      // Summed in another order, the float64 result differs in its last bits but not more.
      const sequential = a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);
      expect(results[0]).toBeCloseTo(sequential, 9);
    }
  });

  /**
   * A row's quantized score computed from its codes alone, whatever the store's layout:
   * f32(integer dot of the query's and the row's codes) * f32 scale of the row.
   */
  function referenceScores(vectors: Float32Array[], query: Float32Array, dims: number): number[] {
    const q = new Int16Array(strideFor(dims));
    quantize(query, q);
    return vectors.map((v) => {
      const codes = new Int8Array(strideFor(dims));
      const scale = quantize(v, codes);
      let sum = 0;
      for (let d = 0; d < codes.length; d++) sum += (q[d] ?? 0) * (codes[d] ?? 0);
      return Math.fround(Math.fround(sum) * scale);
    });
  }

  /** A query with only `nonZero` of its dimensions set, like the local embedder's short queries. */
  function sparseQuery(seed: number, dims: number, nonZero: number): Float32Array {
    const next = seededRandom(seed);
    const query = new Float32Array(dims);
    for (let i = 0; i < nonZero; i++) query[Math.floor(next() * dims)] = next() * 2 - 1;
    return query;
  }

  it.each(kernels)(
    "%s: scores rows from their codes alone, for dense, sparse and zero queries",
    (_, make) => {
      // An odd dimension count (the last pair half padding) and rows over several 4,096-row chunks
      // with a partial last block.
      const dims = 37;
      const many = clustered(14, 9000 + 13, dims, 8);
      const store = storeOf(make(), many, dims);
      const asked = [
        ...clustered(15, 2, dims, 8),
        sparseQuery(16, dims, 3),
        sparseQuery(17, dims, 1),
        Float32Array.from({ length: dims }, (_, d) => (d === dims - 1 ? 1 : 0)),
        new Float32Array(dims),
      ];
      for (const query of asked) {
        expect(Array.from(store.approximateScores(query))).toEqual(referenceScores(many, query, dims));
      }
    },
  );

  it.each(kernels)("%s: sparse queries get exact search's top 10 and scores, bit for bit", (_, make) => {
    const dims = 64;
    const vectors = clustered(24, 1500, dims, 6);
    const store = storeOf(make(), vectors, dims);
    // From one non-zero dimension (many exact ties, broken by id) to a quarter of them.
    for (const [seed, nonZero] of [
      [25, 1],
      [26, 3],
      [27, 9],
      [28, 16],
    ] as const) {
      expectExactTop(store, vectors, sparseQuery(seed, dims, nonZero));
    }
  });

  it("keeps scoring rows from their codes after removals move rows between blocks", () => {
    const dims = 20;
    const vectors = clustered(18, 200, dims, 4);
    const stores = kernels.map(([, make]) => storeOf(make(), vectors, dims));
    const live = new Map(vectors.map((v, i) => [`v${String(i).padStart(5, "0")}`, v]));
    // The first row, rows inside and at the edges of blocks of 32, and the last row.
    for (const i of [0, 31, 32, 100, 63, 199, 150]) {
      const id = `v${String(i).padStart(5, "0")}`;
      for (const store of stores) expect(store.remove(id)).toBe(true);
      live.delete(id);
    }
    for (const query of [...clustered(19, 2, dims, 4), sparseQuery(20, dims, 4)]) {
      for (const store of stores) {
        const rows = [...live.keys()].map((id) => store.rowOfId(id) ?? -1);
        expect(rows.every((r) => r >= 0 && r < live.size)).toBe(true);
        const scores = store.approximateScores(query);
        expect(rows.map((r) => scores[r])).toEqual(referenceScores([...live.values()], query, dims));
      }
    }
  });

  it.each(kernels)("%s: quantized scores stay within 0.02 of exact cosine", (_, make) => {
    const store = storeOf(make(), vectors, dims);
    for (const query of queries) {
      const q = new Int16Array(strideFor(dims));
      const queryScale = quantize(query, q);
      const approx = store.approximateScores(query);
      vectors.forEach((v, row) => {
        const exact = cosineScore(query, norm(query), v);
        expect(Math.abs((approx[row] ?? 0) * queryScale - exact)).toBeLessThan(0.02);
      });
    }
  });

  it.each(kernels)("%s: the top 10 after rescoring equals exact search, scores included", (_, make) => {
    const store = storeOf(make(), vectors, dims);
    for (const query of queries) expectExactTop(store, vectors, query);
  });
});

describe("quantized store", () => {
  const dims = 48;
  const vectors = clustered(21, 900, dims, 6);
  const query = clustered(22, 1, dims, 6)[0] ?? new Float32Array(dims);

  it("restricts candidates to a filter's rows and matches exact search over them", () => {
    const store = storeOf(wasmKernel(KERNEL_MODULE), vectors, dims);
    const accept = (m: VectorMetadata | undefined) => m?.group === 1;
    expect(store.select(accept).count).toBe(300);
    const got = quantizedTop(store, vectors, query, 10, accept);
    const want = exactTop(vectors, query, 10, (i) => i % 3 === 1);
    expect(got.map((m) => m.id)).toEqual(want.map((m) => m.id));
  });

  it("stays consistent through replacements and removals across the buffer", () => {
    const store = storeOf(wasmKernel(KERNEL_MODULE), vectors, dims);
    const live = new Map(vectors.map((v, i) => [i, v]));
    const next = seededRandom(23);
    for (let i = 0; i < 300; i++) {
      const target = Math.floor(next() * vectors.length);
      const id = `v${String(target).padStart(5, "0")}`;
      if (next() < 0.5) {
        store.remove(id);
        live.delete(target);
      } else {
        const replacement = clustered(1000 + i, 1, dims, 1)[0] ?? new Float32Array(dims);
        store.set(id, replacement, undefined);
        live.set(target, replacement);
      }
    }
    expect(store.size).toBe(live.size);
    const all = Array.from({ length: vectors.length }, (_, i) => live.get(i) ?? new Float32Array(dims));
    const got = quantizedTop(store, all, query, 10);
    const want = exactTop(all, query, 10, (i) => live.has(i));
    expect(got.map((m) => m.id)).toEqual(want.map((m) => m.id));
  });

  it("keeps exact scores right when the store grows between queries", () => {
    const dims = 100;
    const all = clustered(51, 2000, dims, 8);
    const query = clustered(52, 1, dims, 8)[0] ?? new Float32Array(dims);
    const store = storeOf(wasmKernel(KERNEL_MODULE), all.slice(0, 50), dims);
    const first = quantizedTop(store, all, query, 10);
    expect(first.map((m) => m.score)).toEqual(exactTop(all.slice(0, 50), query, 10).map((m) => m.score));
    // 1,950 more rows of 128 bytes outgrow the first 64 KiB page.
    all.slice(50).forEach((v, i) => {
      store.set(`v${String(50 + i).padStart(5, "0")}`, v, undefined);
    });
    const second = quantizedTop(store, all, query, 10);
    const want = exactTop(all, query, 10);
    expect(second.map((m) => m.id)).toEqual(want.map((m) => m.id));
    expect(second.map((m) => m.score)).toEqual(want.map((m) => m.score));
  });

  it("picks exactly the best rows by quantized score, ties by id, for any count and filter", () => {
    // Ids inserted out of order, and every vector three times over: ties at most cuts.
    const { store, query, ranked } = tiedStore(41, 70);
    const mask = Uint8Array.from(ranked.map((_, row) => (row % 4 === 0 ? 0 : 1)));
    for (const count of [1, 2, 3, 10, 99, 157, 210, 300]) {
      expect(store.candidates(query, count).map((c) => c.row)).toEqual(
        ranked.slice(0, count).map((r) => r.row),
      );
      const allowed = ranked.filter((r) => mask[r.row] === 1);
      expect(store.candidates(query, count, mask).map((c) => c.row)).toEqual(
        allowed.slice(0, count).map((r) => r.row),
      );
    }
  });

  it("hands candidates out batch by batch in the order of the full ranking, ties by id", () => {
    // Every vector three times over, ids out of order: ties straddle most batch boundaries.
    const { store, query, ranked } = tiedStore(43, 90);
    const mask = Uint8Array.from(ranked.map((_, row) => (row % 5 === 0 ? 0 : 1)));
    for (const [limit, batches, filter] of [
      [100, [7, 1, 30, 13, 200], undefined],
      [270, [64, 64, 64, 64, 64], undefined],
      [150, [40, 3, 3, 100], mask],
    ] as const) {
      const want = ranked.filter((r) => filter === undefined || filter[r.row] === 1).slice(0, limit);
      const cursor = store.cursor(query, limit, filter);
      const handed: number[] = [];
      // An estimate is the row's quantized score times the query's scale, a positive constant.
      let scale: number | undefined;
      let best = cursor.best();
      for (const n of batches) {
        const batch: { row: number; approx: number }[] = [];
        expect(cursor.take(n, (row, approx) => batch.push({ row, approx }))).toBe(batch.length);
        // What best() gave before the batch is the estimate of the best row the batch brought.
        if (batch.length > 0) expect(Math.max(...batch.map((c) => c.approx))).toBe(best);
        for (const c of batch) {
          const score = ranked.find((r) => r.row === c.row)?.score ?? Number.NaN;
          scale ??= c.approx / score;
          expect(c.approx).toBeCloseTo(score * scale, 12);
        }
        handed.push(...batch.map((c) => c.row));
        // The rows handed out so far are the ranking's first ones, whatever the order within a batch.
        expect([...handed].sort((a, b) => a - b)).toEqual(
          want
            .slice(0, handed.length)
            .map((r) => r.row)
            .sort((a, b) => a - b),
        );
        best = cursor.best();
        const following = want[handed.length];
        if (following === undefined) expect(best).toBeUndefined();
        else expect(best).toBeCloseTo(following.score * (scale ?? Number.NaN), 12);
      }
      expect(handed.length).toBe(
        Math.min(
          limit,
          want.length,
          batches.reduce((a, b) => a + b, 0),
        ),
      );
    }
  });

  it("ranks candidates of several stores together, as exact search over their union", () => {
    const dims = 32;
    const vectors = clustered(61, 1200, dims, 6);
    // The same vectors in both stores under other ids: exact ties across stores, broken by id.
    const a = new QuantizedStore(dims, wasmKernel(KERNEL_MODULE));
    const b = new QuantizedStore(dims, wasmKernel(KERNEL_MODULE));
    const all = new Map<string, Float32Array>();
    vectors.forEach((v, i) => {
      const id = `v${String(i).padStart(5, "0")}`;
      const twin = `w${String(i).padStart(5, "0")}`;
      (i % 2 === 0 ? a : b).set(id, v, undefined);
      (i % 2 === 0 ? b : a).set(twin, v, undefined);
      all.set(id, v);
      all.set(twin, v);
    });
    const matrix = new VectorBlockMatrix(dims);
    for (const [id, v] of all) matrix.set(id, v, undefined);
    for (const query of clustered(62, 5, dims, 6)) {
      const want = new TopK<ScoredRow>(40);
      matrix.search(query, want);
      const got = searchStores(
        query,
        40,
        [
          { namespace: "a", store: a },
          { namespace: "b", store: b },
        ],
        undefined,
        (ids) => new Map(ids.map((id) => [id, all.get(id) ?? new Float32Array(dims)])),
      );
      expect(got.map((m) => [m.id, m.score])).toEqual(want.items.map((m) => [m.id, m.score]));
      expect(got.every((m) => m.namespace === (a.has(m.id) ? "a" : "b"))).toBe(true);
    }
  });

  it("breaks ties at the candidate cut by id, as exact search does", () => {
    const store = new QuantizedStore(4, wasmKernel(KERNEL_MODULE));
    for (let i = 199; i >= 0; i--)
      store.set(`t${String(i).padStart(3, "0")}`, Float32Array.from([1, 1, 0, 0]), undefined);
    const rows = store.candidates(Float32Array.from([1, 1, 0, 0]), 5);
    expect(rows.map((c) => store.idAt(c.row))).toEqual(["t000", "t001", "t002", "t003", "t004"]);
  });

  it("rescores more candidates when scores are closer than int8 can tell apart", () => {
    // Sinusoids of slowly shifting phase: hundreds of vectors within 1e-3 of the best scores.
    const dims = 64;
    const vectors = Array.from({ length: 3000 }, (_, i) =>
      Float32Array.from({ length: dims }, (_, d) => Math.sin(i * 0.37 + d * 1.3)),
    );
    const store = storeOf(wasmKernel(KERNEL_MODULE), vectors, dims);
    let fixedMisses = 0;
    for (const target of [17, 500, 1234, 2000, 2999]) {
      const id = `v${String(target).padStart(5, "0")}`;
      const query = vectors[target] ?? new Float32Array(dims);
      const want = exactTop(vectors, query, 5, (i) => i !== target).map((m) => m.id);
      store.remove(id);
      const fixed = rescore(
        query,
        store.candidates(query, candidateCount(5)).map((c) => ({ id: store.idAt(c.row) })),
        (c) => vectors[Number(c.id.slice(1))],
        5,
      );
      if (JSON.stringify(fixed.map((m) => m.id)) !== JSON.stringify(want)) fixedMisses++;
      expect(quantizedTop(store, vectors, query, 5).map((m) => m.id)).toEqual(want);
      store.set(id, query, undefined);
    }
    // The data is hard enough that the first batch alone would have missed.
    expect(fixedMisses).toBeGreaterThan(0);
  });
});

describe("recall of the quantized scan with exact rescoring", () => {
  it("recall@10 is at least 0.99 against exact search on 20k x 384 clustered vectors", () => {
    const dims = 384;
    const vectors = clustered(31, 20_000, dims, 200);
    const queries = clustered(32, 40, dims, 200);
    const store = storeOf(wasmKernel(KERNEL_MODULE), vectors, dims);
    const matrix = new VectorBlockMatrix(dims);
    vectors.forEach((v, i) => {
      matrix.set(`v${String(i).padStart(5, "0")}`, v, undefined);
    });
    let found = 0;
    for (const query of queries) {
      const top = new TopK<ScoredRow>(10);
      matrix.search(query, top);
      const want = new Set(top.items.map((m) => m.id));
      found += quantizedTop(store, vectors, query, 10).filter((m) => want.has(m.id)).length;
    }
    expect(found / (queries.length * 10)).toBeGreaterThanOrEqual(0.99);
  });
});
