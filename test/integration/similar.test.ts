// Documents similar to a stored one, through the Worker: related documents come back, the
// document itself never does, filters and keys apply as for a search, and a document that is
// unknown or has no vectors yet is a problem+json answer.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import type { SearchResponseBody } from "../../workers/api/routes/search";
import { createKey } from "../security/support";
import { type ApiResponse, api, freshNamespace, waitFor, writeIndexed } from "../support";

const DOCS = [
  {
    id: "photosynthesis",
    title: "Photosynthesis",
    text: "Green plants capture sunlight in their leaves with chlorophyll and turn light energy into sugar.",
    metadata: { category: "biology" },
  },
  {
    id: "leaves",
    title: "Leaves",
    text: "Leaves hold chlorophyll, the green pigment that lets plants capture sunlight and make sugar.",
    metadata: { category: "biology" },
  },
  {
    id: "roots",
    title: "Roots",
    text: "Plant roots draw water and minerals from the soil and carry them up to the green leaves.",
    metadata: { category: "botany" },
  },
  {
    id: "volcano",
    title: "Volcanoes",
    text: "A volcano erupts when magma rises through the crust and escapes as lava, ash and gas.",
    metadata: { category: "geology" },
  },
  {
    id: "sourdough",
    title: "Sourdough",
    text: "Sourdough bread rises thanks to a starter of wild yeast and bacteria fermenting the flour.",
    metadata: { category: "cooking" },
  },
];

/** A document of about 35 chunks (256 tokens each), every one about lava. */
const LONG = {
  id: "lava-handbook",
  title: "Lava handbook",
  text: Array.from(
    { length: 200 },
    (_, i) =>
      `Section ${i}: lava flows from the volcano as molten rock, basalt lava cools into dark stone, and magma under the crust feeds each eruption of ash and gas again and again.`,
  ).join("\n\n"),
  metadata: { category: "geology" },
};

type Similar = ApiResponse<SearchResponseBody>;

function similar(
  ns: string,
  id: string,
  body: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<Similar> {
  return api<SearchResponseBody>(
    "POST",
    `/v1/namespaces/${ns}/documents/${encodeURIComponent(id)}/similar`,
    { cache: "bypass", ...body },
    headers,
  );
}

const NS = freshNamespace("similar");

beforeAll(async () => {
  await writeIndexed(NS, [...DOCS, LONG]);
  // Vectors apply after the rows commit (as on Vectorize): wait until every document's are read.
  await waitFor("vectors applied", async () => {
    const res = await similar(NS, "sourdough", { topK: 10 });
    return res.status === 200 && res.body.results.length === DOCS.length;
  });
}, 60_000);

describe("similar documents", () => {
  it("answers related documents first, in the search's result shape, never the document itself", async () => {
    const res = await similar(NS, "photosynthesis", { topK: 3 });
    expect(res.status).toBe(200);
    const ids = res.body.results.map((r) => r.id);
    expect(ids).toHaveLength(3);
    expect(ids).not.toContain("photosynthesis");
    expect(ids[0]).toBe("leaves");
    expect(ids.slice(0, 2)).toContain("roots");
    expect(res.body.results[0]).toMatchObject({ title: "Leaves", metadata: { category: "biology" } });
    expect(res.body.results[0]?.text).toContain("chlorophyll");
    expect(res.body).toMatchObject({ version: "v1", cache: "miss", degraded: [] });
  });

  it("leaves out every chunk of a long document, past the chunks that make the query", async () => {
    const status = await api<{ chunks: number }>("GET", `/v1/namespaces/${NS}/documents/${LONG.id}`);
    expect(status.body.chunks).toBeGreaterThan(20);
    const res = await similar(NS, LONG.id, { topK: 20, groupBy: "chunk", includeText: false });
    expect(res.status).toBe(200);
    // Every other document's chunk, none of its own (all of which are closer to the query).
    expect(res.body.results).toHaveLength(DOCS.length);
    expect(res.body.results.map((r) => r.id)).not.toContain(LONG.id);
    expect(res.body.results[0]?.id).toBe("volcano");
    expect(res.body.results[0]?.text).toBeUndefined();
  });

  it("applies metadata filters as a search does", async () => {
    const res = await similar(NS, "photosynthesis", {
      filter: { category: { $in: ["geology", "cooking"] } },
    });
    expect(res.status).toBe(200);
    expect(res.body.results.length).toBeGreaterThan(0);
    for (const r of res.body.results) expect(["geology", "cooking"]).toContain(r.metadata.category);
    const unfilterable = await similar(NS, "photosynthesis", { filter: { title: "Leaves" } });
    expect(unfilterable.status).toBe(400);
    expect(unfilterable.body).toMatchObject({ code: "invalid_filter", field: "body.filter.title" });
  });

  it("answers an unknown or deleted document with 404", async () => {
    const unknown = await similar(NS, "no-such-document");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("content-type")).toBe("application/problem+json");
    expect(unknown.body).toMatchObject({ code: "not_found", status: 404 });
    const ns = freshNamespace("similar-del");
    await writeIndexed(ns, DOCS.slice(0, 2));
    expect((await api("DELETE", `/v1/namespaces/${ns}/documents/leaves`)).status).toBe(202);
    expect((await similar(ns, "leaves")).status).toBe(404);
  });

  it("answers a document without vectors yet with 409 and its status", async () => {
    const now = Date.now();
    for (const status of ["queued", "failed"]) {
      await env.DB.prepare(
        `INSERT INTO documents (namespace, id, status, content_type, chunk_count, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'text/plain', 0, ?4, ?4)`,
      )
        .bind(NS, `pending-${status}`, status, now)
        .run();
      const res = await similar(NS, `pending-${status}`);
      expect(res.status).toBe(409);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.body).toMatchObject({ code: "conflict", status: 409, documentStatus: status });
    }
  });

  it("serves a key scoped to the namespace and refuses one scoped to another", async () => {
    const reader = await createKey({ namespaces: [NS], roles: ["search"] });
    const own = await similar(NS, "photosynthesis", {}, { authorization: `Bearer ${reader.key}` });
    expect(own.status).toBe(200);
    expect(own.headers.get("x-cost-counters")).toBeNull();
    const other = await createKey({ namespaces: ["similar-other"], roles: ["search", "write"] });
    const refused = await similar(NS, "photosynthesis", {}, { authorization: `Bearer ${other.key}` });
    expect(refused.status).toBe(403);
    expect(JSON.stringify(refused.body)).not.toContain("Leaves");
    const writer = await createKey({ namespaces: [NS], roles: ["write"] });
    expect((await similar(NS, "photosynthesis", {}, { authorization: `Bearer ${writer.key}` })).status).toBe(
      403,
    );
  });

  it("reads only its own namespace: the same document id elsewhere is not found", async () => {
    const ns = freshNamespace("similar-iso");
    await writeIndexed(ns, [{ ...DOCS[3], id: "only-here" }]);
    expect((await similar(NS, "only-here")).status).toBe(404);
    const res = await waitFor("vectors applied", async () => {
      const r = await similar(ns, "only-here", { topK: 10 });
      return r.status === 200 && r;
    });
    expect(res.body.results).toEqual([]);
  });

  it("costs one Vectorize query and one D1 read of the document, shown to admin keys", async () => {
    const res = await similar(NS, "photosynthesis", { topK: 3 });
    expect(res.status).toBe(200);
    const counters = Object.fromEntries(
      (res.headers.get("x-cost-counters") ?? "").split(",").map((pair) => pair.split("=")),
    );
    expect(counters.vectorizeQueries).toBe("1");
    expect(Number(counters.d1Queries)).toBeGreaterThanOrEqual(2);
    expect(res.headers.get("server-timing")).toMatch(/embed;dur=.*vector;dur=.*hydrate;dur=/);
  });

  it("is cached like a search: the same request again is a hit", async () => {
    const first = await similar(NS, "roots", { topK: 2, cache: "default" });
    expect(first.status).toBe(200);
    const again = await similar(NS, "roots", { topK: 2, cache: "default" });
    expect(again.body).toMatchObject({ cache: "hit", results: first.body.results });
    const other = await similar(NS, "leaves", { topK: 2, cache: "default" });
    expect(other.body.cache).toBe("miss");
  });

  // Last: it holds the shared index's writes back while it runs.
  it("answers 409 with the indexed status until the index shows the document's vectors", async () => {
    const ns = freshNamespace("similar-late");
    const v1 = await api<{ index: string; dimensions: number }>("GET", `/v1/namespaces/${ns}/versions/v1`);
    const index = new LocalVectorIndexClient(env.LOCAL_INDEX, v1.body.index);
    await index.configure({ dimensions: v1.body.dimensions, metric: "cosine", applyDelayMs: 60_000 });
    try {
      await writeIndexed(ns, DOCS.slice(0, 2));
      const res = await similar(ns, "leaves");
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: "conflict", documentStatus: "indexed" });
    } finally {
      await index.configure({ dimensions: v1.body.dimensions, metric: "cosine" });
      await index.flush();
    }
    const later = await similar(ns, "leaves");
    expect(later.status).toBe(200);
    expect(later.body.results.map((r) => r.id)).toEqual(["photosynthesis"]);
  });
});
