// Fusion, keyword query escaping against real D1 FTS5, chunk ids and config parsing.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { chunkId, chunkIdPrefix } from "../../src/ingest/ids";
import { LOCAL_VECTOR_WEIGHT, reciprocalRankFusion } from "../../src/search/fusion";
import { candidateCount, DEFAULT_SEARCH_SETTINGS, keywordDepth } from "../../src/search/search";
import { keywordSearch, toFtsQuery } from "../../src/store/keyword";

describe("reciprocal rank fusion", () => {
  it("ranks an item found by both lists above items found by one", () => {
    const fused = reciprocalRankFusion([
      [
        { id: "a", score: 0.9 },
        { id: "b", score: 0.8 },
      ],
      [
        { id: "c", score: 12 },
        { id: "b", score: 10 },
      ],
    ]);
    expect(fused.map((r) => r.id)).toEqual(["b", "a", "c"]);
    expect(fused[0]?.score).toBeCloseTo(1 / 62 + 1 / 62, 10);
    expect(fused[1]?.score).toBeCloseTo(1 / 61, 10);
  });

  it("uses k to flatten or sharpen the rank weighting", () => {
    const lists = [[{ id: "x", score: 1 }], []];
    expect(reciprocalRankFusion(lists, 0)[0]?.score).toBe(1);
    expect(reciprocalRankFusion(lists, 9)[0]?.score).toBeCloseTo(0.1, 10);
  });
});

describe("keyword queries", () => {
  it("reduces free text to quoted words", () => {
    expect(toFtsQuery('NEAR(a b) OR "x" AND title:* -z')).toBe(
      '"near" OR "a" OR "b" OR "or" OR "x" OR "and" OR "title" OR "z"',
    );
    expect(toFtsQuery("  ?!* ")).toBeNull();
  });

  it("adds a prefix star to the last word only, after its closing quote", () => {
    expect(toFtsQuery('NEAR(a b) "otte"*', true)).toBe('"near" OR "a" OR "b" OR "otte"*');
    expect(toFtsQuery('otte "* -x', true)).toBe('"otte" OR "x"');
    expect(toFtsQuery("otte ?!*", true)).toBe('"otte"*');
    expect(toFtsQuery("  ?!* ", true)).toBeNull();
  });

  it("never lets FTS5 syntax in a query cause an error", async () => {
    const ns = `kw-${Date.now()}`;
    await env.DB.prepare(
      "INSERT INTO chunks (chunk_id, namespace, doc_id, idx, title, text, tokens) VALUES (?1, ?2, 'd', 0, 'Otters', 'Sea otters float on their backs.', 8)",
    )
      .bind(`${ns}-c0`, ns)
      .run();
    const hostile = [
      '"',
      "otters\"'",
      "AND OR NOT",
      "otters*",
      "col:otters",
      "(otters",
      "^otters",
      "NEAR(otters, 2)",
      "\u0000otters",
    ];
    for (const q of hostile) {
      const hits = await keywordSearch(env.DB, ns, q, 10);
      expect(Array.isArray(hits), q).toBe(true);
      const prefixed = await keywordSearch(env.DB, ns, q, 10, undefined, "v1", 0, { prefix: true });
      expect(
        prefixed.map((h) => h.chunkId),
        q,
      ).toEqual(q.includes("otters") ? [`${ns}-c0`] : []);
    }
    expect((await keywordSearch(env.DB, ns, "OTTERS!", 10)).map((h) => h.chunkId)).toEqual([`${ns}-c0`]);
    expect(await keywordSearch(env.DB, "other-namespace", "otters", 10)).toEqual([]);
  });
});

describe("chunk ids", () => {
  it("are stable, at most 64 bytes, and differ across namespaces and documents", async () => {
    const longId = "é".repeat(256);
    const a = await chunkIdPrefix("ns-a", longId);
    expect(await chunkIdPrefix("ns-a", longId)).toBe(a);
    expect(await chunkIdPrefix("ns-b", longId)).not.toBe(a);
    expect(await chunkIdPrefix("ns-a", "other")).not.toBe(a);
    expect(new TextEncoder().encode(chunkId(a, 99_999)).length).toBeLessThanOrEqual(64);
  });
});

describe("candidates", () => {
  it("fetches spares when grouping by document, within Vectorize's topK limit", () => {
    expect(candidateCount(10, "document")).toBe(30);
    expect(candidateCount(10, "chunk")).toBe(10);
    expect(candidateCount(100, "document")).toBe(100);
  });
});

describe("keyword hits that bring their chunk in hybrid mode", () => {
  const local = { ...DEFAULT_SEARCH_SETTINGS, vectorWeight: LOCAL_VECTOR_WEIGHT };
  const keywordIds = Array.from({ length: 100 }, (_, i) => `k${i + 1}`);
  /** The fused first `window` ids when the keyword hit of rank `lifted` is the vector leg's best. */
  const fusedWindow = (lifted: number, window: number) => {
    const keyword = keywordIds.map((id, i) => ({ id, score: 100 - i }));
    const vector = [`k${lifted}`, ...Array.from({ length: 99 }, (_, i) => `v${i}`)].map((id, i) => ({
      id,
      score: 1 - i / 100,
    }));
    const fused = reciprocalRankFusion([vector, keyword], {
      k: local.rrfK,
      weights: [local.vectorWeight, 1],
    });
    return fused.slice(0, window).map((r) => r.id);
  };

  it("covers every keyword rank the vector leg can lift into the first window, and no more", () => {
    const bound = keywordDepth(30, 100, local).withChunks;
    expect(bound).toBeGreaterThan(30);
    expect(fusedWindow(bound, 30)).toContain(`k${bound}`);
    expect(fusedWindow(bound + 1, 30)).not.toContain(`k${bound + 1}`);
  });

  it("stays at the window when the vector leg alone can fill it, and within the leg's hits", () => {
    expect(keywordDepth(30, 100, DEFAULT_SEARCH_SETTINGS).withChunks).toBe(30);
    expect(keywordDepth(30, 32, local).withChunks).toBe(32);
    expect(keywordDepth(30, 100, { ...local, keywordWeight: 0 }).withChunks).toBe(30);
  });
});

describe("config", () => {
  it("parses the Worker's vars with defaults", () => {
    const c = loadConfig({ BACKEND: "local", FILTERABLE_FIELDS: " a, b ,,c" });
    expect(c.backend).toBe("local");
    expect(c.filterableFields).toEqual(["a", "b", "c"]);
    expect(c.chunkMaxTokens).toBe(256);
    expect(c.embeddingModel).toBe("@cf/baai/bge-base-en-v1.5");
  });

  it("rejects a bad environment with one clear error", () => {
    expect(() => loadConfig({ BACKEND: "elsewhere" })).toThrow(/BACKEND/);
    expect(() => loadConfig({ EMBEDDING_MODEL: "@cf/unknown/model" })).toThrow(/EMBEDDING_MODEL/);
    expect(() => loadConfig({ CHUNK_MAX_TOKENS: "600" })).toThrow(/CHUNK_MAX_TOKENS/);
    expect(() => loadConfig({ CHUNK_MAX_TOKENS: "64", CHUNK_OVERLAP_TOKENS: "64" })).toThrow(/OVERLAP/);
  });

  it("allows as many filterable fields as a Vectorize index has metadata indexes, 10, and no more", () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `f${i}`).join(",");
    expect(loadConfig({ FILTERABLE_FIELDS: fields(10) }).filterableFields).toHaveLength(10);
    expect(() => loadConfig({ FILTERABLE_FIELDS: fields(11) })).toThrow(
      /FILTERABLE_FIELDS.*10 metadata indexes/,
    );
  });
});
