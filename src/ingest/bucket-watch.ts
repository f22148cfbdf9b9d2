// The local stand-in for R2 event notifications, for writes made outside the Worker: an object
// that `wrangler r2 object put --local` (or `delete`) writes into Miniflare's storage from another
// process runs no Worker code, so the bucket wrapper (local-notifications.ts) never sees it. A
// watcher (workers/objects/local-bucket-watcher.ts) lists the bucket a page at a time, compares
// each key's eTag with its snapshot and sends the create or delete message R2 would have sent,
// through the same rule and queue code as the wrapper.
//
// One write, one message: the wrapper records each write it announces in the snapshot (claims
// below), so a pass that lists it later finds nothing new; and when a pass lists a write before
// the wrapper's record of it arrives, the watcher announces it and the record finds it announced
// (within CLAIM_WINDOW_MS) and sends nothing.
//
// A pass compares what it lists page by page: a key listed with another eTag than recorded (or
// unknown) is a create; a recorded key that no page of a finished pass listed is looked up
// (head), and a delete if it is gone. Each step lists one page (or looks up SWEEP_KEYS keys). The
// first pass only records (a baseline): like a rule created on a bucket, the watcher reports what
// happens after it starts, and its snapshot persists, so writes made while the dev server was
// stopped are reported when it starts again.
import { z } from "zod";
import type { LocalBucketWatcherRpc, WatchChange } from "../objects/local-bucket-watcher";
import { deleteMessage, type IngestMessage, putMessage } from "./messages";

/**
 * Keys one step lists: R2's list() returns at most 1,000 keys per call (R2ListOptions `limit`,
 * https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#r2listoptions); Miniflare
 * refuses more with "MaxKeys params must be positive integer <= 1000." (cloudflare/workers-sdk,
 * packages/miniflare/src/workers/r2/validator.worker.ts, `R2Limits.MAX_LIST_KEYS`).
 */
export const WATCH_PAGE_KEYS = 1000;
/** Recorded keys a step checks with head() when its pass did not list them. */
export const SWEEP_KEYS = 100;
/** How long a change the watcher announced can still be claimed by the Worker's own record of it. */
export const CLAIM_WINDOW_MS = 60_000;

/** One key's row in the snapshot. */
export interface SnapshotRow {
  key: string;
  /** null: deleted, its deletion announced by the watcher at `noticedAt` (a tombstone). */
  etag: string | null;
  /** The last pass that listed (or recorded) the key. */
  pass: number;
  /** When the watcher announced this version (null: announced by the Worker, or a baseline). */
  noticedAt: number | null;
}

export interface WatchState {
  pass: number;
  cursor: string | null;
  /** The pass only records what it lists. */
  baseline: boolean;
}

/** The watcher's storage: rows by key, and where the current pass stands. */
export interface Snapshot {
  state(): WatchState;
  setState(state: WatchState): void;
  rows(keys: string[]): Map<string, SnapshotRow>;
  /** Rows with an eTag that `pass` has not listed (their pass is lower), at most `limit`. */
  unseen(pass: number, limit: number): SnapshotRow[];
  put(row: SnapshotRow): void;
  remove(key: string): void;
  /** Drops tombstones and forgets announcements noticed before `before`. */
  expire(before: number): void;
}

export interface WatchDeps {
  bucket: R2Bucket;
  snapshot: Snapshot;
  bucketName: string;
  /** Sends the messages the rule covers (local-notifications.ts, `notifier`). */
  notify: (messages: IngestMessage[]) => Promise<void>;
  now?: () => number;
}

export interface StepReport {
  /** The step finished a pass (the next one starts from the first key). */
  passEnded: boolean;
  /** What the step found changed, whether or not the rule covers it. */
  changes: WatchChange[];
}

/** Lists one page of the bucket, compares it with the snapshot and announces what changed. */
export async function watchStep(deps: WatchDeps): Promise<StepReport> {
  const now = deps.now ?? Date.now;
  const state = deps.snapshot.state();
  const step = new StepChanges(deps);
  const listed = await deps.bucket.list({
    limit: WATCH_PAGE_KEYS,
    ...(state.cursor ? { cursor: state.cursor } : {}),
  });
  compareListed(deps, state, listed.objects, step, now);
  // The pass listed every key: a recorded key it did not list was deleted, or was recorded by the
  // Worker after the pass listed past it; asking the bucket tells which.
  const passEnded = !listed.truncated;
  if (passEnded) await sweepUnlisted(deps, state, step, now);
  try {
    await deps.notify(step.messages);
  } catch (err) {
    step.undo();
    throw err;
  }
  const { changes } = step;
  // A pass ends once no recorded key is left unlisted (more than a step's share: the next step,
  // which lists the last page again).
  if (!passEnded) {
    deps.snapshot.setState({ ...state, cursor: listed.truncated ? listed.cursor : null });
    return { passEnded: false, changes };
  }
  if (deps.snapshot.unseen(state.pass, 1).length > 0) return { passEnded: false, changes };
  deps.snapshot.expire(now() - CLAIM_WINDOW_MS);
  deps.snapshot.setState({ pass: state.pass + 1, cursor: null, baseline: false });
  return { passEnded: true, changes };
}

/**
 * What a step changes: the changes it reports, the messages it sends, and each snapshot row it
 * changes as it was (null: none). Rows are recorded at once (and undone if the send fails, so the
 * next step finds the same changes again): a claim that arrives during the send sees the
 * announcement.
 */
class StepChanges {
  readonly changes: WatchChange[] = [];
  readonly messages: IngestMessage[] = [];
  private readonly undoLog: { key: string; before: SnapshotRow | null }[] = [];
  private readonly deps: WatchDeps;

  constructor(deps: WatchDeps) {
    this.deps = deps;
  }

  record(before: SnapshotRow | null, key: string, after: SnapshotRow | null): void {
    this.undoLog.push({ key, before });
    if (after) this.deps.snapshot.put(after);
    else this.deps.snapshot.remove(key);
  }

  created(key: string, size: number, etag: string, at: Date): void {
    this.changes.push({ action: "PutObject", key });
    this.messages.push(putMessage(this.deps.bucketName, key, size, etag, at));
  }

  deleted(key: string, at: Date): void {
    this.changes.push({ action: "DeleteObject", key });
    this.messages.push(deleteMessage(this.deps.bucketName, key, at));
  }

  /** Puts back every row the step changed, the last change first. */
  undo(): void {
    for (const u of this.undoLog.reverse()) {
      if (u.before) this.deps.snapshot.put(u.before);
      else this.deps.snapshot.remove(u.key);
    }
  }
}

/** Records the listed page: a key with another eTag than recorded (or unknown) is a create. */
function compareListed(
  deps: WatchDeps,
  state: WatchState,
  objects: R2Object[],
  step: StepChanges,
  now: () => number,
): void {
  // Read after the list: a record the Worker made meanwhile is already here.
  const known = deps.snapshot.rows(objects.map((o) => o.key));
  for (const object of objects) {
    const row = known.get(object.key) ?? null;
    const changed = row?.etag !== object.etag;
    const announce = changed && !state.baseline;
    step.record(row, object.key, {
      key: object.key,
      etag: object.etag,
      pass: state.pass,
      noticedAt: announce ? now() : (row?.noticedAt ?? null),
    });
    if (announce) step.created(object.key, object.size, object.etag, object.uploaded);
  }
}

/** Looks up recorded keys the ended pass did not list: each is still there, changed, or deleted. */
async function sweepUnlisted(
  deps: WatchDeps,
  state: WatchState,
  step: StepChanges,
  now: () => number,
): Promise<void> {
  for (const candidate of deps.snapshot.unseen(state.pass, SWEEP_KEYS)) {
    const object = await deps.bucket.head(candidate.key);
    const row = deps.snapshot.rows([candidate.key]).get(candidate.key) ?? null;
    // Recorded anew by the Worker meanwhile: its record stands.
    if (!row || row.etag !== candidate.etag || row.pass !== candidate.pass) continue;
    if (object?.etag === row.etag) {
      step.record(row, row.key, { ...row, pass: state.pass });
    } else if (state.baseline) {
      step.record(row, row.key, object ? { ...row, etag: object.etag, pass: state.pass } : null);
    } else if (object) {
      step.record(row, row.key, { key: row.key, etag: object.etag, pass: state.pass, noticedAt: now() });
      step.created(row.key, object.size, object.etag, object.uploaded);
    } else {
      step.record(row, row.key, { ...row, etag: null, noticedAt: now() });
      step.deleted(row.key, new Date(now()));
    }
  }
}

/** Whether the Worker announces its own create of `etag` (false: the watcher already did). */
export function claimCreated(snapshot: Snapshot, key: string, etag: string, now = Date.now()): boolean {
  const row = snapshot.rows([key]).get(key);
  const announced = row?.etag === etag && row.noticedAt !== null && now - row.noticedAt < CLAIM_WINDOW_MS;
  // Marked as not listed by the current pass: if the pass has listed past the key, its end asks
  // the bucket whether the object is still there.
  snapshot.put({ key, etag, pass: snapshot.state().pass - 1, noticedAt: null });
  return !announced;
}

/** The keys whose deletion the Worker announces (the others the watcher already did). */
export function claimDeleted(snapshot: Snapshot, keys: string[], now = Date.now()): string[] {
  const rows = snapshot.rows(keys);
  return keys.filter((key) => {
    const row = rows.get(key);
    snapshot.remove(key);
    return !(row && row.etag === null && row.noticedAt !== null && now - row.noticedAt < CLAIM_WINDOW_MS);
  });
}

/** What the bucket wrapper records its own writes through (local-notifications.ts). */
export interface NotificationClaims {
  /** Records a create made through the Worker; false when the watcher already announced it. */
  created(key: string, etag: string): Promise<boolean>;
  /** Records deletes made through the Worker; the keys the watcher has not announced. */
  deleted(keys: string[]): Promise<string[]>;
}

/** The name of the one watcher object of the documents bucket. */
export const WATCHER_NAME = "documents";

/** The claims, made on the documents bucket's watcher object (`name`). */
export function watcherClaims(
  namespace: DurableObjectNamespace<LocalBucketWatcherRpc>,
  name = WATCHER_NAME,
): NotificationClaims {
  const stub = () => namespace.get(namespace.idFromName(name));
  return {
    created: async (key, etag) => z.boolean().parse(await stub().claimCreated(key, etag)),
    deleted: async (keys) => z.array(z.string()).parse(await stub().claimDeleted(keys)),
  };
}
