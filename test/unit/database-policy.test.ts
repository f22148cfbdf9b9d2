// Where a new namespace's documents go: the least full data database by reported size, then by
// namespace count, then by the pool's order; none past the fill threshold. And the configuration
// that names the pool, refused when it names a database the Worker has no binding for.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import {
  type DatabaseUsage,
  pickDatabase,
  type StoragePolicy,
  storagePolicy,
} from "../../src/shards/databases";
import { databaseBytes } from "../../src/store/d1-size";

const policy: StoragePolicy = {
  databases: ["DB", "DATA_DB_1", "DATA_DB_2"],
  maxBytes: 1000,
  fillThreshold: 0.8,
};
const usage = (database: string, namespaces: number, bytes: number): DatabaseUsage => ({
  database,
  namespaces,
  bytes,
  reportedAt: null,
});

describe("pickDatabase", () => {
  it("takes the first in the pool's order when all are empty and unseen", () => {
    expect(pickDatabase([], policy)).toBe("DB");
  });

  it("takes the one with fewest namespaces among databases of about the same size", () => {
    const known = [usage("DB", 2, 105), usage("DATA_DB_1", 1, 100), usage("DATA_DB_2", 1, 102)];
    expect(pickDatabase(known, policy)).toBe("DATA_DB_1");
    expect(pickDatabase([usage("DB", 1, 0), usage("DATA_DB_1", 1, 0)], policy)).toBe("DATA_DB_2");
  });

  it("takes the smallest by bytes when sizes differ by more than the tie margin", () => {
    const known = [usage("DB", 0, 500), usage("DATA_DB_1", 9, 100), usage("DATA_DB_2", 0, 300)];
    expect(pickDatabase(known, policy)).toBe("DATA_DB_1");
  });

  it("skips databases at the fill threshold, and answers null when every one is", () => {
    const known = [usage("DB", 0, 800), usage("DATA_DB_1", 0, 900), usage("DATA_DB_2", 5, 100)];
    expect(pickDatabase(known, policy)).toBe("DATA_DB_2");
    expect(pickDatabase([...known.slice(0, 2), usage("DATA_DB_2", 0, 800)], policy)).toBeNull();
  });
});

describe("D1_DATA_DATABASES", () => {
  const base = { ...env, BACKEND: "local" };

  it("lists the pool in order, with D1's size limit and the fill threshold", () => {
    const config = loadConfig({
      ...base,
      D1_DATA_DATABASES: "DB, DATA_DB_1,DATA_DB_2",
      D1_FILL_THRESHOLD: "0.7",
    });
    expect(storagePolicy(config)).toEqual({
      databases: ["DB", "DATA_DB_1", "DATA_DB_2"],
      maxBytes: 10_000_000_000,
      fillThreshold: 0.7,
    });
    expect(loadConfig({ ...base, D1_DATA_DATABASES: "" }).d1.databases).toEqual(["DB"]);
  });

  it("refuses a name the Worker has no D1 binding for, naming it", () => {
    expect(() => loadConfig({ ...base, D1_DATA_DATABASES: "DB,DATA_DB_9" })).toThrow(
      /D1_DATA_DATABASES: "DATA_DB_9" must be D1 bindings of this Worker/,
    );
    expect(() => loadConfig({ ...base, D1_DATA_DATABASES: "DB,KV" })).toThrow(/"KV" must be D1 bindings/);
  });

  it("refuses a database listed twice or a name that is not a binding name", () => {
    expect(() => loadConfig({ ...base, D1_DATA_DATABASES: "DB,DB" })).toThrow(/lists a database twice/);
    expect(() => loadConfig({ ...base, D1_DATA_DATABASES: "edgesearch-data-1" })).toThrow(
      /must be D1 binding names/,
    );
  });
});

describe("databaseBytes", () => {
  it("reads the size D1 reports with every result, which grows as rows are written", async () => {
    const before = await databaseBytes(env.DATA_DB_2);
    expect(before).toBeGreaterThan(0);
    await env.DATA_DB_2.prepare("INSERT INTO local_metrics (timestamp, index1, blob1) VALUES (0, 'size', ?1)")
      .bind("x".repeat(200_000))
      .run();
    expect(await databaseBytes(env.DATA_DB_2)).toBeGreaterThan(before);
  });

  it("cannot use PRAGMA page_count, which D1 does not allow", async () => {
    await expect(env.DB.prepare("PRAGMA page_count").first()).rejects.toThrow(/not authorized/);
  });
});
