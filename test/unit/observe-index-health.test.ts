// The index health check against D1 with a vector index that lost vectors or cannot answer.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  checkIndexHealth,
  D1_MAX_DATABASE_BYTES,
  D1_SIZE_WARN_RATIO,
  healthState,
} from "../../src/observe/index-health";
import { api, freshNamespace, waitForStatus } from "../support";

describe("healthState", () => {
  it("fails on what hides documents from search, warns on the rest", () => {
    expect(healthState([])).toBe("ok");
    expect(healthState(["dead_letters"])).toBe("warn");
    expect(healthState(["dead_letters", "missing_vectors"])).toBe("fail");
    expect(healthState(["stuck_queued"])).toBe("fail");
  });
});

describe("checkIndexHealth", () => {
  it("reports the D1 database's size and warns at 80% of the plan's limit", async () => {
    const index = { getByIds: async () => [], describe: async () => ({ vectorCount: 0 }) };
    const check = (databaseLimitBytes?: number) =>
      checkIndexHealth({ db: env.DB, index }, { stuckAfterMs: 60_000, maxNamespaces: 0, databaseLimitBytes });
    const { totals } = await check();
    expect(totals.databaseLimitBytes).toBe(D1_MAX_DATABASE_BYTES.paid);
    const size = totals.databaseBytes ?? 0;
    expect(size).toBeGreaterThan(0);
    expect(totals.problems).not.toContain("database_size_high");
    // A limit the database has reached 80% of: the totals warn.
    const small = await check(Math.floor(size / D1_SIZE_WARN_RATIO));
    expect(small.totals.problems).toContain("database_size_high");
    expect(small.totals.state).not.toBe("ok");
    // Just under 80% of a limit: no warning.
    const roomy = await check(Math.ceil(size / D1_SIZE_WARN_RATIO) + 4096 * 100);
    expect(roomy.totals.problems).not.toContain("database_size_high");
  });

  it("finds indexed chunks whose vectors are gone, and a vector index that does not answer", async () => {
    const ns = freshNamespace("health");
    await api("PUT", `/v1/namespaces/${ns}/documents/one`, {
      text: "A document that will lose its vectors.",
    });
    await waitForStatus(ns, "one", "indexed");
    const emptyIndex = {
      getByIds: async () => [],
      describe: async (): Promise<{ vectorCount: number }> => {
        throw new Error("index down");
      },
    };
    const report = await checkIndexHealth(
      { db: env.DB, index: emptyIndex },
      { stuckAfterMs: 60_000, settleMs: -60_000, now: Date.now() },
    );
    const mine = report.namespaces.find((n) => n.namespace === ns);
    expect(mine).toMatchObject({ state: "fail", problems: ["missing_vectors"], indexedDocuments: 1 });
    expect(mine?.missingVectors).toBe(mine?.sampledVectors);
    expect(mine?.sampledVectors).toBeGreaterThan(0);
    expect(report.totals.problems).toContain("index_unavailable");
    expect(report.totals.state).toBe("fail");

    // The same namespace with an index that has every vector is healthy.
    const fullIndex = {
      getByIds: async (ids: string[]) => ids.map((id) => ({ id })),
      describe: async () => ({ vectorCount: 1_000_000 }),
    };
    const healthy = await checkIndexHealth(
      { db: env.DB, index: fullIndex },
      { stuckAfterMs: 60_000, settleMs: -60_000 },
    );
    expect(healthy.namespaces.find((n) => n.namespace === ns)).toMatchObject({
      state: "ok",
      missingVectors: 0,
    });
  });
});
