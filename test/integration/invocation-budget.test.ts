// The invocation budget of local mode: D1 queries and subrequests counted against the plan's
// limits, an invocation over them failing (tests) or warned about (dev), and D1's size limits on
// bound values, which the local D1 does not apply by itself.
import { createExecutionContext, createMessageBatch } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { BudgetReport } from "../../src/observe/invocation-budget";
import { MirroredDataset } from "../../src/observe/local-dataset";
import { D1_VALUE_TOO_BIG } from "../../src/store/d1-limits";
import { type WorkerEnv, workerEnv } from "../../workers/env";
import worker from "../../workers/index";
import { observeBudgets, underBudget, withInvocationBudget } from "../../workers/invocation-budget";

function budgeted(vars: Record<string, string> = {}): WorkerEnv {
  return withInvocationBudget({ ...workerEnv(env), ...vars } as WorkerEnv);
}

/** `n` D1 queries: a batch of all but one (each statement counts), then one on its own. */
async function queries(db: D1Database, n: number): Promise<void> {
  if (n > 1) await db.batch(Array.from({ length: n - 1 }, (_, i) => db.prepare("SELECT ?1 AS n").bind(i)));
  await db.prepare("SELECT 1 AS n").first();
}

/** Runs `work` as one invocation and returns its counts (and what it threw, if anything). */
async function invocation(
  e: WorkerEnv,
  work: () => Promise<unknown>,
): Promise<{ report: BudgetReport; error: unknown }> {
  const reports: BudgetReport[] = [];
  const stop = observeBudgets((r) => reports.push(r));
  let error: unknown = null;
  try {
    await underBudget(e, "test", work);
  } catch (err) {
    error = err;
  } finally {
    stop();
  }
  const report = reports[0];
  if (!report) throw new Error("no budget report");
  return { report, error };
}

describe("invocation budget", () => {
  it("fails an invocation over the Paid plan's 1,000 D1 queries, naming the limit and the count", async () => {
    const e = budgeted();
    const within = await invocation(e, () => queries(e.DB, 1000));
    expect(within.error).toBeNull();
    expect(within.report.counts.d1Queries).toBe(1000);

    const over = await invocation(e, () => queries(e.DB, 1001));
    expect(String(over.error)).toContain(
      "Too many API requests by single worker invocation: 1001 D1 queries per Worker invocation, over the Workers Paid limit of 1000",
    );
  });

  it("counts each statement of a batch as a D1 query, and the batch as one subrequest", async () => {
    const e = budgeted();
    const batch = (n: number) =>
      e.DB.batch(Array.from({ length: n }, (_, i) => e.DB.prepare("SELECT ?1 AS n").bind(i)));
    const { report, error } = await invocation(e, () => batch(3));
    expect(error).toBeNull();
    expect(report.counts).toMatchObject({ d1Queries: 3, serviceSubrequests: 1 });
    const over = await invocation(e, () => batch(1001));
    expect(String(over.error)).toContain("1001 D1 queries");
    expect(over.report.counts.serviceSubrequests).toBe(1);
  });

  it('applies the Free plan\'s limits with PLAN_LIMITS = "free": 50 D1 queries', async () => {
    const e = budgeted({ PLAN_LIMITS: "free" });
    expect((await invocation(e, () => queries(e.DB, 50))).error).toBeNull();
    expect(String((await invocation(e, () => queries(e.DB, 51))).error)).toContain(
      "51 D1 queries per Worker invocation, over the Workers Free limit of 50",
    );
  });

  it("does not count the metric points the local stand-in writes to D1, which Analytics Engine takes on Cloudflare", async () => {
    const marker = `points-${crypto.randomUUID()}`;
    const dataset = new MirroredDataset(undefined);
    for (let i = 0; i < 60; i++) dataset.writeDataPoint({ indexes: [marker], blobs: ["test"] });
    const reports: BudgetReport[] = [];
    const stop = observeBudgets((r) => reports.push(r));
    const batch = createMessageBatch("edgesearch-ingest", []);
    try {
      await worker.queue(batch, { ...env, PLAN_LIMITS: "free" } as unknown as Env, createExecutionContext());
    } finally {
      stop();
    }
    const report = reports.find((r) => r.handler === "queue edgesearch-ingest" && r.plan === "free");
    expect(report?.exceeded ?? null).toBeNull();
    expect(report?.counts.d1Queries).toBe(0);
    const flushed = await env.DB.prepare("SELECT COUNT(*) AS n FROM local_metrics WHERE index1 = ?1")
      .bind(marker)
      .first<{ n: number }>();
    expect(flushed?.n).toBe(60);
  });

  it("counts KV, R2, queue and Durable Object calls as subrequests", async () => {
    const e = budgeted({ PLAN_LIMITS: "free" });
    const { report, error } = await invocation(e, async () => {
      await e.KV.get("budget-probe");
      await e.KV.put("budget-probe", "1");
      await e.DOCUMENTS.head("budget-probe");
      await e.SHARD_MAP.get(e.SHARD_MAP.idFromName("budget-probe")).assignment("budget-probe");
    });
    expect(error).toBeNull();
    expect(report.counts).toMatchObject({ d1Queries: 0, serviceSubrequests: 4, subrequests: 4 });

    // At once (one by one takes seconds); every call settles before the test goes on.
    const over = await invocation(e, async () => {
      const settled = await Promise.allSettled(
        Array.from({ length: 1001 }, async () => e.KV.get("budget-probe")),
      );
      const refused = settled.find((s) => s.status === "rejected");
      if (refused) throw refused.reason;
    });
    expect(String(over.error)).toContain(
      "1001 subrequests to Cloudflare services per invocation, over the Workers Free limit of 1000",
    );
  }, 30_000);

  it('only warns with INVOCATION_BUDGET = "warn" (npm run dev)', async () => {
    const e = budgeted({ PLAN_LIMITS: "free", INVOCATION_BUDGET: "warn" });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      const { report, error } = await invocation(e, () => queries(e.DB, 52));
      expect(error).toBeNull();
      expect(report.exceeded?.limit).toBe("d1Queries");
      const lines = warn.mock.calls
        .map((c) => String(c[0]))
        .filter((l) => l.includes("invocation.limit_exceeded"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("51 D1 queries per Worker invocation");
    } finally {
      warn.mockRestore();
    }
  });

  it("wraps nothing with BACKEND=cloudflare, where the platform enforces its limits", () => {
    const raw = { ...workerEnv(env), BACKEND: "cloudflare" } as WorkerEnv;
    expect(withInvocationBudget(raw)).toBe(raw);
  });
});

describe("D1 statement limits in local mode", () => {
  const table = async (db: D1Database) => {
    await db.prepare("CREATE TABLE IF NOT EXISTS budget_values (v)").run();
    return db;
  };

  it("refuses a string or blob over 2,000,000 bytes with D1's error, alone or in a batch", async () => {
    const e = budgeted();
    const db = await table(e.DB);
    const insert = db.prepare("INSERT INTO budget_values (v) VALUES (?1)");
    await expect(insert.bind("x".repeat(2_000_000)).run()).resolves.toMatchObject({ success: true });
    // 1,000,000 two-byte characters: 1,000,000 UTF-16 units but 2,000,000 bytes, plus one.
    await expect(insert.bind(`${"é".repeat(1_000_000)}x`).run()).rejects.toThrow(D1_VALUE_TOO_BIG);
    await expect(insert.bind(new Uint8Array(2_000_001)).run()).rejects.toThrow(D1_VALUE_TOO_BIG);
    await expect(db.batch([insert.bind("ok"), insert.bind("x".repeat(2_000_001))])).rejects.toThrow(
      D1_VALUE_TOO_BIG,
    );
  });

  // No guard of ours: the local D1 refuses these as D1 does. If it ever stopped, this fails.
  it("is refused by the local D1 itself past 100 bound parameters or 100,000 bytes of SQL", async () => {
    const db = budgeted().DB;
    const params = Array.from({ length: 101 }, (_, i) => i);
    await expect(
      db
        .prepare(`SELECT ${params.map(() => "?").join(", ")}`)
        .bind(...params)
        .all(),
    ).rejects.toThrow(/D1_ERROR: too many SQL variables at offset \d+: SQLITE_ERROR/);
    await expect(db.prepare(`SELECT 1 ${" ".repeat(99_992)}`).all()).rejects.toThrow(
      "D1_ERROR: statement too long: SQLITE_TOOBIG",
    );
    await expect(db.prepare(`SELECT 1 ${" ".repeat(99_991)}`).all()).resolves.toMatchObject({
      success: true,
    });
  });
});
