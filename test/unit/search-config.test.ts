// Retrieval settings from the Worker's vars: defaults per backend, overrides, and refusals.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { LOCAL_VECTOR_WEIGHT } from "../../src/search/fusion";
import { DEFAULT_TITLE_WEIGHT } from "../../src/store/keyword-rank";

describe("retrieval settings", () => {
  it("defaults to RRF k 60, equal weights with Workers AI, 50 reranked candidates", () => {
    const c = loadConfig({ BACKEND: "cloudflare" });
    expect(c).toMatchObject({
      hybridRrfK: 60,
      hybridVectorWeight: 1,
      hybridKeywordWeight: 1,
      rerankModel: "@cf/baai/bge-reranker-base",
      rerankCandidates: 50,
    });
  });

  it("trusts the local embedder's ranking less unless told otherwise", () => {
    expect(loadConfig({ BACKEND: "local" }).hybridVectorWeight).toBe(LOCAL_VECTOR_WEIGHT);
    expect(LOCAL_VECTOR_WEIGHT).toBeLessThan(1);
    expect(loadConfig({ BACKEND: "local", HYBRID_VECTOR_WEIGHT: "" }).hybridVectorWeight).toBe(
      LOCAL_VECTOR_WEIGHT,
    );
    expect(loadConfig({ BACKEND: "local", HYBRID_VECTOR_WEIGHT: "0.7" }).hybridVectorWeight).toBe(0.7);
    expect(
      loadConfig({ HYBRID_RRF_K: "10", HYBRID_KEYWORD_WEIGHT: "2", RERANK_CANDIDATES: "20" }),
    ).toMatchObject({ hybridRrfK: 10, hybridKeywordWeight: 2, rerankCandidates: 20 });
  });

  it("rejects settings that cannot work", () => {
    expect(() => loadConfig({ HYBRID_VECTOR_WEIGHT: "0", HYBRID_KEYWORD_WEIGHT: "0" })).toThrow(
      /cannot both be 0/,
    );
    expect(() => loadConfig({ HYBRID_VECTOR_WEIGHT: "-1" })).toThrow(/HYBRID_VECTOR_WEIGHT/);
    expect(() => loadConfig({ RERANK_CANDIDATES: "101" })).toThrow(/RERANK_CANDIDATES/);
    expect(() => loadConfig({ RERANK_MODEL: "@cf/other/reranker" })).toThrow(/RERANK_MODEL/);
    expect(() => loadConfig({ KEYWORD_TITLE_WEIGHT: "-1" })).toThrow(/KEYWORD_TITLE_WEIGHT/);
    expect(() => loadConfig({ KEYWORD_TITLE_WEIGHT: "heavy" })).toThrow(/KEYWORD_TITLE_WEIGHT/);
  });

  it("weights a title match over a body match by KEYWORD_TITLE_WEIGHT", () => {
    expect(loadConfig({}).keywordTitleWeight).toBe(DEFAULT_TITLE_WEIGHT);
    expect(loadConfig({ KEYWORD_TITLE_WEIGHT: "" }).keywordTitleWeight).toBe(DEFAULT_TITLE_WEIGHT);
    expect(loadConfig({ KEYWORD_TITLE_WEIGHT: "5" }).keywordTitleWeight).toBe(5);
  });
});
