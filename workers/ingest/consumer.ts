// The ingest queue's consumer: runs processMessage for each message (a few at a time, smallest
// document first) and applies its decision as soon as that message is done. Nothing is dropped: a
// crash in processing retries the message, a message that can never be processed is recorded in
// D1 before it is acknowledged. Each message is acked or retried on its own because "Messages that
// are explicitly acknowledged will not be re-delivered, even if your queue consumer fails on a
// subsequent message and/or fails to return successfully when processing a batch"
// (https://developers.cloudflare.com/queues/configuration/batching-retries/#explicit-acknowledgement-and-retries):
// when one runaway document gets the invocation killed, only the messages still in flight return.
import { type BackupTaskDeps, isBackupTask } from "../../src/backup/messages";
import { processBackupTask } from "../../src/backup/task";
import { publishGenerations } from "../../src/cache/generation";
import { errorMessage } from "../../src/errors";
import { smallestFirst } from "../../src/ingest/budget";
import { backoffSeconds, processMessage } from "../../src/ingest/pipeline";
import { processVersionTask, type VersionTaskDeps } from "../../src/migrations/backfill";
import { mapLimit } from "../../src/util/concurrency";
import { isVersionTask } from "../../src/versions/messages";
import { recordDeadLetter } from "./dead-letter";

const CONCURRENCY = 6;

export async function consumeIngest(
  batch: MessageBatch<unknown>,
  deps: VersionTaskDeps & Pick<BackupTaskDeps, "backups">,
  db: D1Database,
): Promise<void> {
  const changed = new Set<string>();
  await mapLimit(smallestFirst(batch.messages), CONCURRENCY, async (message) => {
    try {
      // Version builds and purges, backups and restores share the queue with document events.
      const decision = isBackupTask(message.body)
        ? await processBackupTask({ ...deps, db }, message.body, message.attempts)
        : isVersionTask(message.body)
          ? await processVersionTask(deps, message.body, message.attempts)
          : await processMessage(deps, message.body, message.attempts);
      switch (decision.type) {
        case "ack":
          if (decision.namespace && (decision.outcome === "indexed" || decision.outcome === "deleted")) {
            changed.add(decision.namespace);
          }
          message.ack();
          return;
        case "retry":
          message.retry({ delaySeconds: decision.delaySeconds });
          return;
        case "dead-letter":
          await recordDeadLetter(db, message, decision.reason);
          deps.logger.warn("ingest.dead_letter", { messageId: message.id, reason: decision.reason });
          message.ack();
          return;
      }
    } catch (err) {
      deps.logger.error("ingest.crashed", { messageId: message.id, err, error: errorMessage(err) });
      message.retry({ delaySeconds: backoffSeconds(message.attempts) });
    }
  });
  // Once per batch and namespace, through the namespace's coordinator, which paces the key's
  // writes: KV allows one write per second per key, and batches run concurrently.
  await publishGenerations(deps.versions.coordinator, changed, deps.config.generationCacheTtlMs, deps.logger);
}
