// Reranking and filtered keyword search through the public API: a reranker failure degrades the
// answer instead of failing it, and filters hold in every mode.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import { freshNamespace, writeIndexed } from "../support";
import { searchApi } from "../support/search";

const DOCS = [
  {
    id: "bread",
    text: "Sourdough bread rises with wild yeast; bread crust and bread crumb.",
    metadata: { category: "cooking" },
  },
  { id: "yeast", text: "Yeast ferments sugar into gas and alcohol.", metadata: { category: "biology" } },
  { id: "crust", text: "The crust of the earth floats on the mantle.", metadata: { category: "geology" } },
];

// Every rerank call fails; the scope keeps these failures out of the shared breakers.
const FAIL_RERANK = JSON.stringify({
  "workers-ai": { error: 1, methods: ["rerank"] },
  scope: "rerank-drill",
});

describe("search with rerank and filters", () => {
  const ns = freshNamespace("rr");
  const search = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    searchApi(ns, { cache: "bypass", ...body }, headers);

  beforeAll(async () => {
    await writeIndexed(ns, DOCS);
    await new LocalVectorIndexClient(env.LOCAL_INDEX, loadConfig(env).vectorizeIndexName).flush();
  });

  it("reranks when asked, and says nothing is degraded", async () => {
    const res = await search({ query: "bread yeast crust", rerank: true });
    expect(res.status).toBe(200);
    expect(res.body.degraded).toEqual([]);
    expect(res.body.results.map((r) => r.id).sort()).toEqual(["bread", "crust", "yeast"]);
  });

  it("answers in first-stage order with rerank_unavailable when the reranker fails", async () => {
    const plain = await search({ query: "bread yeast crust" });
    const res = await search(
      { query: "bread yeast crust", rerank: true },
      { "x-edgesearch-faults": FAIL_RERANK },
    );
    expect(res.status).toBe(200);
    expect(res.body.degraded).toEqual(["rerank_unavailable"]);
    expect(res.body.results).toEqual(plain.body.results);
  });

  it.each(["keyword", "vector", "hybrid"])("applies the filter in %s mode", async (mode) => {
    const res = await search({ query: "bread crust yeast", mode, filter: { category: { $ne: "cooking" } } });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r) => r.id).sort()).toEqual(["crust", "yeast"]);
  });
});
