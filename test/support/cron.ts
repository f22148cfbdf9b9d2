// Running the Worker's scheduled handler (the index health check and its repairs) in a test.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { IngestMessage } from "../../src/ingest/messages";
import type { BudgetReport } from "../../src/observe/invocation-budget";
import worker from "../../workers/index";
import { observeBudgets } from "../../workers/invocation-budget";
import { HeldQueue } from "../fakes/held-queue";

/**
 * One cron run with the ingest queue replaced by `queue` and `vars` over the env; answers the
 * messages it sent for namespace `ns`.
 */
export async function runCron(
  queue: HeldQueue,
  ns: string,
  vars: Record<string, string> = {},
): Promise<IngestMessage[]> {
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ cron: "*/5 * * * *" }),
    { ...env, ...vars, INGEST_QUEUE: queue } as unknown as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return queue.take().filter((m) => m.object.key.startsWith(`${ns}/`));
}

/** One Free-plan cron run, and its invocation budget report. */
export async function runFreeCron(ns: string): Promise<BudgetReport | undefined> {
  const reports: BudgetReport[] = [];
  const stop = observeBudgets((r) => reports.push(r));
  try {
    await runCron(new HeldQueue(), ns, { PLAN_LIMITS: "free" });
  } finally {
    stop();
  }
  return reports.find((r) => r.handler === "scheduled");
}
