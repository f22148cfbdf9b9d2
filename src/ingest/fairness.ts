// Per-namespace fairness of the ingest queue. All namespaces share one queue, so a namespace that
// writes many large documents would otherwise hold every other namespace's documents behind its
// own. The consumer charges each document's cost (its bytes plus a fixed overhead) to its
// namespace in a ledger in D1 that every consumer invocation shares (Queues runs up to 250 of them
// at once: https://developers.cloudflare.com/queues/platform/limits/, "Concurrent consumer
// invocations"). While another namespace is waiting (its documents are in the batch, or it has
// queued documents and was in a batch moments ago), a namespace that has used more than its share
// of the recent cost has its documents sent back to the queue with a delay (and the original
// acknowledged, so the deferral costs no delivery attempt) instead of being processed. Each message is deferred at most MAX_DEFERRALS times, then processed regardless.
import { z } from "zod";
import { type D1Like, d1 } from "../store/d1";
import { parseDocumentKey } from "../validation";
import { IngestMessageSchema, isDeleteAction } from "./messages";
import { QUEUE_MAX_DELAY_SECONDS } from "./pipeline";

/** Length of one ledger window; a namespace's recent cost is that of this window and the last. */
export const FAIR_WINDOW_MS = 30_000;
/**
 * A namespace is never over its share below this cost in the recent windows: one document of the
 * largest size (MAX_DOCUMENT_BYTES, 1 MiB) always fits, and a namespace writing a few ordinary
 * documents a second (about DOCUMENT_OVERHEAD each) stays under it, so it never waits for one
 * that writes large ones.
 */
export const FAIR_SHARE_FLOOR = 1_048_576;
/** What a document costs beyond its bytes: its D1, R2 and vector index round trips. */
export const DOCUMENT_OVERHEAD = 4_096;
/**
 * A namespace not in the batch counts as waiting if a batch held one of its documents this
 * recently and it has queued documents: its next messages are likely in the queue right behind.
 */
export const WAITING_RECENT_MS = 10_000;
/**
 * A namespace not in the batch counts as waiting, even with nothing queued, if a batch held one of
 * its documents this recently: a tenant writing steadily, whose documents are indexed as fast as
 * they come, has none queued between them, and one uploading straight to R2 has no queued rows.
 * Without it, a batch holding only a flooding namespace's messages, read in such a gap, would be
 * processed whole.
 */
export const ACTIVE_RECENT_MS = 5_000;
/** Deferrals of one message before it is processed whatever its namespace's share. */
export const MAX_DEFERRALS = 4;

/**
 * How long a message waits after its `deferrals`-th deferral: one window, doubling, at most 5
 * minutes (30 + 60 + 120 + 240 s = 7.5 min for MAX_DEFERRALS, under the 15 minutes after which
 * the health check reports a queued document as stuck) and never over the longest delay Queues
 * accepts (QUEUE_MAX_DELAY_SECONDS).
 */
export function deferralDelaySeconds(deferrals: number): number {
  const seconds = (FAIR_WINDOW_MS / 1000) * 2 ** Math.max(0, deferrals - 1);
  return Math.min(seconds, 300, QUEUE_MAX_DELAY_SECONDS);
}

/** The deferral count a message carries (0 for one never deferred). */
const DeferralsSchema = z.object({ deferrals: z.number().int().nonnegative() });

/** A batch message as fairness sees it. */
export interface FairnessItem {
  /** The document's namespace; null for messages that are not document writes (never deferred). */
  namespace: string | null;
  /** The object key of a document write. */
  key: string | null;
  /** What processing it costs: the document's bytes plus DOCUMENT_OVERHEAD. */
  cost: number;
  /** Times it was deferred already. */
  deferrals: number;
  /** Whether it may be deferred: a first delivery of a document write under MAX_DEFERRALS. */
  deferrable: boolean;
}

/**
 * What fairness knows of a queue message. Only a first delivery (attempts 1) is deferrable: a
 * retry already waits out its backoff, and a re-sent message starts its attempts again.
 */
export function fairnessItem(body: unknown, attempts: number): FairnessItem {
  const parsed = IngestMessageSchema.safeParse(body);
  if (!parsed.success || isDeleteAction(parsed.data.action)) {
    return { namespace: null, key: null, cost: 0, deferrals: 0, deferrable: false };
  }
  const target = parseDocumentKey(parsed.data.object.key);
  const deferred = DeferralsSchema.safeParse(body);
  const deferrals = deferred.success ? deferred.data.deferrals : 0;
  return {
    namespace: target?.namespace ?? null,
    key: parsed.data.object.key,
    cost: (parsed.data.object.size ?? 0) + DOCUMENT_OVERHEAD,
    deferrals,
    deferrable: target !== null && attempts <= 1 && deferrals < MAX_DEFERRALS,
  };
}

/** The message to send back: the same event, with the deferrals it has had counting this one. */
export function deferredBody(body: unknown, deferrals: number): unknown {
  return { ...(body as Record<string, unknown>), deferrals };
}

export interface FairnessPlan {
  /** Per item (same order): whether to defer it. */
  defer: boolean[];
  /**
   * Per item (same order): whether to process it only once the rest of the batch is done. The
   * admitted documents of the namespace with the most recent cost wait for every other
   * namespace's, so a waiting tenant's small documents are not held behind its large ones.
   */
  last: boolean[];
  /** The cost each namespace may have used in the recent windows before it is deferred. */
  share: number;
  /** Cost admitted for processing, per namespace. */
  admitted: Map<string, { cost: number; documents: number }>;
}

/**
 * Decides which items of a batch to defer, given the recent cost (`used`) of the batch's
 * namespaces and of the waiting namespaces outside the batch (every other key of `used`). With
 * one namespace in all, the batch is processed whole: nobody else waits. Otherwise each
 * namespace's share is the mean recent cost of the batch's and the waiting namespaces (at least
 * FAIR_SHARE_FLOOR), and items are taken in order (the consumer's smallest-first order): one that
 * would take its namespace past its share, and past every other namespace's cost, is deferred,
 * unless its namespace has used nothing yet (every namespace progresses) or it is not deferrable.
 * A namespace that has used less than another contender is never deferred.
 */
export function planFairness(
  items: readonly FairnessItem[],
  used: ReadonlyMap<string, number>,
  floor = FAIR_SHARE_FLOOR,
): FairnessPlan {
  const namespaces = new Set(items.flatMap((i) => (i.namespace === null ? [] : [i.namespace])));
  for (const ns of used.keys()) namespaces.add(ns);
  let total = 0;
  for (const ns of namespaces) total += used.get(ns) ?? 0;
  const share = Math.max(floor, total / Math.max(1, namespaces.size));
  const spent = new Map<string, number>();
  for (const ns of namespaces) spent.set(ns, used.get(ns) ?? 0);
  const admitted = new Map<string, { cost: number; documents: number }>();
  const defer = items.map((item) => {
    if (item.namespace === null) return false;
    const before = spent.get(item.namespace) ?? 0;
    const after = before + item.cost;
    if (
      namespaces.size > 1 &&
      item.deferrable &&
      before > 0 &&
      after > share &&
      after > mostOfOthers(spent, item.namespace)
    )
      return true;
    spent.set(item.namespace, after);
    const sum = admitted.get(item.namespace) ?? { cost: 0, documents: 0 };
    admitted.set(item.namespace, { cost: sum.cost + item.cost, documents: sum.documents + 1 });
    return false;
  });
  return { defer, last: lastOfBatch(items, used), share, admitted };
}

/** The largest cost of a namespace other than `self`. */
function mostOfOthers(spent: ReadonlyMap<string, number>, self: string): number {
  let most = 0;
  for (const [ns, cost] of spent) if (ns !== self && cost > most) most = cost;
  return most;
}

/**
 * Marks the items of the batch's heaviest namespace (its recent cost plus its items' in the
 * batch), when the batch holds another namespace's items too (or messages that are not document
 * writes).
 */
function lastOfBatch(items: readonly FairnessItem[], used: ReadonlyMap<string, number>): boolean[] {
  const weight = new Map<string, number>();
  for (const { namespace, cost } of items) {
    if (namespace !== null) weight.set(namespace, (weight.get(namespace) ?? used.get(namespace) ?? 0) + cost);
  }
  let heaviest: string | null = null;
  for (const [ns, w] of weight) if (heaviest === null || w > (weight.get(heaviest) ?? 0)) heaviest = ns;
  if (items.every((i) => i.namespace === heaviest)) return items.map(() => false);
  return items.map((i) => i.namespace === heaviest);
}

const LedgerRow = z.object({ namespace: z.string(), cost: z.number() });

/** The ledger in D1 (migrations/0009_ingest_ledger.sql). */
export class IngestLedger {
  /**
   * `db`: the control database (the ledger); `members`: the databases namespaces' documents are
   * in, asked which of the recently seen namespaces still have documents waiting.
   */
  constructor(
    private readonly db: D1Like,
    private readonly members: () => readonly D1Like[] = () => [db],
  ) {}

  /**
   * The cost in the current and the previous window of each of `namespaces`, and of each other
   * namespace that is waiting (see WAITING_RECENT_MS and ACTIVE_RECENT_MS; at most 100 of them).
   */
  async recent(namespaces: readonly string[], now = Date.now()): Promise<Map<string, number>> {
    if (namespaces.length === 0) return new Map();
    const since = windowStart(now) - FAIR_WINDOW_MS;
    const rows = await d1("read ingest ledger", () =>
      this.db
        .prepare(
          `SELECT l.namespace, SUM(l.cost) AS cost, l.namespace IN (SELECT value FROM json_each(?2)) AS named,
                  MAX(l.last_seen) > ?4 AS active
           FROM ingest_ledger l
           WHERE l.window_start >= ?1
           GROUP BY l.namespace
           HAVING named OR MAX(l.last_seen) > ?3
           LIMIT 1000`,
        )
        .bind(since, JSON.stringify(namespaces), now - WAITING_RECENT_MS, now - ACTIVE_RECENT_MS)
        .all<{ namespace: string; cost: number; named: number; active: number }>(),
    );
    // A namespace in a batch a moment ago counts as waiting even with nothing queued now.
    const others = rows.results.filter((r) => r.named !== 1 && r.active !== 1).map((r) => r.namespace);
    const waiting = await this.waiting(others);
    const kept = rows.results.filter((r) => r.named === 1 || r.active === 1 || waiting.has(r.namespace));
    const named = kept.filter((r) => r.named === 1);
    const rest = kept.filter((r) => r.named !== 1).slice(0, 100);
    return new Map([...named, ...rest].map((r) => LedgerRow.parse(r)).map((r) => [r.namespace, r.cost]));
  }

  /** Those of `namespaces` with documents queued, in whichever database each is. */
  private async waiting(namespaces: readonly string[]): Promise<Set<string>> {
    if (namespaces.length === 0) return new Set();
    const names = JSON.stringify(namespaces);
    const found = await d1("read waiting namespaces", () =>
      Promise.all(
        this.members().map((db) =>
          db
            .prepare(
              `SELECT value AS namespace FROM json_each(?1)
               WHERE EXISTS (SELECT 1 FROM documents d WHERE d.namespace = value AND d.status = 'queued')`,
            )
            .bind(names)
            .all<{ namespace: string }>(),
        ),
      ),
    );
    return new Set(found.flatMap((r) => r.results.map((row) => row.namespace)));
  }

  /**
   * Adds admitted cost and deferrals to the current window and marks the batch's namespaces
   * (`seen`) as just seen (one statement for every namespace, so concurrent invocations add up),
   * and drops windows no longer read.
   */
  async record(
    admitted: ReadonlyMap<string, { cost: number; documents: number }>,
    deferred: ReadonlyMap<string, number>,
    seen: readonly string[],
    now = Date.now(),
  ): Promise<void> {
    const rows = [...new Set([...seen, ...admitted.keys(), ...deferred.keys()])].map((ns) => ({
      ns,
      cost: admitted.get(ns)?.cost ?? 0,
      documents: admitted.get(ns)?.documents ?? 0,
      deferred: deferred.get(ns) ?? 0,
    }));
    if (rows.length === 0) return;
    const start = windowStart(now);
    await d1("write ingest ledger", () =>
      this.db.batch([
        // "WHERE true": SQLite's upsert after INSERT ... SELECT needs it to parse ON CONFLICT.
        this.db
          .prepare(
            `INSERT INTO ingest_ledger (namespace, window_start, cost, documents, deferred, last_seen)
             SELECT json_extract(value, '$.ns'), ?1, json_extract(value, '$.cost'),
               json_extract(value, '$.documents'), json_extract(value, '$.deferred'), ?3
             FROM json_each(?2) WHERE true
             ON CONFLICT (namespace, window_start) DO UPDATE SET cost = cost + excluded.cost,
               documents = documents + excluded.documents, deferred = deferred + excluded.deferred,
               last_seen = MAX(last_seen, excluded.last_seen)`,
          )
          .bind(start, JSON.stringify(rows), now),
        this.db.prepare("DELETE FROM ingest_ledger WHERE window_start < ?1").bind(start - FAIR_WINDOW_MS),
      ]),
    );
  }
}

function windowStart(now: number): number {
  return now - (now % FAIR_WINDOW_MS);
}
