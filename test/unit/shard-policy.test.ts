// The shard policy: fullness against Vectorize's limits, which index a new namespace goes to,
// and the configuration that names the pool.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import {
  fullness,
  type IndexUsage,
  pickIndex,
  placementOf,
  refusal,
  type ShardPolicy,
  shardPolicy,
  withPlacement,
} from "../../src/shards/policy";
import { defaultVersion } from "../../src/versions/model";

const policy: ShardPolicy = {
  indexes: ["a", "b", "c"],
  defaultIndex: "a",
  dimensions: 768,
  maxVectors: 1000,
  maxNamespaces: 10,
  fillThreshold: 0.9,
};

const usage = (
  index: string,
  namespaces: number,
  vectors: number,
  dimensions: number | null = 768,
): IndexUsage => ({
  index,
  namespaces,
  vectors,
  dimensions,
  reportedAt: null,
});

describe("fullness", () => {
  it("is the larger of the vector and the namespace share", () => {
    expect(fullness({ vectors: 500, namespaces: 1 }, policy)).toBe(0.5);
    expect(fullness({ vectors: 100, namespaces: 7 }, policy)).toBe(0.7);
    expect(fullness({ vectors: 0, namespaces: 0 }, policy)).toBe(0);
  });
});

describe("pickIndex", () => {
  it("takes the least full pool index, the first listed on a tie, and counts an unseen index as empty", () => {
    expect(pickIndex([], policy)).toBe("a");
    expect(pickIndex([usage("a", 1, 0)], policy)).toBe("b");
    expect(pickIndex([usage("a", 1, 0), usage("b", 1, 0)], policy)).toBe("c");
    // Vectors weigh as much as namespaces: 600 of 1000 vectors is fuller than 3 of 10 namespaces.
    expect(pickIndex([usage("a", 1, 600), usage("b", 3, 0), usage("c", 4, 0)], policy)).toBe("b");
  });

  it("skips indexes at the fill threshold and refuses when every one is there", () => {
    expect(pickIndex([usage("a", 9, 0), usage("b", 0, 900), usage("c", 8, 0)], policy)).toBe("c");
    expect(pickIndex([usage("a", 9, 0), usage("b", 0, 900), usage("c", 1, 950)], policy)).toBeNull();
  });

  it("never picks an index outside the pool or one reported with other dimensions", () => {
    const only = { ...policy, indexes: ["b", "c"] };
    expect(pickIndex([usage("a", 0, 0), usage("b", 5, 0), usage("c", 2, 0, 384)], only)).toBe("b");
    expect(refusal(usage("a", 0, 0), only)).toBe("not_in_pool");
    expect(refusal(usage("c", 0, 0, 384), only)).toBe("dimensions");
    expect(refusal(usage("b", 9, 0), only)).toBe("full");
    // Dimensions are unknown until the index holds a vector.
    expect(refusal(usage("b", 0, 0, null), only)).toBeNull();
  });
});

describe("the placement the coordinator receives", () => {
  it("travels with the default version and is validated on arrival", () => {
    const config = loadConfig(env);
    const defaults = defaultVersion(config);
    expect(placementOf(defaults)).toBeNull();
    const placed = withPlacement(defaults, shardPolicy(config, defaults));
    expect(placementOf(placed)).toEqual({
      indexes: [config.vectorizeIndexName],
      defaultIndex: config.vectorizeIndexName,
      dimensions: 768,
      maxVectors: 10_000_000,
      maxNamespaces: 50_000,
      fillThreshold: 0.9,
    });
    expect(() => placementOf({ ...defaults, placement: { ...policy, indexes: [] } } as never)).toThrow(
      /invalid shard placement policy/,
    );
  });
});

describe("configuration", () => {
  const base = { BACKEND: "local", VECTORIZE_INDEX_NAME: "main-768" };

  it("defaults to the default index alone, with Vectorize's limits", () => {
    expect(loadConfig({ ...base }).shards).toEqual({
      indexes: ["main-768"],
      maxVectors: 10_000_000,
      maxNamespaces: 50_000,
      fillThreshold: 0.9,
    });
  });

  it("takes a pool of the default index and indexes listed in VECTORIZE_INDEXES", () => {
    const config = loadConfig({
      ...base,
      VECTORIZE_INDEXES: "shard-b:VECTORIZE_B, shard-c:VECTORIZE_C",
      VECTORIZE_SHARDS: "main-768, shard-b,shard-c",
      SHARD_MAX_VECTORS: "100",
      SHARD_MAX_NAMESPACES: "3",
      SHARD_FILL_THRESHOLD: "1",
    });
    expect(config.shards).toEqual({
      indexes: ["main-768", "shard-b", "shard-c"],
      maxVectors: 100,
      maxNamespaces: 3,
      fillThreshold: 1,
    });
  });

  it("refuses a shard that is not bound, a repeated one, and a threshold outside (0, 1]", () => {
    expect(() => loadConfig({ ...base, VECTORIZE_SHARDS: "main-768,shard-x" })).toThrow(
      /VECTORIZE_SHARDS: "shard-x" must be VECTORIZE_INDEX_NAME or an index listed in VECTORIZE_INDEXES/,
    );
    expect(() =>
      loadConfig({ ...base, VECTORIZE_INDEXES: "shard-b:VECTORIZE_B", VECTORIZE_SHARDS: "shard-b,shard-b" }),
    ).toThrow(/VECTORIZE_SHARDS: lists an index twice/);
    expect(() => loadConfig({ ...base, SHARD_FILL_THRESHOLD: "0" })).toThrow(/SHARD_FILL_THRESHOLD/);
    expect(() => loadConfig({ ...base, SHARD_FILL_THRESHOLD: "1.5" })).toThrow(/SHARD_FILL_THRESHOLD/);
    expect(() => loadConfig({ ...base, SHARD_MAX_NAMESPACES: "0" })).toThrow(/SHARD_MAX_NAMESPACES/);
  });
});
