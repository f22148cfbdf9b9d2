// The quality watch within the Free plan's invocation limits: a golden set larger than one run's
// share (QUALITY_LIMITS.queries.free) is scored over several scheduled runs, each within the 50 D1
// queries of a Free invocation, health check included. A file of its own: the health check's cost
// grows with the namespaces other tests leave behind.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { QUALITY_LIMITS } from "../../src/versions/quality-watch";
import { api, freshNamespace, waitIndexed } from "../support";
import { runFreeCron } from "../support/cron";
import { slice } from "../support/scifact";

interface QualityBody {
  versions: {
    version: string;
    pass: { scored: number } | null;
    points: { ndcg: number; queries: number }[];
  }[];
}

describe("quality watch budget", () => {
  it("scores 3 golden queries over 3 Free-plan runs of 1, each within 50 D1 queries", async () => {
    const ns = freshNamespace("qwb");
    const { docs, golden } = slice(60);
    const queries = golden.slice(0, 3);
    expect(queries).toHaveLength(3);
    expect(QUALITY_LIMITS.queries.free).toBe(1);
    expect((await api("POST", `/v1/namespaces/${ns}/documents`, { documents: docs })).status).toBe(202);
    await waitIndexed(ns, docs.length);
    await api("PUT", `/v1/namespaces/${ns}/golden-queries`, { queries });

    const progress: (number | null)[] = [];
    for (let run = 0; run < 3; run++) {
      const report = await runFreeCron(ns);
      expect(report?.plan).toBe("free");
      expect(report?.exceeded ?? null).toBeNull();
      expect(report?.counts.d1Queries).toBeLessThanOrEqual(50);
      const body = (await api<QualityBody>("GET", `/v1/namespaces/${ns}/versions/quality`)).body;
      const v1 = body.versions.find((v) => v.version === "v1");
      progress.push(v1?.points.length ? -v1.points.length : (v1?.pass?.scored ?? null));
    }
    // One query, two, then the pass completes: one point over all three.
    expect(progress).toEqual([1, 2, -1]);
    const row = await env.DB.prepare(
      "SELECT queries FROM quality_points WHERE namespace = ?1 AND version = 'v1'",
    )
      .bind(ns)
      .first<{ queries: number }>();
    expect(row?.queries).toBe(3);
  }, 120_000);
});
