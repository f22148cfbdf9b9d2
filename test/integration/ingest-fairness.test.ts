// Fairness of the shared ingest queue: a namespace over its share of the recent ingest cost has its
// messages sent back to the queue with a delay (the original acked, so no attempt is used) while
// the other namespaces of the batch are processed; nothing is ever dropped.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import {
  ACTIVE_RECENT_MS,
  DOCUMENT_OVERHEAD,
  FAIR_WINDOW_MS,
  MAX_DEFERRALS,
} from "../../src/ingest/fairness";
import { putMessage } from "../../src/ingest/messages";
import { DocumentStore } from "../../src/store/documents";
import worker from "../../workers/index";
import { api, freshNamespace, putObject } from "../support";

/** The real producer binding, recording each message sent and the options it was sent with. */
class RecordingQueue {
  readonly sent: { body: unknown; delaySeconds: number | undefined }[] = [];
  constructor(private readonly inner: Queue) {}
  metrics(): Promise<QueueMetrics> {
    return this.inner.metrics();
  }
  send(body: unknown, options?: QueueSendOptions): Promise<QueueSendResponse> {
    this.sent.push({ body, delaySeconds: options?.delaySeconds });
    return this.inner.send(body, options);
  }
  sendBatch(
    messages: Iterable<MessageSendRequest>,
    options?: QueueSendBatchOptions,
  ): Promise<QueueSendBatchResponse> {
    const all = [...messages];
    for (const m of all)
      this.sent.push({ body: m.body, delaySeconds: m.delaySeconds ?? options?.delaySeconds });
    return this.inner.sendBatch(all, options);
  }
  take() {
    return this.sent.splice(0);
  }
}

/** Writes a document's object and its queued row, as the documents API does, without a message. */
async function queuedDocument(ns: string, id: string, text: string): Promise<unknown> {
  const object = await putObject(`${ns}/${id}`, text);
  await new DocumentStore(env.DB).upsertQueued(ns, [
    { id, title: null, contentType: "text/plain", metadata: {}, bytes: object.size, etag: object.etag },
  ]);
  return putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/${id}`, object.size, object.etag);
}

/**
 * Charges `cost` to the namespace in the ledger's current window, as earlier batches would have,
 * and records that a batch last held one of its documents at `lastSeen` (0: long ago).
 */
async function charge(ns: string, cost: number, lastSeen = 0): Promise<void> {
  const now = Date.now();
  await env.DB.prepare(
    "INSERT INTO ingest_ledger (namespace, window_start, cost, documents, deferred, last_seen) VALUES (?1, ?2, ?3, 1, 0, ?4)",
  )
    .bind(ns, now - (now % FAIR_WINDOW_MS), cost, lastSeen)
    .run();
}

let seq = 0;
async function deliver(queue: RecordingQueue, bodies: unknown[]) {
  const batch = createMessageBatch(
    "edgesearch-ingest",
    bodies.map((body) => {
      seq += 1;
      return { id: `fair-${Date.now()}-${seq}`, timestamp: new Date(), attempts: 1, body };
    }),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, INGEST_QUEUE: queue as unknown as Queue }, ctx);
  return { ids: batch.messages.map((m) => m.id), result: await getQueueResult(batch, ctx) };
}

async function status(ns: string, id: string): Promise<Record<string, unknown>> {
  return (await api<Record<string, unknown>>("GET", `/v1/namespaces/${ns}/documents/${id}`)).body;
}

const HEAVY_COST = 64 * 1024 * 1024;

describe("ingest fairness", () => {
  // Each test starts from an empty ledger: namespaces other tests left waiting do not count.
  beforeEach(async () => {
    await env.DB.prepare("DELETE FROM ingest_ledger").run();
  });

  it("defers the documents of a namespace over its share, acked and re-sent with a delay, and indexes the other namespace's", async () => {
    const heavy = freshNamespace("heavy");
    const light = freshNamespace("light");
    await charge(heavy, HEAVY_COST);
    const bodies = [
      await queuedDocument(heavy, "h1", "Heavy tenant text about granite quarries."),
      await queuedDocument(light, "l1", "Light tenant text about tide pools."),
      await queuedDocument(heavy, "h2", "More heavy tenant text about basalt columns."),
    ];
    const queue = new RecordingQueue(env.INGEST_QUEUE);
    const { ids, result } = await deliver(queue, bodies);

    // Every message acknowledged, none retried: a deferral uses none of max_retries.
    expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
    expect(result.retryMessages).toEqual([]);
    expect(await status(light, "l1")).toMatchObject({ status: "indexed" });
    expect(await status(heavy, "h1")).toMatchObject({ status: "queued" });
    expect(await status(heavy, "h2")).toMatchObject({ status: "queued" });
    const sent = queue.take();
    expect(sent.map((s) => (s.body as { object: { key: string } }).object.key).sort()).toEqual([
      `${heavy}/h1`,
      `${heavy}/h2`,
    ]);
    for (const s of sent) {
      expect(s.body).toMatchObject({ deferrals: 1 });
      expect(s.delaySeconds).toBe(30);
    }
    const ledger = await env.DB.prepare(
      "SELECT SUM(deferred) AS deferred FROM ingest_ledger WHERE namespace = ?1",
    )
      .bind(heavy)
      .first<{ deferred: number }>();
    expect(ledger?.deferred).toBe(2);
    // The light namespace's document was charged when it was admitted: its bytes plus the overhead.
    const charged = await env.DB.prepare("SELECT SUM(cost) AS cost FROM ingest_ledger WHERE namespace = ?1")
      .bind(light)
      .first<{ cost: number }>();
    expect(charged?.cost).toBe((bodies[1] as { object: { size: number } }).object.size + DOCUMENT_OVERHEAD);
  });

  it("processes a message at once when its copy cannot be sent back to the queue", async () => {
    const heavy = freshNamespace("heavy");
    const light = freshNamespace("light");
    await charge(heavy, HEAVY_COST);
    const queue = new RecordingQueue(env.INGEST_QUEUE);
    queue.sendBatch = () => Promise.reject(new Error("Queue send failed: Too Many Requests"));
    const { ids, result } = await deliver(queue, [
      await queuedDocument(heavy, "h", "Heavy tenant text about sandstone arches."),
      await queuedDocument(light, "l", "Light tenant text about kelp forests."),
    ]);
    expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
    expect(result.retryMessages).toEqual([]);
    expect(await status(heavy, "h")).toMatchObject({ status: "indexed" });
    expect(await status(light, "l")).toMatchObject({ status: "indexed" });
  });

  it("processes a message deferred the maximum number of times, even over its share", async () => {
    const heavy = freshNamespace("heavy");
    const light = freshNamespace("light");
    await charge(heavy, HEAVY_COST);
    const body = await queuedDocument(heavy, "h", "Heavy tenant text about slate roofs.");
    const queue = new RecordingQueue(env.INGEST_QUEUE);
    const { result } = await deliver(queue, [
      { ...(body as object), deferrals: MAX_DEFERRALS },
      await queuedDocument(light, "l", "Light tenant text about sandpipers."),
    ]);
    expect(result.explicitAcks).toHaveLength(2);
    expect(queue.take()).toEqual([]);
    expect(await status(heavy, "h")).toMatchObject({ status: "indexed" });
    expect(await status(light, "l")).toMatchObject({ status: "indexed" });
  });

  it("loses nothing: each deferred document comes back until it is indexed or failed with a reason", async () => {
    const heavy = freshNamespace("heavy");
    await charge(heavy, HEAVY_COST);
    const queue = new RecordingQueue(env.INGEST_QUEUE);
    let pending: unknown[] = [
      await queuedDocument(heavy, "a", "Heavy tenant text about limestone caves."),
      await queuedDocument(heavy, "b", "Heavy tenant text about chalk cliffs."),
      await queuedDocument(heavy, "empty", "   "),
    ];
    let rounds = 0;
    while (pending.length > 0) {
      rounds += 1;
      // Another namespace's document in every batch keeps the heavy namespace contended.
      const light = freshNamespace("light");
      const { ids, result } = await deliver(queue, [
        ...pending,
        await queuedDocument(light, "l", "Light tenant text about herons."),
      ]);
      expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
      expect(await status(light, "l")).toMatchObject({ status: "indexed" });
      // What the queue would deliver after the delay.
      pending = queue.take().map((s) => s.body);
      expect(rounds).toBeLessThanOrEqual(MAX_DEFERRALS + 1);
    }
    expect(rounds).toBe(MAX_DEFERRALS + 1);
    expect(await status(heavy, "a")).toMatchObject({ status: "indexed" });
    expect(await status(heavy, "b")).toMatchObject({ status: "indexed" });
    expect(await status(heavy, "empty")).toMatchObject({
      status: "failed",
      error: expect.stringContaining("no text"),
    });
  });

  it.each([
    {
      other: "has a document still queued and was in a batch a moment ago",
      queued: true,
    },
    {
      // Its documents are indexed as fast as they come, so none is queued between its writes.
      other: "writes steadily, with nothing queued, and was in a batch a moment ago",
      queued: false,
    },
  ])("defers a namespace over its share in a batch of its own while another $other", async ({ queued }) => {
    const heavy = freshNamespace("heavy");
    const light = freshNamespace("light");
    await charge(heavy, HEAVY_COST);
    if (queued) await queuedDocument(light, "next", "Light tenant text about oystercatchers.");
    await charge(light, 5000, Date.now());
    const queue = new RecordingQueue(env.INGEST_QUEUE);
    const { ids, result } = await deliver(queue, [
      await queuedDocument(heavy, "h", "Heavy tenant text about pumice."),
    ]);
    expect(result.explicitAcks).toEqual(ids);
    expect(queue.take()).toMatchObject([{ body: { deferrals: 1 }, delaySeconds: 30 }]);
    expect(await status(heavy, "h")).toMatchObject({ status: "queued" });
  });

  it("processes a batch of one namespace whole once the others have been quiet a while", async () => {
    const heavy = freshNamespace("heavy");
    const quiet = freshNamespace("quiet");
    await charge(heavy, HEAVY_COST);
    await charge(quiet, 5000, Date.now() - ACTIVE_RECENT_MS - 1000);
    const queue = new RecordingQueue(env.INGEST_QUEUE);
    await deliver(queue, [await queuedDocument(heavy, "h", "Heavy tenant text about flint.")]);
    expect(queue.take()).toEqual([]);
    expect(await status(heavy, "h")).toMatchObject({ status: "indexed" });
  });

  it("processes a batch of one namespace whole, however much it used: nobody else waits", async () => {
    const heavy = freshNamespace("heavy");
    await charge(heavy, HEAVY_COST);
    const queue = new RecordingQueue(env.INGEST_QUEUE);
    const { result } = await deliver(queue, [
      await queuedDocument(heavy, "a", "Heavy tenant text about marble."),
      await queuedDocument(heavy, "b", "Heavy tenant text about gneiss."),
    ]);
    expect(result.explicitAcks).toHaveLength(2);
    expect(queue.take()).toEqual([]);
    expect(await status(heavy, "a")).toMatchObject({ status: "indexed" });
    expect(await status(heavy, "b")).toMatchObject({ status: "indexed" });
  });
});
