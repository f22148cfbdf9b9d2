// One hostile document in a queue batch: it spends its ingest budget and comes back alone, while
// the other documents of the batch are indexed on the first delivery.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { putMessage } from "../../src/ingest/messages";
import { createLogger } from "../../src/observe/logger";
import { workerEnv } from "../../workers/env";
import worker from "../../workers/index";
import { consumeIngest } from "../../workers/ingest/consumer";
import { buildServices } from "../../workers/services";
import { type StallingEmbedder, stallingEmbedder } from "../fakes/stalling-embedder";
import { api, freshNamespace, putObject } from "../support";

const BUDGET_MS = 4000;
const MARKER = "runaway-marker";

let embedder: StallingEmbedder | null = null;
afterEach(() => embedder?.release());

describe("a hostile document in a batch", () => {
  it("fails alone on its budget while the rest of the batch is indexed on the first delivery", async () => {
    const ns = freshNamespace("poison");
    const ordinary = Array.from({ length: 9 }, (_, i) => `doc-${i}`);
    const objects = new Map<string, R2Object>();
    for (const id of ordinary) {
      objects.set(id, await putObject(`${ns}/${id}`, `Ordinary note ${id} about sandpipers and tides.`));
    }
    // Sent fourth in the batch: the consumer must not let it hold the ones after it.
    const hostile = await putObject(`${ns}/hostile`, `A document whose embedding never answers. ${MARKER}`);
    const ids = [...ordinary.slice(0, 3), "hostile", ...ordinary.slice(3)];
    const batch = createMessageBatch(
      "edgesearch-ingest",
      ids.map((id) => {
        const object = id === "hostile" ? hostile : objects.get(id);
        return {
          id: `msg-${id}`,
          timestamp: new Date(),
          attempts: 1,
          body: putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/${id}`, object?.size ?? 0, object?.etag ?? ""),
        };
      }),
    );
    const services = buildServices(workerEnv(env), loadConfig(env), createLogger("error"), {
      defer: () => undefined,
      path: "ingest",
    });
    embedder = stallingEmbedder(services.embedder, MARKER);
    const ctx = createExecutionContext();
    await consumeIngest(
      batch,
      { ...services, embedder, config: { ...services.config, ingestDocumentBudgetMs: BUDGET_MS } },
      env.DB,
    );
    const result = await getQueueResult(batch, ctx);

    expect([...result.explicitAcks].sort()).toEqual(ordinary.map((id) => `msg-${id}`).sort());
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["msg-hostile"]);
    for (const id of ordinary) {
      const status = await api("GET", `/v1/namespaces/${ns}/documents/${id}`);
      expect(status.body, id).toMatchObject({ status: "indexed" });
    }
    const reason = `document exceeded its ingest budget of ${BUDGET_MS} ms (INGEST_DOCUMENT_BUDGET_MS) at embed`;
    const waiting = await api("GET", `/v1/namespaces/${ns}/documents/hostile`);
    expect(waiting.body).toMatchObject({ status: "queued", error: reason });

    // Retried with backoff until max_retries, then the dead-letter queue: failed, with the reason.
    const dlqBatch = createMessageBatch("edgesearch-ingest-dlq", [
      {
        id: "msg-hostile-dlq",
        timestamp: new Date(),
        attempts: 6,
        body: putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/hostile`, hostile.size, hostile.etag),
      },
    ]);
    const dlqCtx = createExecutionContext();
    await worker.queue(dlqBatch, env, dlqCtx);
    expect((await getQueueResult(dlqBatch, dlqCtx)).explicitAcks).toEqual(["msg-hostile-dlq"]);
    const failed = await api("GET", `/v1/namespaces/${ns}/documents/hostile`);
    expect(failed.body).toMatchObject({ status: "failed", error: expect.stringContaining(reason) });
  }, 30_000);
});
