// The dashboard's D1 pool section: each pool database's size, fill (size / D1_MAX_BYTES) and
// namespaces, and a warning once a database reaches D1_FILL_THRESHOLD, through the data endpoint
// the page draws (/v1/admin/metrics) and the page itself.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ShardMapClient } from "../../src/shards/client";
import worker from "../../workers/index";
import { adminKey, api } from "../support";

interface Storage {
  maxBytes: number;
  fillThreshold: number;
  databases: {
    database: string;
    inPool: boolean;
    pastFillThreshold: boolean;
    acceptsNamespaces: boolean;
    namespaces: number | null;
    bytes: number | null;
    fullness: number | null;
  }[];
}

/** A deployment whose databases hold 1 MB each (D1_MAX_BYTES), full at 80%. */
const SMALL = { D1_MAX_BYTES: "1000000", D1_FILL_THRESHOLD: "0.8" };

async function get(path: string, key = adminKey()) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://edgesearch.test${path}`, {
      headers: { authorization: `Bearer ${key}` },
    }) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...SMALL } as unknown as Env,
    ctx,
  );
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  return { status: res.status, text };
}

async function storage(key?: string): Promise<Storage> {
  const res = await get("/v1/admin/metrics?window=1h", key);
  expect(res.status, res.text).toBe(200);
  return (JSON.parse(res.text) as { storage: Storage }).storage;
}

beforeAll(async () => {
  // As the 5-minute scheduled run reports them (src/store/d1-size.ts).
  await new ShardMapClient(env.SHARD_MAP).recordUsage([], Date.now(), [
    { database: "DB", bytes: 100_000 },
    { database: "DATA_DB_1", bytes: 900_000 },
    { database: "DATA_DB_2", bytes: 799_999 },
  ]);
});

describe("the dashboard's D1 databases", () => {
  it("gives each pool database's size, fill and namespaces, and flags the one past the threshold", async () => {
    const s = await storage();
    expect(s.maxBytes).toBe(1_000_000);
    expect(s.fillThreshold).toBe(0.8);
    const byName = new Map(s.databases.map((d) => [d.database, d]));
    expect([...byName.keys()]).toEqual(expect.arrayContaining(["DB", "DATA_DB_1", "DATA_DB_2"]));
    expect(byName.get("DATA_DB_1")).toMatchObject({
      bytes: 900_000,
      fullness: 0.9,
      pastFillThreshold: true,
      acceptsNamespaces: false,
    });
    expect(byName.get("DATA_DB_2")).toMatchObject({ fullness: 0.799999, pastFillThreshold: false });
    expect(byName.get("DB")).toMatchObject({
      bytes: 100_000,
      pastFillThreshold: false,
      acceptsNamespaces: true,
    });
    for (const d of s.databases) expect(d.namespaces).toEqual(expect.any(Number));
  });

  it("shows a narrower admin key which database is full, without the pool's sizes or counts", async () => {
    const scoped = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "scoped admin",
      namespaces: ["team-*"],
      roles: ["admin"],
    });
    const s = await storage(scoped.body.key);
    const full = s.databases.find((d) => d.database === "DATA_DB_1");
    expect(full).toMatchObject({ pastFillThreshold: true, bytes: null, fullness: null, namespaces: null });
  });

  it("draws the databases table on the page, with the warning from the same data", async () => {
    const res = await get("/v1/admin/dashboard?window=1h");
    expect(res.status).toBe(200);
    expect(res.text).toContain('<table id="databases">');
    expect(res.text).toContain('"database":"DATA_DB_1"');
    expect(res.text).toContain('"pastFillThreshold":true');
  });
});
