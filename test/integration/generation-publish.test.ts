// Write generations reach KV through the namespace's coordinator, paced to KV's one write per
// second per key: concurrent consumer invocations for one namespace never get KV's 429, and the
// generation KV ends with is D1's. Local KV refuses a second write within a second (kv-limits.ts).
// The consumer does not wait for the paced write: the coordinator's alarm performs it.
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseGeneration, readGeneration } from "../../src/cache/generation";
import { putMessage } from "../../src/ingest/messages";
import { createLogger } from "../../src/observe/logger";
import { strictKvRefusals } from "../../src/store/kv-limits";
import worker from "../../workers/index";
import { readMeta, writeMeta } from "../../workers/objects/meta";
import { api, freshNamespace, waitFor, waitForStatus } from "../support";

const BATCHES = 6;
const PER_BATCH = 2;

async function d1Generation(ns: string): Promise<number | null> {
  const row = await env.DB.prepare("SELECT generation FROM namespaces WHERE name = ?1")
    .bind(ns)
    .first<{ generation: number }>();
  return row?.generation ?? null;
}

async function kvGeneration(ns: string): Promise<number | undefined> {
  return parseGeneration(await env.KV.get(`gen1:${ns}`))?.generation;
}

function coordinator(ns: string) {
  return env.COORDINATOR.get(env.COORDINATOR.idFromName(ns));
}

/** A namespace with one indexed document whose generation KV already has. */
async function seeded(prefix: string): Promise<string> {
  const ns = freshNamespace(prefix);
  await api("PUT", `/v1/namespaces/${ns}/documents/seed`, { text: "Kettles boil water." });
  await waitForStatus(ns, "seed", "indexed");
  await waitFor(
    "the seed's generation in KV",
    async () => (await kvGeneration(ns)) === (await d1Generation(ns)),
  );
  return ns;
}

async function putBatch(ns: string, name: string, count: number): Promise<MessageBatch<unknown>> {
  const messages = [];
  for (let i = 0; i < count; i++) {
    const key = `${ns}/${name}-${i}`;
    const object = await env.DOCUMENTS.put(key, `Document ${name}.${i} about copper kettles and tea.`);
    if (!object) throw new Error("R2 put returned no object");
    messages.push({
      id: `gen-${ns}-${name}-${i}`,
      timestamp: new Date(),
      attempts: 1,
      body: putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag),
    });
  }
  return createMessageBatch("edgesearch-ingest", messages);
}

async function deliverAtOnce(batches: MessageBatch<unknown>[]) {
  return Promise.all(
    batches.map(async (batch) => {
      const ctx = createExecutionContext();
      await worker.queue(batch, env, ctx);
      return getQueueResult(batch, ctx);
    }),
  );
}

describe("generation publishing", () => {
  it("never writes a namespace's generation twice in a second, and ends at D1's", async () => {
    // The namespace exists (its coordinator too) before the burst, as in production.
    const ns = await seeded("g");
    const refusedBefore = strictKvRefusals();

    const batches: MessageBatch<unknown>[] = [];
    for (let b = 0; b < BATCHES; b++) batches.push(await putBatch(ns, `doc-${b}`, PER_BATCH));
    const results = await deliverAtOnce(batches);

    for (const result of results) {
      expect(result.retryMessages).toHaveLength(0);
      expect(result.explicitAcks).toHaveLength(PER_BATCH);
    }
    // The coordinator's alarm publishes a generation that covers every batch's writes.
    const d1 = await d1Generation(ns);
    expect(d1).toBeGreaterThanOrEqual(1 + BATCHES * PER_BATCH);
    await waitFor("D1's generation in KV", async () => (await kvGeneration(ns)) === d1);
    // No write was refused: not the generation's, not the version pointer's.
    expect(strictKvRefusals()).toBe(refusedBefore);
  }, 60_000);

  it("acknowledges a batch before its generation's write is due; the alarm publishes it", async () => {
    const ns = await seeded("gq");
    const stub = coordinator(ns);
    // The coordinator's write clock says the key was just written: the next write is far off.
    const lastWrite = await runInDurableObject(stub, (_instance, state) => {
      const at = readMeta(state.storage.sql, "generationWrittenAt") ?? "0";
      writeMeta(state.storage.sql, "generationWrittenAt", String(Date.now() + 3_600_000));
      return at;
    });
    const before = await kvGeneration(ns);

    const batch = await putBatch(ns, "doc", 2);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);

    expect(result.explicitAcks).toHaveLength(2);
    const d1 = await d1Generation(ns);
    expect(d1).toBe((before ?? 0) + 2);
    // Not written yet, but recorded: the alarm will write it.
    expect(await kvGeneration(ns)).toBe(before);
    await runInDurableObject(stub, async (_instance, state) => {
      expect(readMeta(state.storage.sql, "generationPending")).toBe("1");
      expect(await state.storage.getAlarm()).not.toBeNull();
    });
    // The isolate that indexed the documents sees their generation at once.
    expect((await readGeneration(env.KV, ns, 60_000, createLogger("error")))?.generation).toBe(d1);

    // The write comes due (the clock back to the seed's real write: KV still refuses a second
    // write within a second of it, and the alarm waits for its turn); the alarm publishes.
    await runInDurableObject(stub, (_instance, state) => {
      writeMeta(state.storage.sql, "generationWrittenAt", lastWrite);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await kvGeneration(ns)).toBe(d1);
    await runInDurableObject(stub, (_instance, state) => {
      expect(readMeta(state.storage.sql, "generationPending")).toBe("0");
    });
  }, 60_000);

  it("writes at most once a second when many ask at once, waiting or not, and ends at D1's", async () => {
    const ns = await seeded("gm");
    const stub = coordinator(ns);
    const refusedBefore = strictKvRefusals();
    await env.DB.prepare("UPDATE namespaces SET generation = generation + 1 WHERE name = ?1").bind(ns).run();
    const d1 = await d1Generation(ns);

    const asks = await Promise.all([
      ...Array.from({ length: 20 }, () => stub.requestPublish(ns)),
      ...Array.from({ length: 3 }, () => stub.publishGeneration(ns)),
    ]);
    for (const outcome of asks) expect(outcome).toMatchObject({ ok: true, value: { generation: d1 } });
    await waitFor("D1's generation in KV", async () => (await kvGeneration(ns)) === d1);
    await runDurableObjectAlarm(stub);
    expect(strictKvRefusals()).toBe(refusedBefore);
    expect(await kvGeneration(ns)).toBe(d1);
  }, 60_000);
});
