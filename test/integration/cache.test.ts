// Result caching through the API: miss then hit per layer, invalidation by writes and deletes,
// namespaces never sharing answers, canonical filters, bypass; and the cache's failure paths.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cacheApiLayer } from "../../src/cache/cache-api";
import { cachedSearch, clearIsolateResultCache } from "../../src/cache/cached-search";
import { flushLocalMetrics } from "../../src/observe/local-dataset";
import { createLogger } from "../../src/observe/logger";
import { brokenKv } from "../fakes/broken";
import { api, freshNamespace, waitForStatus, writeIndexed } from "../support";
import { searchApi } from "../support/search";

const search = (ns: string, body: Record<string, unknown>, origin?: string) =>
  searchApi(ns, { mode: "keyword", ...body }, {}, origin);

// A deployment's workers.dev address: Cache API operations have no effect there.
const WORKERS_DEV = "https://edgesearch-staging.acme.workers.dev";

// Answers are cached only once a write has settled (RESULT_CACHE_SETTLE_MS: 1 s locally).
const settle = () => new Promise((r) => setTimeout(r, 1100));

async function seed(ns: string, docs: { id: string; text: string; metadata?: Record<string, unknown> }[]) {
  await writeIndexed(ns, docs);
  await settle();
}

describe("result cache", () => {
  it("misses, then hits in the isolate, then in the Cache API once the isolate forgot", async () => {
    const ns = freshNamespace("c");
    await seed(ns, [{ id: "otter", text: "Otters hold hands while they sleep." }]);
    const first = await search(ns, { query: "otters sleep" });
    expect(first.headers.get("x-cache")).toBe("miss");
    expect(first.body.cache).toBe("miss");
    const second = await search(ns, { query: "Otters   SLEEP" });
    expect(second.headers.get("x-cache")).toBe("isolate");
    expect(second.body.cache).toBe("hit");
    expect(second.body.results).toEqual(first.body.results);
    expect(second.headers.get("server-timing")).toMatch(/cache;dur=/);

    clearIsolateResultCache();
    const third = await search(ns, { query: "otters sleep" });
    expect(third.headers.get("x-cache")).toBe("cache-api");
    expect(third.body.results).toEqual(first.body.results);
  });

  it("on *.workers.dev, caches in the isolate only and never reaches the Cache API", async () => {
    const ns = freshNamespace("c");
    await seed(ns, [{ id: "otter", text: "Otters hold hands while they sleep." }]);
    const first = await search(ns, { query: "otters sleep" }, WORKERS_DEV);
    expect(first.headers.get("x-cache")).toBe("miss");
    expect((await search(ns, { query: "otters sleep" }, WORKERS_DEV)).headers.get("x-cache")).toBe("isolate");
    clearIsolateResultCache();
    // Nothing was put in the Cache API: once the isolate forgot, it is a miss again.
    const third = await search(ns, { query: "otters sleep" }, WORKERS_DEV);
    expect(third.headers.get("x-cache")).toBe("miss");
    expect(third.body.results).toEqual(first.body.results);
    // The same search on a custom domain still fills and reads the Cache API.
    clearIsolateResultCache();
    expect((await search(ns, { query: "otters sleep" })).headers.get("x-cache")).toBe("miss");
    expect((await search(ns, { query: "otters sleep" })).headers.get("x-cache")).toBe("isolate");
    clearIsolateResultCache();
    expect((await search(ns, { query: "otters sleep" })).headers.get("x-cache")).toBe("cache-api");
    // Each search's metrics point says whether the Cache API layer was active (blob8).
    await flushLocalMetrics(env.DB);
    const { results } = await env.DB.prepare(
      "SELECT blob8 FROM local_metrics WHERE index1 = ?1 AND blob1 = 'search' ORDER BY id",
    )
      .bind(ns)
      .all<{ blob8: string }>();
    expect(results.map((r) => r.blob8)).toEqual([
      ...Array(3).fill("inactive:workers-dev"),
      ...Array(3).fill("active"),
    ]);
  });

  it("says in /readyz whether the Cache API layer works on the host asked", async () => {
    const onWorkersDev = await api<{ status: string; cacheApi: { state: string; reason?: string } }>(
      "GET",
      "/readyz",
      undefined,
      {},
      WORKERS_DEV,
    );
    expect(onWorkersDev.body.cacheApi.state).toBe("inactive:workers-dev");
    expect(onWorkersDev.body.cacheApi.reason).toMatch(/workers\.dev/);
    expect(onWorkersDev.body.status).not.toBe("unavailable");
    const onDomain = await api<{ cacheApi: { state: string; reason?: string } }>("GET", "/readyz");
    expect(onDomain.body.cacheApi).toEqual({ state: "active" });
  });

  it("misses after a write and shows the new document", async () => {
    const ns = freshNamespace("c");
    await seed(ns, [{ id: "a", text: "Herons stand still in shallow water." }]);
    const before = await search(ns, { query: "herons water" });
    expect(before.body.results.map((r) => r.id)).toEqual(["a"]);
    expect((await search(ns, { query: "herons water" })).body.cache).toBe("hit");

    await api("PUT", `/v1/namespaces/${ns}/documents/b`, { text: "Herons nest in colonies near water." });
    await waitForStatus(ns, "b", "indexed");
    // The very next search is a miss and sees the new document.
    const after = await search(ns, { query: "herons water" });
    expect(after.body.cache).toBe("miss");
    expect(after.body.results.map((r) => r.id).sort()).toEqual(["a", "b"]);
    // Not cached while the write settles; cached after.
    expect((await search(ns, { query: "herons water" })).body.cache).toBe("miss");
    await settle();
    expect((await search(ns, { query: "herons water" })).body.cache).toBe("miss");
    expect((await search(ns, { query: "herons water" })).body.cache).toBe("hit");

    await api("DELETE", `/v1/namespaces/${ns}/documents/a`);
    const afterDelete = await search(ns, { query: "herons water" });
    expect(afterDelete.body.cache).toBe("miss");
    expect(afterDelete.body.results.map((r) => r.id)).toEqual(["b"]);
  });

  it("never serves one namespace's answer to another", async () => {
    const a = freshNamespace("c");
    const b = freshNamespace("c");
    await seed(a, [{ id: "only-in-a", text: "Puffins dive for sand eels." }]);
    await seed(b, [{ id: "only-in-b", text: "Puffins nest in burrows." }]);
    const ra = await search(a, { query: "puffins" });
    const rb = await search(b, { query: "puffins" });
    expect(ra.body.results.map((r) => r.id)).toEqual(["only-in-a"]);
    expect(rb.headers.get("x-cache")).toBe("miss");
    expect(rb.body.results.map((r) => r.id)).toEqual(["only-in-b"]);
  });

  it("shares one entry between filters written in different key orders, and honours bypass", async () => {
    const ns = freshNamespace("c");
    await seed(ns, [
      { id: "x", text: "Lichens grow on rocks.", metadata: { category: "nature", year: 2020 } },
    ]);
    const f1 = { category: "nature", year: { $gte: 2000, $lte: 2030 } };
    const f2 = { year: { $lte: 2030, $gte: 2000 }, category: "nature" };
    expect((await search(ns, { query: "lichens", filter: f1 })).headers.get("x-cache")).toBe("miss");
    expect((await search(ns, { query: "lichens", filter: f2 })).headers.get("x-cache")).toBe("isolate");
    const bypass = await search(ns, { query: "lichens", filter: f2, cache: "bypass" });
    expect(bypass.headers.get("x-cache")).toBe("bypass");
    expect(bypass.body.cache).toBe("miss");
    expect(bypass.body.results.map((r) => r.id)).toEqual(["x"]);
  });
});

describe("cachedSearch", () => {
  const logger = createLogger("error");
  const settings = { resultTtlMs: 60_000, lruBytes: 1 << 20, generationTtlMs: 0, settleMs: 0 };
  const deps = (kv: KVNamespace) => ({
    kv,
    cacheApi: cacheApiLayer(null, null),
    settings,
    logger,
    defer: () => undefined,
  });

  it("never caches a degraded answer", async () => {
    let computed = 0;
    const compute = async () => {
      computed++;
      return { body: { n: computed }, degraded: ["keyword_only"] };
    };
    const scope = { namespace: freshNamespace("c"), version: "v1" };
    await cachedSearch(deps(env.KV), scope, { q: "x" }, false, compute);
    const second = await cachedSearch(deps(env.KV), scope, { q: "x" }, false, compute);
    expect(second.outcome).toBe("miss");
    expect(computed).toBe(2);
  });

  it("misses when the active version changes", async () => {
    const ns = freshNamespace("c");
    const compute = async () => ({ body: { at: Math.random() }, degraded: [] });
    await cachedSearch(deps(env.KV), { namespace: ns, version: "v1" }, { q: "x" }, false, compute);
    expect(
      (await cachedSearch(deps(env.KV), { namespace: ns, version: "v1" }, { q: "x" }, false, compute))
        .outcome,
    ).toBe("isolate");
    expect(
      (await cachedSearch(deps(env.KV), { namespace: ns, version: "v2" }, { q: "x" }, false, compute))
        .outcome,
    ).toBe("miss");
  });

  it("answers correctly when KV throws (counted as a miss)", async () => {
    const broken = brokenKv();
    const result = await cachedSearch(
      deps(broken),
      { namespace: "n", version: "v1" },
      { q: "x" },
      false,
      async () => ({
        body: { ok: true },
        degraded: [],
      }),
    );
    expect(result).toEqual({ body: { ok: true }, degraded: [], outcome: "miss" });
  });
});
