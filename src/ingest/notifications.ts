// Which queue messages shaped as R2 event notifications are documents to ingest. Only the
// documents bucket's: a notification names the bucket it comes from ("bucket": "The name of the
// bucket where the event occurred", https://developers.cloudflare.com/r2/buckets/event-notifications/#message-format),
// and any bucket of the account can have a rule that sends to the ingest queue. Within the
// documents bucket, not "_backups/": a rule without prefix or suffix applies to every object of
// its bucket (same page, "Notes"), and deployments that kept backups there before backups got a
// bucket of their own still notify for them (deleting old backups, say). Both are acknowledged,
// logged and counted, never ingested and never dead-lettered.
//
// A restore writes each document to R2 before the D1 row that records it (the row needs the
// object's eTag), so the object's create notification can arrive while the row is still to come.
// Such an object carries the restore's job id (RESTORED_BY): while that restore runs, the
// notification is a no-op, as it is once the row is committed (indexed at the same eTag).
import { BACKUP_PREFIX } from "../backup/format";
import { JobStore } from "../backup/jobs";
import type { Config } from "../config";
import type { IngestMessage } from "./messages";

/** Custom metadata key a restore sets on the documents it writes: the restore job's id. */
export const RESTORED_BY = "restoredBy";

export interface IgnoredNotification {
  reason: string;
  /** What the metrics point is counted under: "_backups", or "" for another bucket. */
  namespace: string;
  level: "info" | "warn";
}

/** Why the consumer must not ingest this message at all, or null when it is a document event. */
export function ignoredNotification(
  config: Pick<Config, "documentsBucketName">,
  message: IngestMessage,
): IgnoredNotification | null {
  if (message.bucket !== config.documentsBucketName) {
    return {
      reason: `notification from bucket "${message.bucket}", not the documents bucket "${config.documentsBucketName}" (DOCUMENTS_BUCKET_NAME): ignored`,
      namespace: "",
      level: "warn",
    };
  }
  if (message.object.key.startsWith(`${BACKUP_PREFIX}/`)) {
    return {
      reason: `"${message.object.key}" is a backup object in the documents bucket, not a document (backups are written to the BACKUPS bucket): ignored`,
      namespace: BACKUP_PREFIX,
      level: "info",
    };
  }
  return null;
}

/** The id of the running restore into `namespace` that wrote this object (and commits its row), or null. */
export async function restoreWriting(
  db: D1Database,
  namespace: string,
  object: R2Object,
): Promise<string | null> {
  const id = object.customMetadata?.[RESTORED_BY];
  if (!id) return null;
  const job = await new JobStore(db).byId(id);
  return job?.kind === "restore" && job.namespace === namespace && job.state === "running" ? id : null;
}
