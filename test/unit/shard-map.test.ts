// The shard map object: one answer per namespace, the least full index for a new one, counts that
// follow assignments and reports, a refusal when the pool is full, and namespaces that already
// have vectors in the default index kept there. Each test talks to its own object.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ShardPolicy } from "../../src/shards/policy";
import { freshNamespace, seedIndexedDocument } from "../support";

const policy: ShardPolicy = {
  indexes: ["pool-a", "pool-b"],
  defaultIndex: "main",
  dimensions: 768,
  maxVectors: 100,
  maxNamespaces: 4,
  fillThreshold: 0.9,
};

function freshMap() {
  return env.SHARD_MAP.get(env.SHARD_MAP.idFromName(`test-${crypto.randomUUID()}`));
}

type Stub = ReturnType<typeof freshMap>;

async function assign(map: Stub, ns: string, rules: ShardPolicy = policy): Promise<string> {
  const reply = await map.assign(ns, rules);
  if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
  return reply.value.index;
}

async function counts(map: Stub): Promise<Record<string, { namespaces: number; vectors: number }>> {
  const reply = await map.status();
  if (!reply.ok) throw new Error(reply.error.message);
  return Object.fromEntries(
    reply.value.indexes.map((u) => [u.index, { namespaces: u.namespaces, vectors: u.vectors }]),
  );
}

describe("the shard map", () => {
  it("spreads new namespaces over the pool and answers the same index for a namespace every time", async () => {
    const map = freshMap();
    const names = [freshNamespace("sm"), freshNamespace("sm"), freshNamespace("sm"), freshNamespace("sm")];
    const placed = [];
    for (const ns of names) placed.push(await assign(map, ns));
    expect(placed).toEqual(["pool-a", "pool-b", "pool-a", "pool-b"]);
    for (const [i, ns] of names.entries()) expect(await assign(map, ns)).toBe(placed[i]);
    // A caller with another policy gets the recorded answer too, and nothing is counted twice.
    expect(await assign(map, names[0] ?? "", { ...policy, indexes: ["pool-z"] })).toBe("pool-a");
    expect(await counts(map)).toEqual({
      "pool-a": { namespaces: 2, vectors: 0 },
      "pool-b": { namespaces: 2, vectors: 0 },
    });
    const lookup = await map.assignment(names[1] ?? "");
    expect(lookup).toMatchObject({ ok: true, value: { index: "pool-b", legacy: false } });
  });

  it("weighs reported vector counts, and skips an index reported with other dimensions", async () => {
    const map = freshMap();
    expect(await map.recordUsage([{ index: "pool-a", vectors: 50, dimensions: 768 }], Date.now())).toEqual({
      ok: true,
      value: 1,
    });
    // pool-a is half full by vectors: pool-b takes namespaces until it is as full by count.
    const placed = [];
    for (let i = 0; i < 2; i++) placed.push(await assign(map, freshNamespace("sm")));
    expect(placed).toEqual(["pool-b", "pool-b"]);
    await map.recordUsage([{ index: "pool-b", vectors: 0, dimensions: 384 }], Date.now());
    expect(await assign(map, freshNamespace("sm"))).toBe("pool-a");
  });

  it("refuses a new namespace when every pool index is at the threshold, with a clear, final error", async () => {
    const map = freshMap();
    const rules = { ...policy, maxNamespaces: 2, fillThreshold: 1 };
    const names = Array.from({ length: 4 }, () => freshNamespace("sm"));
    for (const ns of names) await assign(map, ns, rules);
    const refused = await map.assign(freshNamespace("sm"), rules);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error).toMatchObject({ code: "unavailable", retryable: false });
    expect(refused.error.message).toContain("pool-a, pool-b");
    expect(refused.error.message).toContain("add an index");
    // A namespace that already has its index still gets it, and the refused one was not counted.
    expect(await assign(map, names[0] ?? "", rules)).toBe("pool-a");
    expect(await counts(map)).toEqual({
      "pool-a": { namespaces: 2, vectors: 0 },
      "pool-b": { namespaces: 2, vectors: 0 },
    });
    // More room (a larger limit) opens the pool again.
    expect(await assign(map, freshNamespace("sm"), { ...rules, maxNamespaces: 3 })).toBe("pool-a");
  });

  it("keeps a namespace that already has indexed documents on the default index, outside the pool", async () => {
    const map = freshMap();
    const ns = freshNamespace("legacy");
    await seedIndexedDocument(ns);
    const reply = await map.assign(ns, policy);
    expect(reply).toMatchObject({ ok: true, value: { index: "main", legacy: true } });
    expect(await counts(map)).toEqual({ main: { namespaces: 1, vectors: 0 } });
    // A namespace whose first document is only queued is new: it goes to the pool.
    expect(await assign(map, freshNamespace("new"))).toBe("pool-a");
  });

  it("adopts namespaces from before the map once each, and keeps the scan's cursor", async () => {
    const map = freshMap();
    const placed = freshNamespace("sm");
    expect(await assign(map, placed)).toBe("pool-a");
    const old = [freshNamespace("old"), freshNamespace("old")];
    expect(await map.adopt([...old, placed], "main", old[1] ?? "")).toEqual({ ok: true, value: 2 });
    expect(await map.adopt(old, "main", "")).toEqual({ ok: true, value: 0 });
    expect(await counts(map)).toEqual({
      "pool-a": { namespaces: 1, vectors: 0 },
      main: { namespaces: 2, vectors: 0 },
    });
    expect(await map.assignment(placed)).toMatchObject({ value: { index: "pool-a", legacy: false } });
    expect(await map.assignment(old[0] ?? "")).toMatchObject({ value: { index: "main", legacy: true } });
    expect(await map.status()).toMatchObject({ value: { legacyCursor: "" } });
  });

  it("answers a malformed request with a problem, not a crash", async () => {
    const map = freshMap();
    const bad = await map.assign("ns", { ...policy, fillThreshold: 2 });
    expect(bad).toMatchObject({ ok: false, error: { code: "bad_request", retryable: false } });
    const report = await map.recordUsage([{ index: "", vectors: -1, dimensions: 0 }], Date.now());
    expect(report).toMatchObject({ ok: false, error: { code: "bad_request" } });
  });
});
