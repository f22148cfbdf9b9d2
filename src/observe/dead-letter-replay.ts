// Replay of transient dead letters by the scheduled check: a message that exhausted its retries
// on retryable errors (a dependency outage longer than the queue's backoff) is sent again through
// the admin replay path (src/ingest/replay.ts), after a delay that grows with each replay of the
// same document, at most MAX_AUTO_REPLAYS_PER_DOCUMENT times; later dead letters of that document
// wait for an operator (GET /v1/admin/dead-letters).
import { replayDeadLetters } from "../ingest/replay";
import type { D1Like } from "../store/d1";
import { QUEUE_MAX_BATCH_MESSAGES } from "../util/queue-limits";
import type { Logger } from "./logger";

/** Dead letters replayed per run: one sendBatch of at most 100 messages (src/util/queue-limits.ts). */
export const MAX_AUTO_REPLAYS_PER_RUN = QUEUE_MAX_BATCH_MESSAGES;
/** Replays by the check per document, across its dead letters. */
export const MAX_AUTO_REPLAYS_PER_DOCUMENT = 3;
/** The wait after a dead letter arrives before its replay: 5, 20, 80 minutes (x4 per replay). */
export const AUTO_REPLAY_BASE_DELAY_MS = 5 * 60_000;

export interface AutoReplayResult {
  /** Dead letters replayed, per namespace. */
  byNamespace: Map<string, number>;
  replayed: number;
}

interface Candidate {
  id: number;
  namespace: string;
  doc_id: string | null;
  body: string;
  replays: number;
}

export async function replayTransientDeadLetters(
  deps: {
    /** The control database (dead letters). */
    db: D1Database;
    /** A namespace's database of the pool (its document rows). */
    documents: (namespace: string) => D1Like;
    queue: Queue;
    logger: Logger;
  },
  options: { now?: number; maxPerRun?: number } = {},
): Promise<AutoReplayResult> {
  const now = options.now ?? Date.now();
  // `replays`: the document's dead letters the check already replayed. A row is due once
  // BASE * 4^replays has passed since it arrived.
  const { results } = await deps.db
    .prepare(
      `WITH pending AS (
         SELECT d.id, d.namespace, d.doc_id, d.body, d.received_at,
           (SELECT COUNT(*) FROM dead_letters p WHERE p.namespace = d.namespace AND p.doc_id IS d.doc_id
              AND p.auto_replayed = 1) AS replays
         FROM dead_letters d
         WHERE d.replayed_at IS NULL AND d.transient = 1 AND d.namespace IS NOT NULL)
       SELECT id, namespace, doc_id, body, replays FROM pending
       WHERE replays < ?2 AND received_at + ?3 * (1 << (2 * replays)) <= ?1
       ORDER BY received_at LIMIT ?4`,
    )
    .bind(
      now,
      MAX_AUTO_REPLAYS_PER_DOCUMENT,
      AUTO_REPLAY_BASE_DELAY_MS,
      options.maxPerRun ?? MAX_AUTO_REPLAYS_PER_RUN,
    )
    .all<Candidate>();
  // Two dead letters of one document: replaying the oldest is enough for this run.
  const seen = new Set<string>();
  const due = results.filter((r) => {
    const key = `${r.namespace}/${r.doc_id}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const replayed = await replayDeadLetters(deps.db, deps.documents, deps.queue, due, { now, auto: true });
  const result: AutoReplayResult = { byNamespace: new Map(), replayed: replayed.length };
  const replays = new Map(due.map((r) => [r.id, r.replays]));
  for (const r of replayed) {
    const namespace = r.namespace ?? "";
    result.byNamespace.set(namespace, (result.byNamespace.get(namespace) ?? 0) + 1);
    deps.logger.info("dead_letter.auto_replayed", {
      namespace,
      docId: r.doc_id,
      deadLetter: r.id,
      replay: (replays.get(r.id) ?? 0) + 1,
    });
  }
  return result;
}
