// How many documents one queue invocation indexes: D1 allows 50 queries per Worker invocation on
// the Workers Free plan and 1,000 on Paid ("Queries per Worker invocation",
// https://developers.cloudflare.com/d1/platform/limits/; over it the binding throws "Too many API
// requests by single worker invocation"), and a queue batch holds up to 10 documents. Each
// document is admitted against its worst case before it starts; the ones that do not fit go back
// to the queue for the next invocation.
import { type CostCounters, emptyCounters } from "../observe/cost-counters";
import type { Meter } from "../observe/meter";
import { D1_LIMITS } from "../store/d1-limits";
import { IngestMessageSchema } from "./messages";

/**
 * D1 queries of one document message at most, whatever its size: 9 for a one-chunk document
 * written through the API, 14 for one uploaded straight to R2 (its row made from the object), 2
 * more for a document indexed before (its old chunk and keyword rows go first).
 * test/integration/ingest-cost.test.ts and ingest-budget.test.ts hold them.
 */
export const DOCUMENT_QUERIES = 16;
/**
 * Bytes of chunk rows per byte of the stored object, at most: the chunks overlap and each row
 * carries its text and position as JSON.
 */
const CHUNK_ROW_BYTES_PER_BYTE = 2;
/**
 * D1 queries kept back from documents and build steps: the dead-letter record of one that fails
 * for good.
 */
export const DOCUMENT_RESERVE_QUERIES = 1;
/** Times a message was sent back for want of D1 queries (0 for one never sent back). */
const HELD_FIELD = "heldBack";

/**
 * The D1 queries a document message may make: DOCUMENT_QUERIES, plus one statement per further
 * 2,000,000-byte slice of its chunk rows (D1's largest value; replaceChunks), from the object's
 * size. A document whose text expands past its stored size (a compressed format) may make a query
 * or two more than this; the reserve and the next document's margin take them.
 */
export function documentQueries(body: unknown): number {
  const parsed = IngestMessageSchema.safeParse(body);
  const size = parsed.success ? (parsed.data.object.size ?? 0) : 0;
  const slices = Math.ceil((size * CHUNK_ROW_BYTES_PER_BYTE) / D1_LIMITS.maxValueBytes);
  return DOCUMENT_QUERIES + Math.max(0, slices - 1);
}

/** Whether a message is a document event (a put or a delete), which the admission meters. */
export function isDocumentMessage(body: unknown): boolean {
  return IngestMessageSchema.safeParse(body).success;
}

/** Times the message was sent back for want of D1 queries. */
export function heldBack(body: unknown): number {
  if (typeof body !== "object" || body === null || !(HELD_FIELD in body)) return 0;
  const held = (body as Record<string, unknown>)[HELD_FIELD];
  return typeof held === "number" && Number.isInteger(held) && held > 0 ? held : 0;
}

/** The copy to send back: the same event, counting this time. */
export function heldBackBody(body: unknown): unknown {
  return { ...(body as Record<string, unknown>), [HELD_FIELD]: heldBack(body) + 1 };
}

/**
 * The messages in the order to admit them: those sent back before first (so a large document is
 * not passed over by a stream of small ones), each group in the given order (smallest first).
 */
export function heldBackFirst<M extends { readonly body: unknown }>(messages: readonly M[]): M[] {
  return [...messages.filter((m) => heldBack(m.body) > 0), ...messages.filter((m) => heldBack(m.body) === 0)];
}

/** A document let in: the counters its meter scope fills, and its worst case. */
export interface Admitted {
  counters: CostCounters;
  queries: number;
}

/**
 * Lets documents in, in the order asked, while their worst case fits in the invocation's D1
 * queries: the plan's limit, less what the meter has counted, less what the documents under way
 * may still make, less the reserve. A document that does not fit waits for those under way to end;
 * once none is, it and every later one are refused. The invocation's first document is always
 * let in, so each invocation indexes at least one (documentQueries stays far under the Free
 * plan's 50 for any document: MAX_PARSED_TEXT_BYTES bounds its text).
 */
export class QueryAdmission {
  private readonly running = new Set<Admitted>();
  private waiters: (() => void)[] = [];
  private turn: Promise<unknown> = Promise.resolve();
  private admitted = 0;
  private closed = false;

  constructor(
    private readonly meter: Meter,
    private readonly limit: number,
  ) {}

  /** Resolves to the document's admission, or null when it has to wait for another invocation. */
  admit(queries: number): Promise<Admitted | null> {
    const next = this.turn.then(() => this.await(queries));
    this.turn = next;
    return next;
  }

  /** The document ended: what it may still make is no longer held for it. */
  done(admitted: Admitted): void {
    this.running.delete(admitted);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** What the invocation may still spend on a new document or build step. */
  left(): number {
    let pending = 0;
    for (const doc of this.running) pending += Math.max(0, doc.queries - doc.counters.d1Queries);
    return this.limit - this.meter.total().d1Queries - pending - DOCUMENT_RESERVE_QUERIES;
  }

  private async await(queries: number): Promise<Admitted | null> {
    for (;;) {
      if (this.closed) return null;
      if (this.admitted === 0 || queries <= this.left()) {
        const admitted = { counters: emptyCounters(), queries };
        this.running.add(admitted);
        this.admitted += 1;
        return admitted;
      }
      if (this.running.size === 0) {
        this.closed = true;
        return null;
      }
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
  }
}
