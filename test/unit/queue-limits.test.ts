// Queues' producer limits: what the pager sends stays within what Cloudflare accepts per call, and
// the local stand-in refuses what Cloudflare refuses, with its error text.
import { describe, expect, it } from "vitest";
import { deleteMessage, putMessage } from "../../src/ingest/messages";
import {
  pageQueueMessages,
  QUEUE_MAX_BATCH_BYTES,
  QUEUE_MAX_BATCH_MESSAGES,
  QUEUE_MAX_MESSAGE_BYTES,
  queueMessageBytes,
  StrictQueue,
  sendPaged,
} from "../../src/util/queue-limits";

/** A producer binding that records each call and accepts it. */
class RecordingQueue implements Queue {
  calls: MessageSendRequest[][] = [];
  async metrics(): Promise<QueueMetrics> {
    return { backlogCount: 0, backlogBytes: 0 };
  }
  async send(body: unknown, options?: QueueSendOptions): Promise<QueueSendResponse> {
    this.calls.push([{ body, ...options }]);
    return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } };
  }
  async sendBatch(messages: Iterable<MessageSendRequest>): Promise<QueueSendBatchResponse> {
    this.calls.push([...messages]);
    return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } };
  }
}

/** A JSON message whose serialized body is `bytes` long. */
const jsonOf = (bytes: number): MessageSendRequest => ({
  body: "x".repeat(bytes - 2),
  contentType: "json",
});

const callBytes = (call: MessageSendRequest[]) =>
  call.reduce((sum, m) => sum + queueMessageBytes(m.body, m.contentType), 0);

describe("queue message size", () => {
  it("counts the serialized body in UTF-8 plus the platform's metadata allowance", () => {
    expect(queueMessageBytes("é", "text")).toBe(2 + 100);
    expect(queueMessageBytes({ a: "é" }, "json")).toBe(JSON.stringify({ a: "é" }).length + 1 + 100);
    // No content type: JSON, the default from compatibility date 2024-03-18.
    expect(queueMessageBytes({ a: 1 })).toBe(7 + 100);
    expect(queueMessageBytes(new Uint8Array(10), "bytes")).toBe(110);
  });

  it("keeps the ingest messages far below a message's limit, even with a 1024-byte key", () => {
    const key = `ns/${"é".repeat(510)}`;
    expect(queueMessageBytes(putMessage("documents", key, 1, "etag"), "json")).toBeLessThan(2_000);
    expect(queueMessageBytes(deleteMessage("documents", key), "json")).toBeLessThan(2_000);
  });
});

describe("sendPaged", () => {
  it("sends 250 small messages as calls of 100, 100 and 50, in order", async () => {
    const queue = new RecordingQueue();
    const messages = Array.from({ length: 250 }, (_, i) => ({ body: { i }, contentType: "json" as const }));
    await sendPaged(new StrictQueue(queue), messages);
    expect(queue.calls.map((c) => c.length)).toEqual([100, 100, 50]);
    expect(queue.calls.flat().map((m) => (m.body as { i: number }).i)).toEqual(messages.map((_, i) => i));
  });

  it("pages by bytes too: 30 messages of 60 KB go out in calls under 256,000 bytes", async () => {
    const queue = new RecordingQueue();
    // Without paging by bytes, one call of 30 x 60 KB = 1.8 MB would be refused (10205).
    await sendPaged(
      new StrictQueue(queue),
      Array.from({ length: 30 }, () => jsonOf(60_000)),
    );
    expect(queue.calls.flat()).toHaveLength(30);
    for (const call of queue.calls) expect(callBytes(call)).toBeLessThanOrEqual(QUEUE_MAX_BATCH_BYTES);
    expect(queue.calls.map((c) => c.length)).toEqual([4, 4, 4, 4, 4, 4, 4, 2]);
  });

  it("refuses a message over 128,000 bytes before sending anything, with the platform's error", async () => {
    const queue = new RecordingQueue();
    const messages = [jsonOf(10), jsonOf(QUEUE_MAX_MESSAGE_BYTES)];
    await expect(sendPaged(queue, messages)).rejects.toThrow(
      "message length of 128100 bytes exceeds limit of 128000 bytes (10204)",
    );
    expect(queue.calls).toEqual([]);
  });

  it("sends nothing for no messages (sendBatch refuses an empty batch)", async () => {
    const queue = new RecordingQueue();
    await sendPaged(queue, []);
    expect(queue.calls).toEqual([]);
    expect(pageQueueMessages([])).toEqual([]);
  });
});

describe("StrictQueue (the local producer binding)", () => {
  it("refuses a sendBatch of 101 messages", async () => {
    const queue = new RecordingQueue();
    const batch = Array.from({ length: QUEUE_MAX_BATCH_MESSAGES + 1 }, () => jsonOf(10));
    await expect(new StrictQueue(queue).sendBatch(batch)).rejects.toThrow(
      "batch message count of 101 exceeds limit of 100 (10206)",
    );
    expect(queue.calls).toEqual([]);
  });

  it("refuses a sendBatch over 256,000 bytes that Miniflare would take (it allows 288,000)", async () => {
    const queue = new RecordingQueue();
    const batch = Array.from({ length: 5 }, () => jsonOf(54_000));
    await expect(new StrictQueue(queue).sendBatch(batch)).rejects.toThrow(
      "batch size of 270500 bytes exceeds limit of 256000 bytes (10205)",
    );
    expect(queue.calls).toEqual([]);
  });

  it("refuses a send over 128,000 bytes and passes one at the limit through", async () => {
    const queue = new RecordingQueue();
    const strict = new StrictQueue(queue);
    await expect(strict.send("x".repeat(128_000), { contentType: "text" })).rejects.toThrow(
      "message length of 128100 bytes exceeds limit of 128000 bytes (10204)",
    );
    await strict.send("x".repeat(127_900), { contentType: "text" });
    expect(queue.calls).toHaveLength(1);
  });

  it("passes a batch of 100 messages totalling 256,000 bytes through", async () => {
    const queue = new RecordingQueue();
    await new StrictQueue(queue).sendBatch(Array.from({ length: 100 }, () => jsonOf(2_460)));
    expect(queue.calls).toHaveLength(1);
    expect(callBytes(queue.calls[0] ?? [])).toBe(256_000);
  });
});
