// End to end through the public API: write documents, let the real queue deliver them to the
// consumer, search, update, delete.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, freshNamespace, waitFor, waitForStatus, writeIndexed } from "../support";
import { searchApi as search, waitVectorsApplied } from "../support/search";

const DOCS = [
  {
    id: "photosynthesis",
    title: "Photosynthesis",
    text: "Plants capture sunlight with chlorophyll and turn light energy into chemical energy stored in glucose.",
    metadata: { category: "biology", year: 2020 },
  },
  {
    id: "volcano",
    title: "Volcanoes",
    text: "A volcano erupts when magma rises through the crust and escapes as lava, ash and gas.",
    metadata: { category: "geology", year: 2018 },
  },
  {
    id: "sourdough",
    title: "Sourdough bread",
    text: "Sourdough bread rises thanks to a starter of wild yeast and lactic acid bacteria fermenting the flour.",
    metadata: { category: "cooking", year: 2022 },
  },
];

async function seed(ns: string) {
  await writeIndexed(ns, DOCS);
  await waitVectorsApplied(ns, "sunlight plants magma lava sourdough starter", DOCS.length);
}

describe("documents and search", () => {
  it("indexes a batch and finds the right document first in each mode", async () => {
    const ns = freshNamespace();
    await seed(ns);
    for (const mode of ["vector", "keyword", "hybrid"]) {
      const res = await search(ns, { query: "how do plants use sunlight for energy", mode });
      expect(res.status).toBe(200);
      expect(res.body.results[0]?.id, mode).toBe("photosynthesis");
      expect(res.body.results[0]?.title).toBe("Photosynthesis");
      expect(res.body.results[0]?.text).toContain("chlorophyll");
      expect(res.body.version).toBe("v1");
      expect(res.body.degraded).toEqual([]);
    }
    const stats = await api("GET", `/v1/namespaces/${ns}`);
    expect(stats.body).toMatchObject({
      namespace: ns,
      documents: 3,
      pending: 0,
      failed: 0,
      activeVersion: "v1",
    });
    expect(stats.body.chunks).toBeGreaterThanOrEqual(3);
  });

  it("reports status, chunks and version of a document", async () => {
    const ns = freshNamespace();
    const put = await api("PUT", `/v1/namespaces/${ns}/documents/notes%2Fday-1.md`, {
      text: "# Day one\n\nWe walked to the lighthouse.\n\n## Evening\n\nDinner was fish soup.",
      contentType: "text/markdown",
    });
    expect(put.status).toBe(202);
    expect(put.body).toEqual({ id: "notes/day-1.md", status: "queued" });
    const status = await waitForStatus(ns, "notes/day-1.md", "indexed");
    expect(status).toMatchObject({ id: "notes/day-1.md", version: "v1", title: "Day one" });
    expect(status.chunks).toBeGreaterThanOrEqual(1);
    expect(status.error).toBeUndefined();
  });

  it("applies metadata filters and returns chunks when grouping by chunk", async () => {
    const ns = freshNamespace();
    await seed(ns);
    const filtered = await search(ns, {
      query: "sunlight energy bread lava",
      mode: "vector",
      filter: { category: { $in: ["cooking", "geology"] }, year: { $gte: 2019 } },
    });
    expect(filtered.status).toBe(200);
    expect(filtered.body.results.map((r) => r.id)).toEqual(["sourdough"]);

    const chunks = await search(ns, {
      query: "volcano magma",
      groupBy: "chunk",
      includeText: false,
      topK: 2,
    });
    expect(chunks.body.results).toHaveLength(2);
    expect(chunks.body.results[0]?.text).toBeUndefined();
    expect(chunks.body.results[0]?.chunkId).toMatch(/-\d+$/);
  });

  it("serves the new text after an update and drops a deleted document at once", async () => {
    const ns = freshNamespace();
    await seed(ns);
    const update = await api("PUT", `/v1/namespaces/${ns}/documents/volcano`, {
      text: "Glaciers are rivers of ice that carve valleys as they move downhill.",
      title: "Glaciers",
      metadata: { category: "geology" },
    });
    expect(update.status).toBe(202);
    await waitFor("updated text searchable", async () => {
      const r = await search(ns, { query: "glaciers ice valleys", mode: "keyword" });
      return r.body.results[0]?.id === "volcano" && r.body.results[0]?.title === "Glaciers";
    });
    const stale = await search(ns, { query: "magma lava crust", mode: "keyword" });
    expect(stale.body.results.map((r) => r.id)).not.toContain("volcano");

    const del = await api("DELETE", `/v1/namespaces/${ns}/documents/photosynthesis`);
    expect(del.status).toBe(202);
    const after = await search(ns, { query: "plants sunlight chlorophyll", mode: "hybrid" });
    expect(after.body.results.map((r) => r.id)).not.toContain("photosynthesis");
    const status = await waitForStatus(ns, "photosynthesis", "deleted");
    expect(status.chunks).toBe(0);
    const stats = await api("GET", `/v1/namespaces/${ns}`);
    expect(stats.body).toMatchObject({ documents: 2, pending: 0 });
    expect(await env.DOCUMENTS.head(`${ns}/photosynthesis`)).toBeNull();
  });

  it("marks a document that cannot be parsed as failed, with the reason", async () => {
    const ns = freshNamespace();
    // An HTML page with nothing a reader sees: only the pipeline can tell.
    const res = await api("PUT", `/v1/namespaces/${ns}/documents/broken`, {
      text: "<script>this is not text</script>",
      contentType: "text/html",
    });
    expect(res.status).toBe(202);
    const status = await waitForStatus(ns, "broken", "failed");
    expect(String(status.error)).toMatch(/no text/i);
    // The reason never quotes the document's text.
    expect(String(status.error)).not.toContain("this is not");
    const stats = await api("GET", `/v1/namespaces/${ns}`);
    expect(stats.body).toMatchObject({ documents: 0, failed: 1, pending: 0 });
  });

  it("deletes a whole namespace", async () => {
    const ns = freshNamespace();
    await seed(ns);
    const res = await api("DELETE", `/v1/namespaces/${ns}`);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 3, remaining: false });
    const r = await search(ns, { query: "plants sunlight magma sourdough" });
    expect(r.body.results).toEqual([]);
  });

  it("answers 404 problem+json for unknown documents", async () => {
    const ns = freshNamespace();
    for (const method of ["GET", "DELETE"]) {
      const res = await api(method, `/v1/namespaces/${ns}/documents/nope`);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
  });
});
