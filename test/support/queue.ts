// Delivers one message to the Worker's queue handler as the Queues runtime would, and reports what
// the consumer did with it (acknowledged, retried).
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  type QueueResult,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { putMessage } from "../../src/ingest/messages";
import { type BudgetReport, PLAN_LIMITS, type Plan } from "../../src/observe/invocation-budget";
import { DocumentStore } from "../../src/store/documents";
import worker from "../../workers/index";
import { observeBudgets } from "../../workers/invocation-budget";
import { putObject } from "./index";
import { HeldTasks } from "./versions";

export interface DeliverOptions {
  /** The queue it arrives on: the ingest queue unless given. */
  queue?: string;
  /** Its delivery attempt, this one included (a message reaches the dead-letter queue at 6). */
  attempts?: number;
  /** The environment the handler runs with: the test environment unless given. */
  env?: Env;
}

export async function deliverMessage(body: unknown, options: DeliverOptions = {}): Promise<QueueResult> {
  const batch = createMessageBatch(options.queue ?? "edgesearch-ingest", [
    { id: `msg-${crypto.randomUUID()}`, timestamp: new Date(), attempts: options.attempts ?? 1, body },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, options.env ?? env, ctx);
  return getQueueResult(batch, ctx);
}

/**
 * A document whose ingest exhausted its retries on `error`, as after a dependency outage: its
 * object stored, its 6th failed delivery recorded, its message handed to the dead-letter queue's
 * consumer (as its first delivery there: a moved message counts again from 1), which records the
 * dead letter and marks the document failed. Its replay indexes it.
 */
export async function deadLetteredDocument(
  ns: string,
  id: string,
  text: string,
  error: string,
): Promise<QueueResult> {
  const key = `${ns}/${id}`;
  const object = await putObject(key, text);
  const store = new DocumentStore(env.DB);
  await store.upsertQueued(ns, [
    { id, title: null, contentType: "text/plain", metadata: {}, bytes: object.size, etag: object.etag },
  ]);
  await store.recordAttempt(ns, id, error, 6);
  const message = putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag);
  return deliverMessage(message, { queue: "edgesearch-ingest-dlq", attempts: 1 });
}

const INGEST_QUEUE = "edgesearch-ingest";
/** max_batch_size of the ingest consumer in wrangler.toml. */
export const MAX_BATCH_SIZE = 10;
let held = 0;

/**
 * Delivers the bodies as one batch to the Worker's queue handler on `plan`, with the queue it
 * sends to held here; answers the invocation's budget report and what to deliver next (what it
 * sent, and what it retried).
 */
export async function deliverHeld(
  bodies: unknown[],
  plan: Plan,
  queue: { held: unknown[] } = new HeldTasks(),
): Promise<{ report: BudgetReport; next: unknown[]; retried: number }> {
  const batch = createMessageBatch(
    INGEST_QUEUE,
    bodies.map((body) => ({ id: `held-${++held}`, timestamp: new Date(), attempts: 1, body })),
  );
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
    .filter((r) => r.handler === `queue ${INGEST_QUEUE}` && r.plan === plan)
    .sort((a, b) => b.counts.d1Queries - a.counts.d1Queries)[0];
  if (!report) throw new Error("the queue invocation reported no budget");
  return {
    report,
    next: [...queue.held, ...batch.messages.filter((m) => retried.has(m.id)).map((m) => m.body)],
    retried: retried.size,
  };
}

/**
 * Delivers the bodies, max_batch_size at a time, and what each batch sends or retries, until
 * nothing is left; answers each invocation's report and the deliveries retried.
 */
export async function drainHeld(
  first: unknown[],
  plan: Plan,
): Promise<{ reports: BudgetReport[]; retried: number }> {
  const reports: BudgetReport[] = [];
  let retried = 0;
  let pending = first;
  while (pending.length > 0) {
    expect(reports.length, "invocations").toBeLessThan(40);
    const delivered = await deliverHeld(pending.slice(0, MAX_BATCH_SIZE), plan);
    reports.push(delivered.report);
    retried += delivered.retried;
    pending = [...pending.slice(MAX_BATCH_SIZE), ...delivered.next];
  }
  return { reports, retried };
}

/** Asserts that each invocation stayed within the plan's D1 queries, and prints them. */
export function expectWithinD1(reports: BudgetReport[], plan: Plan, label: string): void {
  for (const report of reports) {
    expect(report.plan).toBe(plan);
    expect(report.exceeded ?? null).toBeNull();
    expect(report.counts.d1Queries).toBeLessThanOrEqual(PLAN_LIMITS[plan].d1Queries);
  }
  const counts = reports.map((r) => r.counts.d1Queries).join(", ");
  console.log(`${label} (${plan}): D1 queries per invocation ${counts}`);
}
