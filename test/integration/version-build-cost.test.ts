// What a version build costs in D1 per rebuilt document, read from the cost counters of its
// steps, and which redaction settings each step applies. The build is driven one step (one queue
// message) at a time: the step's next task is held here instead of going to the queue.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  BACKFILL_BATCH,
  processVersionTask,
  STEP_DOCUMENT_QUERIES,
  STEP_QUERIES,
} from "../../src/migrations/backfill";
import type { CostCounters } from "../../src/observe/cost-counters";
import { Meter } from "../../src/observe/meter";
import { api, freshNamespace, waitIndexed, waitVersionReady } from "../support";
import { consumerServices, createHeldV2, HeldTasks } from "../support/versions";

const EMAIL = "rosalind.featherstonehaugh@example.org";
// One step of BACKFILL_BATCH documents, then one of the rest.
const DOCUMENTS = BACKFILL_BATCH + 5;
const MODEL = "@cf/baai/bge-small-en-v1.5";
// Other chunking: every document is read from its R2 original and redacted, not copied.
const RECHUNKED = { model: MODEL, chunking: { maxTokens: 128, overlapTokens: 16 } };
/**
 * D1 queries per document rebuilt from R2: its commit batch (the keyword table's creation, first
 * fill and record, each a no-op once done, the old keyword rows, the old chunk rows, the chunk
 * insert, the new keyword rows, the document row). The step adds its own whatever its size: the
 * page of documents, their count and the namespace's redaction settings, read once for the step.
 */
const QUERIES_PER_DOCUMENT = 8;
const QUERIES_PER_STEP = 3;
/** A document whose chunks are copied from the active version reads them first: one query more. */
const COPY_QUERIES_PER_DOCUMENT = 9;
const COPIED = 10;

/** Writes the documents, each holding an address, and waits until they are indexed. */
async function ingest(ns: string, ids: readonly string[]): Promise<void> {
  const documents = ids.map((id) => ({
    id,
    text: `Ibex herd ${id} was counted on the ridge; sightings go to ${EMAIL} before dusk.`,
  }));
  expect((await api("POST", `/v1/namespaces/${ns}/documents`, { documents })).status).toBe(202);
  await waitIndexed(ns, ids.length, 120_000);
  // Settings stored, redacting nothing: reading them reads a row.
  expect((await api("PUT", `/v1/namespaces/${ns}/redaction`, { email: false })).status).toBe(200);
}

/** Runs one build step as the queue consumer would, with its own meter. */
async function runStep(task: unknown): Promise<{ counters: CostCounters; next: unknown }> {
  const meter = new Meter();
  const queue = new HeldTasks();
  const decision = await processVersionTask(
    { ...consumerServices(meter), queue: queue as unknown as Queue },
    task,
    1,
  );
  expect(decision.type).toBe("ack");
  expect(queue.held.length).toBeLessThanOrEqual(1);
  return { counters: meter.total(), next: queue.held[0] };
}

/** Per rebuilt document, for the figures in docs/cost.md. */
function perDocument(what: string, counters: CostCounters, documents: number): string {
  const per = (n: number) => (n / documents).toFixed(2);
  return `${what}: ${counters.d1Queries} D1 queries, ${counters.d1RowsRead} rows read for ${documents} documents; per document ${per(counters.d1Queries)} queries, ${per(counters.d1RowsRead)} rows read`;
}

async function built(ns: string): Promise<number> {
  const res = await api<{ build: { done: number } | null }>("GET", `/v1/namespaces/${ns}/versions/v2`);
  return res.body.build?.done ?? 0;
}

/** The v2 chunk text of each document. */
async function v2Texts(ns: string): Promise<Map<string, string>> {
  const { results } = await env.DB.prepare(
    "SELECT doc_id, group_concat(text, ' ') AS text FROM chunks WHERE namespace = ?1 AND version = 'v2' GROUP BY doc_id",
  )
    .bind(ns)
    .all<{ doc_id: string; text: string }>();
  return new Map(results.map((r) => [r.doc_id, r.text]));
}

const ns = freshNamespace("build-cost");
const ids = Array.from({ length: DOCUMENTS }, (_, i) => `doc-${String(i).padStart(2, "0")}`);
let first: { counters: CostCounters; next: unknown };

beforeAll(async () => {
  await ingest(ns, ids);
  first = await runStep(await createHeldV2(ns, RECHUNKED));
}, 150_000);

describe("version build cost", () => {
  it(`rebuilds ${BACKFILL_BATCH} documents from R2 in one step, reading the redaction settings once`, async () => {
    expect(await built(ns)).toBe(BACKFILL_BATCH);
    console.log(perDocument("build step from R2", first.counters, BACKFILL_BATCH));
    expect(first.counters.d1Queries).toBeLessThanOrEqual(
      QUERIES_PER_STEP + QUERIES_PER_DOCUMENT * BACKFILL_BATCH,
    );
    // The consumer sizes each step by STEP_QUERIES and STEP_DOCUMENT_QUERIES (stepDocuments):
    // what a step makes must stay within them.
    expect(first.counters.d1Queries).toBeLessThanOrEqual(
      STEP_QUERIES + STEP_DOCUMENT_QUERIES * BACKFILL_BATCH,
    );
  });

  it("applies a change of the settings from the next step", async () => {
    // The first step ran with redaction off: its documents keep the address.
    const before = await v2Texts(ns);
    for (const id of ids.slice(0, BACKFILL_BATCH)) expect(before.get(id), id).toContain(EMAIL);
    expect((await api("PUT", `/v1/namespaces/${ns}/redaction`, { email: true })).status).toBe(200);
    let task = first.next;
    while (task !== undefined) task = (await runStep(task)).next;
    await waitVersionReady(ns, "v2");
    const after = await v2Texts(ns);
    for (const id of ids.slice(BACKFILL_BATCH)) {
      expect(after.get(id), id).toContain("[EMAIL]");
      expect(after.get(id), id).not.toContain(EMAIL);
    }
  });

  it("copies the chunks of a build with the same chunking without reading the settings", async () => {
    const copy = freshNamespace("build-copy");
    const copyIds = ids.slice(0, COPIED);
    await ingest(copy, copyIds);
    const step = await runStep(await createHeldV2(copy, { model: MODEL }));
    expect(await built(copy)).toBe(COPIED);
    console.log(perDocument("build step copying chunks", step.counters, COPIED));
    // The settings read would be one query more: nothing is read from R2, so nothing is redacted.
    expect(step.counters.d1Queries).toBeLessThanOrEqual(
      QUERIES_PER_STEP - 1 + COPY_QUERIES_PER_DOCUMENT * COPIED,
    );
    expect(step.counters.d1Queries).toBeLessThanOrEqual(STEP_QUERIES + STEP_DOCUMENT_QUERIES * COPIED);
    expect(step.counters.r2ClassB).toBe(0);
  }, 150_000);
});
