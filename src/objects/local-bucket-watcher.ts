// What the local bucket watcher object (workers/objects/local-bucket-watcher.ts) answers over RPC:
// the methods its callers (the bucket wrapper's claims in src/ingest/bucket-watch.ts, tests) use,
// which the class implements.
import type { NotificationRule } from "../ingest/notification-rule";

/** A change a watcher step found, whether or not the rule covers it. */
export interface WatchChange {
  action: "PutObject" | "DeleteObject";
  key: string;
}

export interface PassOptions {
  /** The rule to apply (default: the documents bucket's, notification-rule.json). */
  rule?: NotificationRule;
  /** Where the messages go (default: the ingest queue). */
  queue?: Queue;
}

export interface LocalBucketWatcherRpc extends Rpc.DurableObjectBranded {
  /** Arms the alarm if it is not armed; false (and nothing armed) outside local mode with notifications. */
  start(): Promise<boolean>;
  /** Runs steps until a pass ends; what they found changed. Local mode only. */
  pass(options?: PassOptions): Promise<WatchChange[]>;
  claimCreated(key: string, etag: string): boolean;
  claimDeleted(keys: string[]): string[];
}
