// The ingest's worst cases inside one invocation's limits: a maximum-size markdown document, a
// maximum-size JSON document and a queue batch of max_batch_size of them, each through the real
// queue consumer under the invocation budget (Workers Paid), each ending indexed with its chunk
// and keyword rows written in a few statements, not one per chunk.
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  type MessageBatchMessage,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { worstCaseJson, worstCaseMarkdown } from "../../scripts/lib/worst-case-documents.ts";
import { loadConfig } from "../../src/config";
import { putMessage } from "../../src/ingest/messages";
import type { BudgetReport } from "../../src/observe/invocation-budget";
import { DocumentStore } from "../../src/store/documents";
import { workerEnv } from "../../workers/env";
import worker from "../../workers/index";
import { observeBudgets, withInvocationBudget } from "../../workers/invocation-budget";
import { freshNamespace } from "../support";

const QUEUE = "edgesearch-ingest";
/** max_batch_size of the ingest consumer in wrangler.toml. */
const MAX_BATCH_SIZE = 10;
/**
 * D1 queries one maximum-size document may take: reads, the queued row, and the commit batch
 * (keyword table, unindex, delete, one insert per 2,000,000-byte slice, index, row updates).
 * One INSERT per chunk was about 1,100.
 */
const QUERIES_PER_DOCUMENT = 25;

interface Upload {
  key: string;
  body: string;
  contentType: string;
}

let seq = 0;
/** Puts the objects in R2 and delivers their messages to the consumer as one batch. */
async function ingestBatch(
  uploads: Upload[],
): Promise<{ report: BudgetReport; acked: number; retried: number }> {
  const messages: MessageBatchMessage[] = [];
  for (const u of uploads) {
    const object = await env.DOCUMENTS.put(u.key, u.body, { httpMetadata: { contentType: u.contentType } });
    if (!object) throw new Error("R2 put returned no object");
    seq += 1;
    messages.push({
      id: `limits-${seq}`,
      timestamp: new Date(),
      attempts: 1,
      body: putMessage(env.DOCUMENTS_BUCKET_NAME, u.key, object.size, object.etag),
    });
  }
  const batch = createMessageBatch(QUEUE, messages);
  // Each test's namespace is alone: the ledger would count the previous test's namespace as a
  // contender for a few seconds (fairness), and a batch over its share would be deferred, not
  // measured.
  await env.DB.prepare("DELETE FROM ingest_ledger").run();
  const reports: BudgetReport[] = [];
  const stop = observeBudgets((r) => reports.push(r));
  const ctx = createExecutionContext();
  try {
    await worker.queue(batch, env, ctx);
  } finally {
    stop();
  }
  const result = await getQueueResult(batch, ctx);
  const report = reports.find((r) => r.handler === `queue ${QUEUE}`);
  if (!report) throw new Error("the queue invocation reported no budget");
  return { report, acked: result.explicitAcks.length, retried: result.retryMessages.length };
}

async function expectIndexed(ns: string, ids: string[]): Promise<number> {
  const store = new DocumentStore(env.DB);
  let chunks = 0;
  for (const id of ids) {
    const row = await store.get(ns, id);
    expect(row, id).toMatchObject({ status: "indexed", error: null });
    chunks += row?.chunkCount ?? 0;
  }
  return chunks;
}

describe("worst-case ingest within one invocation's limits (Workers Paid)", () => {
  const maxBytes = loadConfig(env).maxDocumentBytes;

  it.each([
    { kind: "markdown", name: "doc.md", contentType: "text/markdown", make: worstCaseMarkdown },
    { kind: "JSON", name: "records.json", contentType: "application/json", make: worstCaseJson },
  ])(
    "indexes a maximum-size $kind document in a bounded number of D1 queries",
    async (c) => {
      const ns = freshNamespace("limits");
      const body = c.make(maxBytes);
      expect(body.length).toBeGreaterThan(maxBytes - 4096);
      const { report, acked } = await ingestBatch([
        { key: `${ns}/${c.name}`, body, contentType: c.contentType },
      ]);
      expect(acked).toBe(1);
      // More chunks than the D1 queries an invocation may make: one INSERT each could not fit.
      expect(await expectIndexed(ns, [c.name])).toBeGreaterThan(1000);
      expect(report.exceeded).toBeNull();
      expect(report.counts.d1Queries).toBeLessThanOrEqual(QUERIES_PER_DOCUMENT);
    },
    120_000,
  );

  it("writes chunk rows over D1's 2,000,000-byte value limit in slices D1 accepts", async () => {
    const ns = freshNamespace("limits");
    // Budgeted: a slice over the limit would be refused as D1 refuses it.
    const store = new DocumentStore(withInvocationBudget(workerEnv(env)).DB);
    await store.upsertQueued(ns, [
      { id: "big", title: null, contentType: "text/plain", metadata: {}, bytes: 1, etag: "e" },
    ]);
    // 1,500 chunks of 1,500 bytes of two-byte characters: about 2.25 MB of JSON, two slices.
    const text = (i: number) => `${i} ${"é".repeat(700)}`;
    const chunks = Array.from({ length: 1500 }, (_, i) => ({
      chunkId: `${ns}-big-${i}`,
      index: i,
      title: null,
      headings: [`h${i}`],
      text: text(i),
      tokens: 300,
    }));
    expect(
      await store.commitIndexed(ns, "big", "e", { title: null, versions: [{ version: "v1", chunks }] }),
    ).toBe(true);
    const rows = await store.documentChunks(ns, "big", "v1");
    expect(rows).toHaveLength(1500);
    expect(rows[1499]).toEqual(chunks[1499]);
    expect(rows.every((r, i) => r.index === i && r.text === text(i))).toBe(true);
  });

  it("indexes a full queue batch of maximum-size documents in one invocation", async () => {
    const ns = freshNamespace("limits");
    const uploads: Upload[] = Array.from({ length: MAX_BATCH_SIZE }, (_, i) =>
      i % 2 === 0
        ? { key: `${ns}/doc-${i}.md`, body: worstCaseMarkdown(maxBytes, i + 1), contentType: "text/markdown" }
        : {
            key: `${ns}/doc-${i}.json`,
            body: worstCaseJson(maxBytes, i + 1),
            contentType: "application/json",
          },
    );
    const { report, acked, retried } = await ingestBatch(uploads);
    expect({ acked, retried }).toEqual({ acked: MAX_BATCH_SIZE, retried: 0 });
    await expectIndexed(
      ns,
      uploads.map((u) => u.key.slice(ns.length + 1)),
    );
    expect(report.exceeded).toBeNull();
    expect(report.counts.d1Queries).toBeLessThanOrEqual(QUERIES_PER_DOCUMENT * MAX_BATCH_SIZE);
  }, 600_000);
});
