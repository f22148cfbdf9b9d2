// The ingest queue's consumer: runs processMessage for each message (a few at a time, smallest
// document first) and applies its decision as soon as that message is done. Nothing is dropped: a
// crash in processing retries the message, a message that can never be processed is recorded in
// D1 before it is acknowledged. Each message is acked or retried on its own because "Messages that
// are explicitly acknowledged will not be re-delivered, even if your queue consumer fails on a
// subsequent message and/or fails to return successfully when processing a batch"
// (https://developers.cloudflare.com/queues/configuration/batching-retries/#explicit-acknowledgement-and-retries):
// when one runaway document gets the invocation killed, only the messages still in flight return.
// Before that, fairness (src/ingest/fairness.ts) may send some of a namespace's messages back to
// the queue with a delay: the copy is sent first, then the original acked. A document starts
// only while its worst case fits in the D1 queries the invocation has left (QueryAdmission); the
// others go back to the queue the same way. Version build steps run last, one at a time, each
// sized to the D1 queries the invocation has left; a step for which none are left goes back too.

import { type BackupTaskDeps, isBackupTask } from "../../src/backup/messages";
import { processBackupTask } from "../../src/backup/task";
import { publishGenerations } from "../../src/cache/generation";
import { isErasureTask } from "../../src/erasure/jobs";
import { processErasureTask } from "../../src/erasure/task";
import { errorMessage } from "../../src/errors";
import { smallestFirst } from "../../src/ingest/budget";
import {
  deferralDelaySeconds,
  deferredBody,
  fairnessItem,
  IngestLedger,
  planFairness,
} from "../../src/ingest/fairness";
import { backoffSeconds, processMessage } from "../../src/ingest/pipeline";
import {
  documentQueries,
  heldBack,
  heldBackBody,
  heldBackFirst,
  isDocumentMessage,
  QueryAdmission,
} from "../../src/ingest/query-budget";
import { processVersionTask, stepDocuments, type VersionTaskDeps } from "../../src/migrations/backfill";
import { isMoveTask } from "../../src/moves/jobs";
import { processMoveTask } from "../../src/moves/task";
import { PLAN_LIMITS, type Plan } from "../../src/observe/invocation-budget";
import type { Logger } from "../../src/observe/logger";
import { Meter } from "../../src/observe/meter";
import { queueChunks } from "../../src/observe/metered";
import type { Metrics } from "../../src/observe/metrics";
import type { D1Like } from "../../src/store/d1";
import type { DatabasePool } from "../../src/store/pool";
import { mapLimit } from "../../src/util/concurrency";
import { pageQueueMessages } from "../../src/util/queue-limits";
import { BackfillTaskSchema, isVersionTask } from "../../src/versions/messages";
import { recordDeadLetter } from "./dead-letter";

const CONCURRENCY = 6;
/** How long a document or build step sent back for want of D1 queries waits: the next batch may take it. */
const SEND_BACK_SECONDS = 1;

/** `plan`: the Workers plan, whose D1 queries per invocation bound the batch's documents and build steps. */
export async function consumeIngest(
  batch: MessageBatch<unknown>,
  deps: ConsumerDeps,
  db: D1Database,
  plan: Plan = "paid",
): Promise<void> {
  // The services' meter, which their D1 databases count every query into: the build steps are
  // sized by it.
  const meter = deps.meter ?? new Meter();
  const steps = batch.messages.filter((m) => BackfillTaskSchema.safeParse(m.body).success);
  const rest = batch.messages.filter((m) => !steps.includes(m));
  const { first, last } = await deferOverShare(smallestFirst(rest), deps, db);
  // Documents start while their worst case fits in the D1 queries the invocation has left; the
  // rest go back to the queue and come first in the next batch.
  const admission = new QueryAdmission(meter, PLAN_LIMITS[plan].d1Queries);
  // The heaviest namespace's documents start once the rest of the batch is done (and its search
  // generations are published): run beside them, their parsing would hold the other namespaces'
  // small documents (one isolate, one thread).
  for (const wave of [heldBackFirst(first), heldBackFirst(last)]) {
    if (wave.length === 0) continue;
    const changed = new Set<string>();
    // Each message is one document's work: its own meter scope, for its ingest point's counters.
    // Queues bill the delivery (a read) and the ack (a delete) per 64 KB chunk (metered.ts).
    await mapLimit(wave, CONCURRENCY, async (message) => {
      const admitted = isDocumentMessage(message.body)
        ? await admission.admit(documentQueries(message.body))
        : undefined;
      if (admitted === null) {
        meter.add("queueOperations", queueChunks(message.body));
        return sendBack(message, heldBackBody(message.body), deps, "ingest.held_back", {
          heldBack: heldBack(message.body) + 1,
          d1Queries: meter.total().d1Queries,
        });
      }
      try {
        return await meter.scope(() => {
          meter.add("queueOperations", queueChunks(message.body));
          return consumeOne(message, deps, db, changed, meter);
        }, admitted?.counters);
      } finally {
        if (admitted) admission.done(admitted);
      }
    });
    await publishChanged(deps, changed);
  }
  await runBuildSteps(steps, deps, db, meter, admission);
}

/**
 * Sends a message the invocation has no D1 queries left for back to the queue with `body`: its
 * copy first, then the original acked, so it spends no delivery attempt; retried when the copy
 * cannot be sent. Logs `event` with `fields` once sent, `<event>_failed` when not.
 */
async function sendBack(
  message: Message<unknown>,
  body: unknown,
  deps: ConsumerDeps,
  event: string,
  fields: Record<string, unknown>,
): Promise<void> {
  try {
    await deps.queue.send(body, { contentType: "json", delaySeconds: SEND_BACK_SECONDS });
    message.ack();
    deps.logger.info(event, { messageId: message.id, ...fields });
  } catch (err) {
    deps.logger.warn(`${event}_failed`, { messageId: message.id, error: errorMessage(err) });
    message.retry({ delaySeconds: SEND_BACK_SECONDS });
  }
}

/**
 * Runs the batch's version build steps one after another, once the rest of the batch is done, so
 * that what the invocation has spent is known: each step takes the documents that fit in the D1
 * queries the documents' admission says are left ("Queries per Worker invocation", PLAN_LIMITS;
 * the meter counts every query of the services' databases; the same reserve for a dead letter),
 * and a step for which not one document fits is sent back to the queue (sendBack).
 */
async function runBuildSteps(
  steps: Message<unknown>[],
  deps: ConsumerDeps,
  db: D1Database,
  meter: Meter,
  admission: QueryAdmission,
): Promise<void> {
  const changed = new Set<string>();
  for (const message of steps) {
    const documents = stepDocuments(admission.left());
    if (documents > 0) {
      await meter.scope(() => {
        meter.add("queueOperations", queueChunks(message.body));
        return consumeOne(message, deps, db, changed, meter, documents);
      });
      continue;
    }
    const task = BackfillTaskSchema.parse(message.body);
    await sendBack(message, message.body, deps, "versions.step_deferred", {
      namespace: task.namespace,
      version: task.version,
      d1Queries: meter.total().d1Queries,
    });
  }
  await publishChanged(deps, changed);
}

/**
 * Publishes the search generations of the namespaces a wave changed.
 * Once per wave and namespace, through the namespace's coordinator, which paces the key's
 * writes: KV allows one write per second per key, and batches run concurrently. The batch does
 * not wait for its turn (up to a second): the coordinator's alarm writes it. Waiting held up
 * every namespace's next batch where batches run one at a time: locally, Miniflare delivers
 * the next batch only once one has ended (workers-sdk packages/miniflare/src/workers/queues/
 * broker.worker.ts, `#flush`).
 */
async function publishChanged(deps: ConsumerDeps, changed: ReadonlySet<string>): Promise<void> {
  await publishGenerations(
    deps.versions.coordinator,
    changed,
    deps.config.generationCacheTtlMs,
    deps.logger,
    "scheduled",
  );
}

type ConsumerDeps = VersionTaskDeps & Pick<BackupTaskDeps, "backups"> & { meter?: Meter; pool: DatabasePool };

/**
 * Processes one message and applies its decision; adds the namespace it changed to `changed`.
 * `documents`: a build step's size (stepDocuments).
 */
async function consumeOne(
  message: Message<unknown>,
  deps: ConsumerDeps,
  db: D1Database,
  changed: Set<string>,
  meter: Meter,
  documents?: number,
): Promise<void> {
  try {
    // Version builds and purges, backups and restores, moves and erasures share the queue with document events.
    const decision = isBackupTask(message.body)
      ? await processBackupTask({ ...deps, db }, message.body, message.attempts)
      : isMoveTask(message.body)
        ? await processMoveTask({ ...deps, db }, message.body, message.attempts)
        : isErasureTask(message.body)
          ? await processErasureTask(
              { ...deps, db, publisher: deps.versions.coordinator },
              message.body,
              message.attempts,
            )
          : isVersionTask(message.body)
            ? await processVersionTask(deps, message.body, message.attempts, documents)
            : await processMessage(deps, message.body, message.attempts);
    switch (decision.type) {
      case "ack":
        if (decision.namespace && (decision.outcome === "indexed" || decision.outcome === "deleted")) {
          changed.add(decision.namespace);
        }
        meter.add("queueOperations", queueChunks(message.body));
        message.ack();
        return;
      case "retry":
        message.retry({ delaySeconds: decision.delaySeconds });
        return;
      case "dead-letter":
        await recordDeadLetter(db, message, decision.reason);
        deps.logger.warn("ingest.dead_letter", { messageId: message.id, reason: decision.reason });
        meter.add("queueOperations", queueChunks(message.body));
        message.ack();
        return;
    }
  } catch (err) {
    deps.logger.error("ingest.crashed", { messageId: message.id, err, error: errorMessage(err) });
    message.retry({ delaySeconds: backoffSeconds(message.attempts) });
  }
}

/** A message to send back: its namespace, key and cost, and its deferral count once sent. */
interface Deferral {
  message: Message<unknown>;
  namespace: string;
  key: string | null;
  deferrals: number;
  cost: number;
}

/**
 * Sends back the messages of namespaces over their share (planFairness) and returns the messages
 * to process now: `first`, then `last` (the heaviest namespace's). Fails open: without the
 * ledger, or when a send fails, messages are processed.
 */
async function deferOverShare(
  messages: Message<unknown>[],
  deps: { queue: Queue; logger: Logger; metrics: Metrics; pool: { members(): readonly D1Like[] } },
  db: D1Database,
): Promise<{ first: Message<unknown>[]; last: Message<unknown>[] }> {
  const items = messages.map((m) => fairnessItem(m.body, m.attempts));
  const namespaces = [...new Set(items.flatMap((i) => (i.namespace === null ? [] : [i.namespace])))];
  if (namespaces.length === 0) return { first: messages, last: [] };
  const ledger = new IngestLedger(db, () => deps.pool.members());
  let plan: ReturnType<typeof planFairness>;
  try {
    plan = planFairness(items, await ledger.recent(namespaces));
  } catch (err) {
    deps.logger.warn("ingest.fairness_unavailable", { error: errorMessage(err) });
    return { first: messages, last: [] };
  }
  const deferrals: Deferral[] = messages.flatMap((message, i) => {
    const item = items[i];
    return plan.defer[i] && item?.namespace
      ? [
          {
            message,
            namespace: item.namespace,
            key: item.key,
            deferrals: item.deferrals + 1,
            cost: item.cost,
          },
        ]
      : [];
  });
  const sent = await sendDeferrals(deferrals, deps.queue, deps.logger);
  const deferred = new Map<string, number>();
  for (const { message, namespace, key, deferrals, cost } of sent) {
    message.ack();
    deferred.set(namespace, (deferred.get(namespace) ?? 0) + 1);
    deps.logger.info("ingest.deferred", {
      messageId: message.id,
      namespace,
      key,
      deferrals,
      delaySeconds: deferralDelaySeconds(deferrals),
      share: Math.round(plan.share),
    });
    deps.metrics.ingest({
      namespace,
      outcome: "deferred",
      chunks: 0,
      bytes: cost,
      totalMs: 0,
      lagMs: 0,
      attempts: message.attempts,
    });
  }
  await ledger.record(plan.admitted, deferred, namespaces).catch((err: unknown) => {
    deps.logger.warn("ingest.fairness_unavailable", { error: errorMessage(err) });
  });
  // The rest, including a message whose copy could not be sent, in smallest-first order.
  const gone = new Set(sent.map((d) => d.message));
  const kept = messages.flatMap((message, i) => (gone.has(message) ? [] : [{ message, last: plan.last[i] }]));
  return {
    first: kept.flatMap((k) => (k.last ? [] : [k.message])),
    last: kept.flatMap((k) => (k.last ? [k.message] : [])),
  };
}

/** Sends the copies in sendBatch calls Queues accepts; returns the deferrals whose copy was sent. */
async function sendDeferrals(deferrals: Deferral[], queue: Queue, logger: Logger): Promise<Deferral[]> {
  const requests = deferrals.map(({ message, deferrals }) => ({
    body: deferredBody(message.body, deferrals),
    contentType: "json" as const,
    delaySeconds: deferralDelaySeconds(deferrals),
  }));
  const sent: Deferral[] = [];
  let pages: MessageSendRequest[][];
  try {
    pages = pageQueueMessages(requests);
  } catch (err) {
    logger.warn("ingest.defer_failed", { messages: requests.length, error: errorMessage(err) });
    return sent;
  }
  let offset = 0;
  for (const page of pages) {
    const pageDeferrals = deferrals.slice(offset, offset + page.length);
    offset += page.length;
    try {
      await queue.sendBatch(page);
      sent.push(...pageDeferrals);
    } catch (err) {
      logger.warn("ingest.defer_failed", { messages: page.length, error: errorMessage(err) });
    }
  }
  return sent;
}
