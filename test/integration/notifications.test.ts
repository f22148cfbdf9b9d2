// R2 event notifications at the ingest consumer: only the documents bucket's, and not its
// "_backups/" objects, are ingested (the others are acknowledged, logged and counted, never
// dead-lettered); and a document's final state is right whichever comes first, the consumer
// ingesting its R2 write or the API recording its row.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { type IngestMessage, putMessage } from "../../src/ingest/messages";
import { processMessage } from "../../src/ingest/pipeline";
import { type NewDocument, submitDocuments } from "../../src/ingest/submit";
import { createLogger } from "../../src/observe/logger";
import type { IngestEvent, Metrics } from "../../src/observe/metrics";
import { workerEnv } from "../../workers/env";
import { buildServices } from "../../workers/services";
import { HeldQueue } from "../fakes/held-queue";
import { api, countRows, freshNamespace, putObject } from "../support";
import { deliverMessage } from "../support/queue";

/** The consumer's services, with what it logs and counts kept for the test to read. */
function consumer() {
  const lines: string[] = [];
  const counted: IngestEvent[] = [];
  const logger = createLogger("info", {}, (_level, line) => lines.push(line));
  const metrics: Metrics = { search: () => undefined, ingest: (e) => counted.push(e) };
  const services = buildServices(workerEnv(env), loadConfig(env), logger, {
    defer: () => undefined,
    path: "ingest",
  });
  return { deps: { ...services, logger, metrics }, lines, counted };
}

describe("notifications the consumer does not ingest", () => {
  it("acknowledges, logs and counts a notification from another bucket, and ingests nothing", async () => {
    const ns = freshNamespace("nb");
    // The object exists in the documents bucket: only the bucket name says it is not ours.
    const object = await putObject(`${ns}/a`, "Kestrels hover over meadows.");
    const message = putMessage("someone-elses-bucket", `${ns}/a`, object.size, object.etag);

    const { deps, lines, counted } = consumer();
    const decision = await processMessage(deps, message, 1);
    expect(decision).toMatchObject({ type: "ack", outcome: "skipped" });
    expect(decision.type === "ack" && decision.reason).toMatch(
      /someone-elses-bucket.*not the documents bucket/,
    );
    expect(lines.some((l) => l.includes('"ingest.ignored"') && l.includes("someone-elses-bucket"))).toBe(
      true,
    );
    expect(counted).toEqual([expect.objectContaining({ outcome: "ignored", namespace: "" })]);

    // Through the queue: acknowledged, not retried, not dead-lettered, no document.
    const result = await deliverMessage(message);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toHaveLength(0);
    expect(await countRows("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?", ns)).toBe(0);
    expect(await countRows("SELECT COUNT(*) AS n FROM dead_letters WHERE body LIKE ?", `%${ns}/a%`)).toBe(0);
  });

  it("acknowledges, logs and counts backup objects left in the documents bucket, without dead letters", async () => {
    const key = `_backups/${freshNamespace("nk")}/20260101T000000Z-0a1b2c3d/manifest.json`;
    const object = await putObject(key, "{}");
    const message = putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag);

    const { deps, lines, counted } = consumer();
    const decision = await processMessage(deps, message, 1);
    expect(decision).toMatchObject({ type: "ack", outcome: "skipped" });
    expect(decision.type === "ack" && decision.reason).toMatch(/backup object.*BACKUPS bucket/);
    expect(lines.some((l) => l.includes('"ingest.ignored"') && l.includes(key))).toBe(true);
    expect(counted).toEqual([expect.objectContaining({ outcome: "ignored", namespace: "_backups" })]);

    const result = await deliverMessage(message);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toHaveLength(0);
    expect(await countRows("SELECT COUNT(*) AS n FROM dead_letters WHERE body LIKE ?", `%${key}%`)).toBe(0);
  });
});

/**
 * The documents bucket as R2 with event notifications behaves for the API: right after each
 * write, `onWrite` runs with the write's notification (before the API's next step).
 */
function notifyingBucket(onWrite: (message: IngestMessage) => Promise<void>): R2Bucket {
  return new Proxy(env.DOCUMENTS, {
    get(target, prop) {
      if (prop === "put") {
        return async (key: string, value: string, options?: R2PutOptions) => {
          const object = await target.put(key, value, options);
          if (object) await onWrite(putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag));
          return object;
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const DOCS: NewDocument[] = [
  {
    id: "titled",
    title: "Kestrels",
    text: "Kestrels hover over meadows, watching for voles.",
    metadata: { category: "birds" },
  },
  // No title: the consumer takes the one the text has, which the API's row (title null) differs from.
  { id: "untitled", contentType: "text/markdown", text: "# Barn owls\n\nBarn owls hunt by sound at night." },
];

async function submitWith(ns: string, onWrite: (message: IngestMessage) => Promise<void>) {
  const queue = new HeldQueue();
  const { deps } = consumer();
  await submitDocuments(
    {
      blobs: notifyingBucket(onWrite),
      store: deps.store,
      queue: queue as unknown as Queue,
      config: { ...loadConfig(env), r2Notifications: true },
    },
    ns,
    DOCS,
  );
  return queue;
}

async function status(ns: string, id: string) {
  return (await api<{ status: string; title?: string }>("GET", `/v1/namespaces/${ns}/documents/${id}`)).body;
}

describe("a document's state whichever comes first, its notification or its row", () => {
  it("stays indexed when the consumer ingests the R2 write before the API records the row", async () => {
    const ns = freshNamespace("order-c");
    const { deps } = consumer();
    const decisions: string[] = [];
    const queue = await submitWith(ns, async (message) => {
      const decision = await processMessage(deps, message, 1);
      decisions.push(decision.type === "ack" ? decision.outcome : decision.type);
    });
    // Each notification was ingested in full before the API wrote its row.
    expect(decisions).toEqual(["indexed", "indexed"]);
    // The row the API wrote agrees with what was indexed: it stays indexed, no message needed.
    expect(await status(ns, "titled")).toMatchObject({ status: "indexed", title: "Kestrels" });
    // The row the API wrote differs (no title): queued again, and its spent notification replaced.
    expect((await status(ns, "untitled")).status).toBe("queued");
    expect(queue.held.map((m) => m.object.key)).toEqual([`${ns}/untitled`]);
    for (const message of queue.held) await processMessage(deps, message, 1);
    expect(await status(ns, "untitled")).toMatchObject({ status: "indexed", title: "Barn owls" });
    expect(
      await countRows("SELECT COUNT(*) AS n FROM documents WHERE namespace = ? AND status = 'queued'", ns),
    ).toBe(0);
  });

  it("gets indexed when the API records the row before the consumer ingests the write", async () => {
    const ns = freshNamespace("order-r");
    const notifications: IngestMessage[] = [];
    const queue = await submitWith(ns, async (message) => {
      notifications.push(message);
    });
    expect(queue.held).toEqual([]); // R2's notifications carry them
    expect((await status(ns, "titled")).status).toBe("queued");
    const { deps } = consumer();
    for (const message of notifications) await processMessage(deps, message, 1);
    expect(await status(ns, "titled")).toMatchObject({ status: "indexed", title: "Kestrels" });
    expect(await status(ns, "untitled")).toMatchObject({ status: "indexed", title: "Barn owls" });
  });
});
