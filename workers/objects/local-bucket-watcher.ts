// The documents bucket's watcher, a local stand-in only (BACKEND=local with R2_NOTIFICATIONS on,
// as `npm run dev` runs): its alarm runs a step of src/ingest/bucket-watch.ts every
// WATCH_INTERVAL_MS, so objects written beside the Worker (`wrangler r2 object put --local`) are
// announced on the ingest queue as R2 announces them when deployed. The snapshot (key -> eTag) is
// kept in SQLite and outlives the dev server. Deployed, the class is bound but inert: nothing arms
// it, and its alarm and start() do nothing unless the configuration is local with notifications.
import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../../src/config";
import {
  claimCreated,
  claimDeleted,
  type Snapshot,
  type SnapshotRow,
  type StepReport,
  WATCHER_NAME,
  type WatchState,
  watchStep,
} from "../../src/ingest/bucket-watch";
import { notifier } from "../../src/ingest/local-notifications";
import { DOCUMENTS_NOTIFICATION_RULE } from "../../src/ingest/notification-rule";
import type { LocalBucketWatcherRpc, PassOptions } from "../../src/objects/local-bucket-watcher";
import { createLogger } from "../../src/observe/logger";
import { withLocalQueueLimits } from "../../src/util/queue-limits";
import type { WorkerEnv } from "../env";
import { readMeta, writeMeta } from "./meta";

/**
 * The pause between passes (a pass with more pages goes on at once), and at least
 * BUSY_FACTOR times the pass's own time: an unchanged pass over 5,000 keys took about 420 ms
 * locally, so a large bucket is watched less often rather than keeping the dev server busy.
 */
export const WATCH_INTERVAL_MS = 1000;
const BUSY_FACTOR = 4;
/** The pause after a failed step (the queue or the bucket refused): the step is retried. */
const RETRY_MS = 5000;

class SqlSnapshot implements Snapshot {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS snapshot (
      key TEXT PRIMARY KEY, etag TEXT, pass INTEGER NOT NULL, noticed_at INTEGER)`);
    sql.exec("CREATE INDEX IF NOT EXISTS snapshot_pass ON snapshot (pass) WHERE etag IS NOT NULL");
    sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  }

  state(): WatchState {
    const raw = readMeta(this.sql, "state");
    return raw ? (JSON.parse(raw) as WatchState) : { pass: 1, cursor: null, baseline: true };
  }

  setState(state: WatchState): void {
    writeMeta(this.sql, "state", JSON.stringify(state));
  }

  rows(keys: string[]): Map<string, SnapshotRow> {
    const found = new Map<string, SnapshotRow>();
    // 100 bound parameters at most per statement (docs/platform-limits.md, Durable Objects).
    for (let i = 0; i < keys.length; i += 100) {
      const slice = keys.slice(i, i + 100);
      const cursor = this.sql.exec<{
        key: string;
        etag: string | null;
        pass: number;
        noticed_at: number | null;
      }>(
        `SELECT key, etag, pass, noticed_at FROM snapshot WHERE key IN (${slice.map(() => "?").join(",")})`,
        ...slice,
      );
      for (const r of cursor)
        found.set(r.key, { key: r.key, etag: r.etag, pass: r.pass, noticedAt: r.noticed_at });
    }
    return found;
  }

  unseen(pass: number, limit: number): SnapshotRow[] {
    return this.sql
      .exec<{ key: string; etag: string; pass: number; noticed_at: number | null }>(
        "SELECT key, etag, pass, noticed_at FROM snapshot WHERE etag IS NOT NULL AND pass < ? LIMIT ?",
        pass,
        limit,
      )
      .toArray()
      .map((r) => ({ key: r.key, etag: r.etag, pass: r.pass, noticedAt: r.noticed_at }));
  }

  put(row: SnapshotRow): void {
    this.sql.exec(
      `INSERT INTO snapshot (key, etag, pass, noticed_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET etag = excluded.etag, pass = excluded.pass, noticed_at = excluded.noticed_at`,
      row.key,
      row.etag,
      row.pass,
      row.noticedAt,
    );
  }

  remove(key: string): void {
    this.sql.exec("DELETE FROM snapshot WHERE key = ?", key);
  }

  expire(before: number): void {
    this.sql.exec("DELETE FROM snapshot WHERE etag IS NULL AND noticed_at < ?", before);
    this.sql.exec("UPDATE snapshot SET noticed_at = NULL WHERE noticed_at < ?", before);
  }
}

export class LocalBucketWatcher extends DurableObject<Env> implements LocalBucketWatcherRpc {
  private readonly snapshot: SqlSnapshot;
  private readonly log = createLogger("info", { component: "bucket-watcher" });
  /** Milliseconds the alarm's steps of the current pass took (reset when the object restarts). */
  private passBusyMs = 0;
  /** Steps run one at a time (the alarm and pass() share the cursor). */
  private running: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.snapshot = new SqlSnapshot(ctx.storage.sql);
  }

  /** Arms the alarm if it is not armed; false (and nothing armed) outside local mode with notifications. */
  async start(): Promise<boolean> {
    if (!this.watching()) return false;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
    return true;
  }

  override async alarm(): Promise<void> {
    if (!this.watching()) return;
    let next = WATCH_INTERVAL_MS;
    const started = Date.now();
    try {
      const report = await this.step({});
      this.passBusyMs += Date.now() - started;
      if (!report.passEnded) next = 0;
      else {
        next = Math.max(WATCH_INTERVAL_MS, BUSY_FACTOR * this.passBusyMs);
        this.passBusyMs = 0;
      }
    } catch (err) {
      next = RETRY_MS;
      this.log.warn("bucket_watch.step_failed", { error: err instanceof Error ? err.message : String(err) });
    }
    await this.ctx.storage.setAlarm(Date.now() + next);
  }

  /** Runs steps until a pass ends; what they found changed. Local mode only. */
  async pass(options: PassOptions = {}): Promise<StepReport["changes"]> {
    if (this.env.BACKEND !== "local") throw new Error("the bucket watcher runs in local mode only");
    const changes: StepReport["changes"] = [];
    for (;;) {
      const report = await this.step(options);
      changes.push(...report.changes);
      if (report.passEnded) return changes;
    }
  }

  claimCreated(key: string, etag: string): boolean {
    return claimCreated(this.snapshot, key, etag);
  }

  claimDeleted(keys: string[]): string[] {
    return claimDeleted(this.snapshot, keys);
  }

  private watching(): boolean {
    const config = loadConfig(this.env);
    return config.backend === "local" && config.r2Notifications;
  }

  private step(options: PassOptions): Promise<StepReport> {
    const run = this.running.then(async () => {
      const config = loadConfig(this.env);
      const queue = options.queue ?? withLocalQueueLimits(this.env).INGEST_QUEUE;
      const report = await watchStep({
        bucket: this.env.DOCUMENTS,
        snapshot: this.snapshot,
        bucketName: config.documentsBucketName,
        notify: notifier(options.rule ?? DOCUMENTS_NOTIFICATION_RULE, queue),
      });
      if (report.changes.length > 0) {
        this.log.info("bucket_watch.changes", {
          changes: report.changes.slice(0, 20),
          count: report.changes.length,
        });
      }
      return report;
    });
    this.running = run.catch(() => undefined);
    return run;
  }
}

// Isolate-lifetime: the watcher was started from this isolate (its alarm then keeps it going).
let armed = false;

/**
 * Starts the documents bucket's watcher from a Worker invocation, once per isolate, in local mode
 * with notifications only; `npm run dev` makes a request as soon as the server is up.
 */
export function armLocalBucketWatcher(env: WorkerEnv, ctx: ExecutionContext): void {
  if (armed || env.BACKEND !== "local") return;
  const config = loadConfig(env);
  if (!config.r2Notifications) return;
  armed = true;
  const stub = env.BUCKET_WATCHER.get(env.BUCKET_WATCHER.idFromName(WATCHER_NAME));
  ctx.waitUntil(
    stub.start().catch((err: unknown) => {
      armed = false;
      createLogger(config.logLevel, { component: "bucket-watcher" }).warn("bucket_watch.start_failed", {
        error: err instanceof Error ? err.message : String(err),
      });
    }),
  );
}
