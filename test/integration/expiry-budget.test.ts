// The expiry purge within the Free plan's invocation limits: one scheduled run, health check
// included, stays within 50 D1 queries and purges one namespace, oldest expiry first. A file of
// its own: the health check's cost grows with the namespaces other tests leave behind.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PURGE_LIMITS } from "../../src/ingest/expiry";
import type { BudgetReport } from "../../src/observe/invocation-budget";
import worker from "../../workers/index";
import { observeBudgets } from "../../workers/invocation-budget";
import { countRows, freshNamespace } from "../support";

const LIVE_ROWS = "SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND status != 'deleted'";

/** Three expired, indexed document rows straight in D1, expiring `ageMs` ago. */
async function seedExpired(ns: string, ageMs: number): Promise<void> {
  const now = Date.now();
  for (const id of ["a", "b", "c"]) {
    await env.DB.prepare(
      `INSERT INTO documents (namespace, id, status, content_type, chunk_count, created_at, updated_at, expires_at)
       VALUES (?1, ?2, 'indexed', 'text/plain', 0, ?3, ?3, ?3 - ?4)`,
    )
      .bind(ns, id, now, ageMs)
      .run();
  }
}

/** One scheduled run with `vars`, and its invocation budget report. */
async function runCron(vars: Record<string, string>): Promise<BudgetReport | undefined> {
  const reports: BudgetReport[] = [];
  const stop = observeBudgets((r) => reports.push(r));
  try {
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), { ...env, ...vars }, ctx);
    await waitOnExecutionContext(ctx);
  } finally {
    stop();
  }
  return reports.find((r) => r.handler === "scheduled");
}

describe("expiry purge budget", () => {
  it(`purges ${PURGE_LIMITS.namespaces.free} namespace a run on the Free plan, within its 50 D1 queries`, async () => {
    const namespaces = [freshNamespace("eb"), freshNamespace("eb"), freshNamespace("eb")];
    // The first expired longest ago: the purge takes the earliest expiries first.
    for (const [i, ns] of namespaces.entries()) await seedExpired(ns, 30_000 - i * 10_000);
    const first = await runCron({ PLAN_LIMITS: "free" });
    expect(first?.plan).toBe("free");
    expect(first?.exceeded ?? null).toBeNull();
    expect(await Promise.all(namespaces.map((ns) => countRows(LIVE_ROWS, ns)))).toEqual([0, 3, 3]);
    await runCron({ PLAN_LIMITS: "free" });
    await runCron({ PLAN_LIMITS: "free" });
    expect(await Promise.all(namespaces.map((ns) => countRows(LIVE_ROWS, ns)))).toEqual([0, 0, 0]);
  });
});
