// Version builds within one invocation's D1 queries (50 on the Free plan, 1,000 on Workers Paid):
// each build step goes through the real queue consumer under the invocation budget
// (INVOCATION_BUDGET=throw fails an invocation over the limit), with the queue held here, so the
// messages a batch sends or retries are delivered again, batch by batch, until the builds end.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BACKFILL_BATCH } from "../../src/migrations/backfill";
import type { NewVersionRequest } from "../../src/migrations/lifecycle";
import { type BudgetReport, PLAN_LIMITS, type Plan } from "../../src/observe/invocation-budget";
import worker from "../../workers/index";
import { observeBudgets } from "../../workers/invocation-budget";
import { api, freshNamespace, waitIndexed, waitVersionReady } from "../support";
import { createHeldV2, HeldTasks } from "../support/versions";

const QUEUE = "edgesearch-ingest";
/** max_batch_size of the ingest consumer in wrangler.toml. */
const MAX_BATCH_SIZE = 10;
const MODEL = "@cf/baai/bge-small-en-v1.5";
/** Other chunking: each document is read from R2. */
const RECHUNKED: NewVersionRequest = { model: MODEL, chunking: { maxTokens: 128, overlapTokens: 16 } };
/** The same chunking: each document's chunks are copied, a query more per document. */
const COPIED: NewVersionRequest = { model: MODEL };

async function ingest(ns: string, count: number): Promise<void> {
  const documents = Array.from({ length: count }, (_, i) => ({
    id: `doc-${String(i).padStart(2, "0")}`,
    text: `Chamois group ${i} grazed the scree below the col at first light.`,
  }));
  expect((await api("POST", `/v1/namespaces/${ns}/documents`, { documents })).status).toBe(202);
  await waitIndexed(ns, count, 120_000);
}

let seq = 0;

/**
 * Delivers the tasks as one batch to the Worker's queue handler on `plan`; answers the
 * invocation's budget report and what to deliver next (what it sent, and what it retried).
 */
async function deliver(
  tasks: unknown[],
  plan: Plan,
): Promise<{ report: BudgetReport; next: unknown[]; retried: number }> {
  const batch = createMessageBatch(
    QUEUE,
    tasks.map((body) => ({ id: `build-${++seq}`, timestamp: new Date(), attempts: 1, body })),
  );
  const queue = new HeldTasks();
  const reports: BudgetReport[] = [];
  const stop = observeBudgets((r) => reports.push(r));
  const ctx = createExecutionContext();
  try {
    await worker.queue(batch, { ...env, PLAN_LIMITS: plan, INGEST_QUEUE: queue } as unknown as Env, ctx);
  } finally {
    stop();
  }
  const result = await getQueueResult(batch, ctx);
  const retried = new Set(result.retryMessages.map((m) => m.msgId));
  // The real queue may deliver a message of its own meanwhile (on the test env's plan, Paid): the
  // Free plan tells this invocation's report apart; on Paid, the larger one is reported.
  const report = reports
    .filter((r) => r.handler === `queue ${QUEUE}` && r.plan === plan)
    .sort((a, b) => b.counts.d1Queries - a.counts.d1Queries)[0];
  if (!report) throw new Error("the queue invocation reported no budget");
  return {
    report,
    next: [...queue.held, ...batch.messages.filter((m) => retried.has(m.id)).map((m) => m.body)],
    retried: retried.size,
  };
}

/**
 * Delivers the tasks, max_batch_size at a time, until nothing is left; answers each invocation's
 * report and the deliveries retried.
 */
async function build(first: unknown[], plan: Plan): Promise<{ reports: BudgetReport[]; retried: number }> {
  const reports: BudgetReport[] = [];
  let retried = 0;
  let pending = first;
  while (pending.length > 0) {
    expect(reports.length, "invocations").toBeLessThan(40);
    const delivered = await deliver(pending.slice(0, MAX_BATCH_SIZE), plan);
    reports.push(delivered.report);
    retried += delivered.retried;
    pending = [...pending.slice(MAX_BATCH_SIZE), ...delivered.next];
  }
  return { reports, retried };
}

function expectWithin(reports: BudgetReport[], plan: Plan): void {
  for (const report of reports) {
    expect(report.plan).toBe(plan);
    expect(report.exceeded ?? null).toBeNull();
    expect(report.counts.d1Queries).toBeLessThanOrEqual(PLAN_LIMITS[plan].d1Queries);
  }
  const counts = reports.map((r) => r.counts.d1Queries).join(", ");
  console.log(`${plan}: D1 queries per invocation ${counts}`);
}

async function built(ns: string): Promise<number> {
  const res = await api<{ build: { done: number } | null }>("GET", `/v1/namespaces/${ns}/versions/v2`);
  return res.body.build?.done ?? 0;
}

describe("version build budget", () => {
  it("builds two namespaces of 12 documents at once on the Free plan, each invocation within its 50 D1 queries", async () => {
    const namespaces = [freshNamespace("bbf"), freshNamespace("bbf")];
    for (const ns of namespaces) await ingest(ns, 12);
    const first = [];
    for (const ns of namespaces) first.push(await createHeldV2(ns, RECHUNKED));
    const { reports, retried } = await build(first, "free");
    expectWithin(reports, "free");
    // A step that did not fit was sent back, not retried: it cost no delivery attempt.
    expect(retried).toBe(0);
    for (const ns of namespaces) {
      await waitVersionReady(ns, "v2");
      expect(await built(ns), ns).toBe(12);
    }
  }, 150_000);

  it("runs a Paid batch of three build steps within its 1,000 D1 queries, the last one smaller", async () => {
    const namespaces = [freshNamespace("bbp"), freshNamespace("bbp"), freshNamespace("bbp")];
    for (const ns of namespaces) await ingest(ns, BACKFILL_BATCH);
    const first = [];
    for (const ns of namespaces) first.push(await createHeldV2(ns, COPIED));
    const { reports, retried } = await build(first, "paid");
    expectWithin(reports, "paid");
    expect(retried).toBe(0);
    for (const ns of namespaces) {
      await waitVersionReady(ns, "v2");
      expect(await built(ns), ns).toBe(BACKFILL_BATCH);
    }
  }, 300_000);
});
