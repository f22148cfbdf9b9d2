// R2 event notifications at the ingest consumer: only the documents bucket's, and not its
// "_backups/" objects, are ingested (the others are acknowledged, logged and counted, never
// dead-lettered).
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { type IngestMessage, putMessage } from "../../src/ingest/messages";
import { processMessage } from "../../src/ingest/pipeline";
import { createLogger } from "../../src/observe/logger";
import type { IngestEvent, Metrics } from "../../src/observe/metrics";
import { workerEnv } from "../../workers/env";
import worker from "../../workers/index";
import { buildServices } from "../../workers/services";
import { freshNamespace } from "../helpers";

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

let seq = 0;
async function deliver(body: IngestMessage) {
  seq += 1;
  const batch = createMessageBatch("edgesearch-ingest", [
    { id: `n-${Date.now()}-${seq}`, timestamp: new Date(), attempts: 1, body },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return { result: await getQueueResult(batch, ctx) };
}

async function putObject(key: string, body: string): Promise<R2Object> {
  const object = await env.DOCUMENTS.put(key, body);
  if (!object) throw new Error("R2 put returned no object");
  return object;
}

async function count(sql: string, ...params: unknown[]): Promise<number> {
  const row = await env.DB.prepare(sql)
    .bind(...params)
    .first<{ n: number }>();
  return row?.n ?? 0;
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
    const { result } = await deliver(message);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toHaveLength(0);
    expect(await count("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?", ns)).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM dead_letters WHERE body LIKE ?", `%${ns}/a%`)).toBe(0);
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

    const { result } = await deliver(message);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toHaveLength(0);
    expect(await count("SELECT COUNT(*) AS n FROM dead_letters WHERE body LIKE ?", `%${key}%`)).toBe(0);
  });
});
