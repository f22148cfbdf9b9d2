// Namespaces spread over several vector indexes, end to end: the Worker runs with a pool of local
// indexes (VECTORIZE_SHARDS, each test its own, so counts start at zero), the real queue indexes
// the documents, and the scheduled check reports each index's vector count. A namespace is placed
// once, by fullness; its documents are found in its own index only; a full pool refuses new
// namespaces; namespaces from before the shard map stay on the default index; a model migration
// runs inside a non-default index.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { ShardMapClient } from "../../src/shards/client";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import worker from "../../workers/index";
import { adminKey, api, freshNamespace, seedIndexedDocument, waitFor, waitIndexed } from "../support";
import { searchUncached as search } from "../support/search";

const DEFAULT_INDEX = loadConfig(env).vectorizeIndexName;
const SAME_DIMENSIONS_MODEL = "@cf/baai/bge-base-en-v1.5";

interface Answer<T> {
  status: number;
  body: T;
}

interface VersionList {
  active: string;
  versions: { id: string; state: string; index: string; model: string }[];
}

interface ShardIndex {
  index: string;
  inPool: boolean;
  acceptsNamespaces: boolean;
  refusal: string | null;
  namespaces: number | null;
  vectors: number | null;
  fullness: number | null;
}

/** A Worker environment whose pool is `indexes` (fresh names: the shard map has never seen them). */
function deployment(size: number, vars: Record<string, string> = {}) {
  const tag = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const indexes = Array.from({ length: size }, (_, i) => `shard-${tag}-${String.fromCharCode(97 + i)}`);
  const workerEnv = {
    ...env,
    VECTORIZE_INDEXES: indexes.map((name, i) => `${name}:VECTORIZE_SHARD_${i}`).join(","),
    VECTORIZE_SHARDS: indexes.join(","),
    ...vars,
  } as unknown as Env;

  async function call<T>(method: string, path: string, body?: unknown, key = adminKey()): Promise<Answer<T>> {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`http://edgesearch.test${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }) as Request<unknown, IncomingRequestCfProperties>,
      workerEnv,
      ctx,
    );
    const text = await res.text();
    await waitOnExecutionContext(ctx);
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  return {
    indexes,
    call,
    /** Creates the namespace (its coordinator's first version) and answers the index it got. */
    async place(ns: string): Promise<string> {
      const res = await call<VersionList>("GET", `/v1/namespaces/${ns}/versions`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const v1 = res.body.versions.find((v) => v.id === "v1");
      if (!v1) throw new Error(`${ns} has no v1`);
      return v1.index;
    },
    async shards(key?: string): Promise<Answer<{ pool: string[]; indexes: ShardIndex[] }>> {
      return call("GET", "/v1/admin/shards", undefined, key);
    },
    /** The scheduled run (index health, and each index's vector count to the shard map). */
    async cron(): Promise<void> {
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), workerEnv, ctx);
      await waitOnExecutionContext(ctx);
    },
  };
}

type Deployment = ReturnType<typeof deployment>;

async function ingest(d: Deployment, ns: string, docs: { id: string; text: string }[]): Promise<void> {
  const res = await d.call("POST", `/v1/namespaces/${ns}/documents`, { documents: docs });
  expect(res.status).toBe(202);
  await waitIndexed(ns, docs.length);
}

async function chunkIds(ns: string, version = "v1"): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT chunk_id FROM chunks WHERE namespace = ?1 AND version = ?2 ORDER BY chunk_id",
  )
    .bind(ns, version)
    .all<{ chunk_id: string }>();
  return results.map((r) => r.chunk_id);
}

/** Which of the ids the index holds, once its pending writes are applied. */
async function heldBy(index: string, ids: string[]): Promise<string[]> {
  const client = new LocalVectorIndexClient(env.LOCAL_INDEX, index);
  await client.flush();
  return (await client.getByIds(ids)).map((r) => r.id).sort();
}

describe("namespaces spread over a pool of indexes", () => {
  it("places each new namespace in the least full index, once, and every caller gets that index", async () => {
    const d = deployment(3);
    const names = Array.from({ length: 6 }, () => freshNamespace("spread"));
    const placed: string[] = [];
    for (const ns of names) placed.push(await d.place(ns));
    const [a, b, c] = d.indexes;
    expect(placed).toEqual([a, b, c, a, b, c]);
    // Asked again, through this Worker or one without the pool: the version record answers.
    for (const [i, ns] of names.entries()) {
      expect(await d.place(ns)).toBe(placed[i]);
      const plain = await api<VersionList>("GET", `/v1/namespaces/${ns}/versions`);
      expect(plain.body.versions[0]?.index).toBe(placed[i]);
    }
    const shards = await d.shards();
    expect(shards.status).toBe(200);
    expect(shards.body.pool).toEqual(d.indexes);
    for (const index of d.indexes) {
      expect(shards.body.indexes.find((s) => s.index === index)).toMatchObject({
        inPool: true,
        acceptsNamespaces: true,
        namespaces: 2,
        vectors: 0,
      });
    }
    // The default index is listed, outside the pool.
    expect(shards.body.indexes.find((s) => s.index === DEFAULT_INDEX)).toMatchObject({
      inPool: false,
      acceptsNamespaces: false,
      refusal: "not_in_pool",
    });
  });

  it("places a namespace once when its first calls arrive together", async () => {
    const d = deployment(2);
    const ns = freshNamespace("race");
    const placed = await Promise.all(Array.from({ length: 5 }, () => d.place(ns)));
    expect(new Set(placed).size).toBe(1);
    expect(d.indexes).toContain(placed[0]);
    const versions = await d.call<VersionList>("GET", `/v1/namespaces/${ns}/versions`);
    expect(versions.body.versions.map((v) => v.id)).toEqual(["v1"]);
    const pool = (await d.shards()).body.indexes.filter((s) => d.indexes.includes(s.index));
    expect(pool.map((s) => s.namespaces)).toEqual(placed[0] === d.indexes[0] ? [1, 0] : [0, 1]);
  });

  it("counts vectors as the indexes report them: a namespace with many vectors steers new ones elsewhere", async () => {
    const d = deployment(2, { SHARD_MAX_VECTORS: "20", SHARD_MAX_NAMESPACES: "1000" });
    const [a, b] = d.indexes;
    const big = freshNamespace("big");
    expect(await d.place(big)).toBe(a);
    await ingest(
      d,
      big,
      Array.from({ length: 6 }, (_, i) => ({
        id: `doc-${i}`,
        text: `Ledger entry ${i} about granite quarries.`,
      })),
    );
    // The count the scheduled run reports is the index's, once it has applied the writes.
    await new LocalVectorIndexClient(env.LOCAL_INDEX, a ?? "").flush();
    await d.cron();
    const reported = (await d.shards()).body.indexes.find((s) => s.index === a);
    expect(reported?.vectors).toBe(6);
    expect(reported?.fullness).toBeCloseTo(0.3);
    // 6 of 20 vectors outweighs up to 299 of 1000 namespaces: the next ones all go to b.
    const next = [];
    for (let i = 0; i < 3; i++) next.push(await d.place(freshNamespace("small")));
    expect(next).toEqual([b, b, b]);
  });

  it("stops placing namespaces in full indexes and refuses once the whole pool is full", async () => {
    const d = deployment(2, { SHARD_MAX_NAMESPACES: "2", SHARD_FILL_THRESHOLD: "1" });
    const names = Array.from({ length: 4 }, () => freshNamespace("full"));
    for (const ns of names) await d.place(ns);
    const refused = await d.call<{ status: number; detail: string }>(
      "GET",
      `/v1/namespaces/${freshNamespace("nofit")}/versions`,
    );
    expect(refused.status).toBe(503);
    expect(refused.body.detail).toContain("add an index");
    const shards = await d.shards();
    for (const index of d.indexes) {
      expect(shards.body.indexes.find((s) => s.index === index)).toMatchObject({
        namespaces: 2,
        fullness: 1,
        acceptsNamespaces: false,
        refusal: "full",
      });
    }
    // Namespaces already placed keep working.
    expect(await d.place(names[0] ?? "")).toBe(d.indexes[0]);
  });

  it("shows the counts only to a key that covers every namespace", async () => {
    const d = deployment(1);
    const ns = freshNamespace("scoped");
    await d.place(ns);
    const created = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "scoped shard admin",
      namespaces: [ns],
      roles: ["admin"],
    });
    expect(created.status).toBe(201);
    const scoped = await d.shards(created.body.key);
    expect(scoped.status).toBe(200);
    const own = scoped.body.indexes.find((s) => s.index === d.indexes[0]);
    expect(own).toMatchObject({ acceptsNamespaces: true, namespaces: null, vectors: null, fullness: null });
    const full = await d.shards();
    expect(full.body.indexes.find((s) => s.index === d.indexes[0])?.namespaces).toBe(1);
  });
});

describe("a namespace in a second index", () => {
  it("is searchable in every mode, from its own index, and invisible from a namespace in another", async () => {
    const d = deployment(2);
    const [a, b] = d.indexes;
    const near = freshNamespace("near");
    const far = freshNamespace("far");
    expect(await d.place(near)).toBe(a);
    expect(await d.place(far)).toBe(b);
    await ingest(d, far, [
      { id: "far-1", text: "Zygomorphic orchids of the Andes attract euglossine bees with fragrance." },
      { id: "far-2", text: "Tidal estuaries mix fresh and salt water twice a day." },
    ]);
    await ingest(d, near, [{ id: "near-1", text: "Basalt columns form as lava cools and contracts." }]);

    // The vectors are where the version record says, and nowhere else.
    const farChunks = await chunkIds(far);
    expect(farChunks.length).toBeGreaterThan(0);
    expect(await heldBy(b ?? "", farChunks)).toEqual([...farChunks].sort());
    expect(await heldBy(a ?? "", farChunks)).toEqual([]);
    expect(await heldBy(DEFAULT_INDEX, farChunks)).toEqual([]);

    const query = "zygomorphic orchids euglossine bees";
    for (const mode of ["keyword", "vector", "hybrid"]) {
      const found = await waitFor(`${mode} search in ${far}`, async () => {
        const res = await search(far, query, mode);
        return res.status === 200 && res.body.results[0]?.id === "far-1" ? res : undefined;
      });
      expect(found.body.degraded, mode).toEqual([]);
      const other = await search(near, query, mode);
      expect(other.status).toBe(200);
      expect(
        other.body.results.map((r) => r.id).filter((id) => id.startsWith("far-")),
        mode,
      ).toEqual([]);
    }
  });

  it("migrates to a new version inside the same index when the dimensions match", async () => {
    const d = deployment(2);
    const [a, b] = d.indexes;
    expect(await d.place(freshNamespace("filler"))).toBe(a);
    const ns = freshNamespace("migrate");
    expect(await d.place(ns)).toBe(b);
    await ingest(d, ns, [
      { id: "m-1", text: "Glaciers carve U-shaped valleys and leave moraines behind." },
      { id: "m-2", text: "Coral reefs grow where warm shallow water is clear." },
    ]);
    const created = await d.call<{ id: string; index: string }>("POST", `/v1/namespaces/${ns}/versions`, {
      model: SAME_DIMENSIONS_MODEL,
      chunking: { maxTokens: 128, overlapTokens: 16 },
    });
    expect(created.status).toBe(202);
    expect(created.body.index).toBe(b);
    const version = created.body.id;
    await waitFor(
      `${version} to be ready`,
      async () => {
        const v = await d.call<{ state: string }>("GET", `/v1/namespaces/${ns}/versions/${version}`);
        return v.body.state === "ready";
      },
      60_000,
      100,
    );
    const activated = await waitFor(`${version} to activate`, async () => {
      const res = await d.call<{ detail?: string }>(
        "POST",
        `/v1/namespaces/${ns}/versions/${version}/activate`,
        { force: true },
      );
      if (res.status === 409 && String(res.body.detail).includes("has not applied")) return undefined;
      return res;
    });
    expect(activated.status).toBe(200);
    const newChunks = await chunkIds(ns, version);
    expect(newChunks.length).toBeGreaterThan(0);
    expect(await heldBy(b ?? "", newChunks)).toEqual([...newChunks].sort());
    expect(await heldBy(DEFAULT_INDEX, newChunks)).toEqual([]);
    const found = await waitFor(`searches to answer from ${version}`, async () => {
      const res = await search(ns, "glaciers carve valleys moraines", "hybrid");
      return res.body.version === version && res.body.results[0]?.id === "m-1" ? res : undefined;
    });
    expect(found.body.degraded).toEqual([]);
  });
});

describe("namespaces from before the shard map", () => {
  it("stay on the default index, even when it takes no new namespaces", async () => {
    const d = deployment(2);
    const legacy = freshNamespace("legacy");
    await seedIndexedDocument(legacy);
    expect(await d.place(legacy)).toBe(DEFAULT_INDEX);
    expect(await new ShardMapClient(env.SHARD_MAP).assignment(legacy)).toMatchObject({
      index: DEFAULT_INDEX,
      legacy: true,
    });
    // A new namespace next to it goes to the pool.
    expect(d.indexes).toContain(await d.place(freshNamespace("new")));
  });

  it("are counted on the default index by the scheduled scan, before their coordinator is asked", async () => {
    const d = deployment(1);
    const legacy = freshNamespace("scanned");
    await seedIndexedDocument(legacy);
    const map = new ShardMapClient(env.SHARD_MAP);
    expect(await map.assignment(legacy)).toBeNull();
    const before = (await d.shards()).body.indexes.find((s) => s.index === DEFAULT_INDEX)?.namespaces ?? 0;
    await d.cron();
    expect(await map.assignment(legacy)).toMatchObject({ index: DEFAULT_INDEX, legacy: true });
    const after = (await d.shards()).body.indexes.find((s) => s.index === DEFAULT_INDEX)?.namespaces ?? 0;
    expect(after).toBeGreaterThanOrEqual(before + 1);
    expect(await d.place(legacy)).toBe(DEFAULT_INDEX);
  });
});
