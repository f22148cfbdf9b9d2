// Fuzzing ingest through the real queue consumer: random documents of every parsed content type
// (random sizes, unicode, markup, nesting) stored in R2 and delivered in queue batches, in a
// namespace that redacts every kind of personal data. The consumer never crashes, and every
// document ends indexed or failed with a reason. `npm run fuzz` runs the same generator at scale
// against `npm run dev`.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ingestDocument } from "../../scripts/lib/fuzz-documents.ts";
import { putMessage } from "../../src/ingest/messages";
import { RedactionStore } from "../../src/redaction/settings";
import worker from "../../workers/index";
import { freshNamespace } from "../support";
import { envNumber } from "./support";

/** Documents per run; `npm run fuzz -- --count 10000` runs many more against a dev server. */
const COUNT = envNumber("VITE_INGEST_FUZZ_COUNT", 200);
/** Set VITE_FUZZ_SEED to replay a run; the seed in use is printed with the summary. */
const SEED = envNumber("VITE_FUZZ_SEED", Math.floor(Math.random() * 2 ** 31));
/** The ingest consumer's max_batch_size in wrangler.toml. */
const BATCH = 10;
// The expected failures ("document has no text", "invalid JSON") log a warning each.
const quietEnv = { ...env, LOG_LEVEL: "error" };

describe("ingest fuzz", () => {
  it("indexes or fails with a reason every random document, without a consumer crash", async () => {
    const ns = freshNamespace("ifuzz");
    // Every kind of personal data redacted: the scanners read every random document too.
    await new RedactionStore(env.DB).set(
      ns,
      { email: true, phone: true, card: true, iban: true, ip: true },
      "fuzz",
    );
    // Document i from seed SEED + i: the same documents as `npm run fuzz -- --seed SEED`.
    const documents = Array.from(
      { length: COUNT },
      (_, i) => fc.sample(ingestDocument, { numRuns: 1, seed: SEED + i })[0],
    );
    const unsettled: string[] = [];
    for (let start = 0; start < documents.length; start += BATCH) {
      const messages = [];
      for (const [offset, doc] of documents.slice(start, start + BATCH).entries()) {
        if (!doc) continue;
        const key = `${ns}/d-${start + offset}`;
        const object = await env.DOCUMENTS.put(key, doc.text, {
          customMetadata: { contentType: doc.contentType },
        });
        if (!object) throw new Error(`R2 put of ${key} returned no object`);
        messages.push({
          id: `m-${start + offset}`,
          timestamp: new Date(),
          attempts: 1,
          body: putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag),
        });
      }
      const batch = createMessageBatch("edgesearch-ingest", messages);
      const ctx = createExecutionContext();
      await worker.queue(batch, quietEnv, ctx);
      const result = await getQueueResult(batch, ctx);
      // A crash in processing retries the message (and logs ingest.crashed); nothing here is transient.
      unsettled.push(...result.retryMessages.map((m) => m.msgId));
      expect(result.explicitAcks.length + result.retryMessages.length, `batch at ${start}`).toBe(
        messages.length,
      );
    }
    const rows = await env.DB.prepare("SELECT id, status, error FROM documents WHERE namespace = ?")
      .bind(ns)
      .all<{ id: string; status: string; error: string | null }>();
    const byStatus: Record<string, number> = {};
    const reasons: Record<string, number> = {};
    for (const row of rows.results) {
      byStatus[row.status] = (byStatus[row.status] ?? 0) + 1;
      if (row.status === "failed") {
        const reason = (row.error ?? "(none)").replace(/\d+/g, "N");
        reasons[reason] = (reasons[reason] ?? 0) + 1;
      }
    }
    console.log(
      `ingest fuzz: ${COUNT} documents (seed ${SEED}): ${JSON.stringify(byStatus)}; failed by reason ${JSON.stringify(reasons)}`,
    );
    expect(unsettled, `retried (seed ${SEED})`).toEqual([]);
    expect(rows.results).toHaveLength(COUNT);
    const unexplained = rows.results.filter(
      (r) => r.status !== "indexed" && !(r.status === "failed" && r.error && r.error.length > 0),
    );
    expect(unexplained, `seed ${SEED}`).toEqual([]);
  }, 600_000);
});
