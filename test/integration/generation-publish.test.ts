// Write generations reach KV through the namespace's coordinator, paced to KV's one write per
// second per key: concurrent consumer invocations for one namespace never get KV's 429, and the
// generation KV ends with is D1's. Local KV refuses a second write within a second (kv-limits.ts).
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseGeneration } from "../../src/cache/generation";
import { putMessage } from "../../src/ingest/messages";
import { strictKvRefusals } from "../../src/store/kv-limits";
import worker from "../../workers/index";
import { api, freshNamespace, waitForStatus } from "../support";

const BATCHES = 6;
const PER_BATCH = 2;

async function d1Generation(ns: string): Promise<number | null> {
  const row = await env.DB.prepare("SELECT generation FROM namespaces WHERE name = ?1")
    .bind(ns)
    .first<{ generation: number }>();
  return row?.generation ?? null;
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
    const ns = freshNamespace("g");
    // The namespace exists (its coordinator too) before the burst, as in production.
    await api("PUT", `/v1/namespaces/${ns}/documents/seed`, { text: "Kettles boil water." });
    await waitForStatus(ns, "seed", "indexed");
    const refusedBefore = strictKvRefusals();

    const batches: MessageBatch<unknown>[] = [];
    for (let b = 0; b < BATCHES; b++) {
      const messages = [];
      for (let i = 0; i < PER_BATCH; i++) {
        const key = `${ns}/doc-${b}-${i}`;
        const object = await env.DOCUMENTS.put(key, `Document ${b}.${i} about copper kettles and tea.`);
        if (!object) throw new Error("R2 put returned no object");
        messages.push({
          id: `gen-${ns}-${b}-${i}`,
          timestamp: new Date(),
          attempts: 1,
          body: putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag),
        });
      }
      batches.push(createMessageBatch("edgesearch-ingest", messages));
    }
    const results = await deliverAtOnce(batches);

    for (const result of results) {
      expect(result.retryMessages).toHaveLength(0);
      expect(result.explicitAcks).toHaveLength(PER_BATCH);
    }
    // No write was refused: not the generation's, not the version pointer's.
    expect(strictKvRefusals()).toBe(refusedBefore);
    // Every invocation returned after a publication that covers its writes.
    const published = parseGeneration(await env.KV.get(`gen1:${ns}`));
    expect(published?.generation).toBe(await d1Generation(ns));
    expect(published?.generation).toBeGreaterThanOrEqual(1 + BATCHES * PER_BATCH);
  }, 60_000);
});
