// Document batches within one invocation's D1 queries (50 on the Free plan, 1,000 on Workers
// Paid): full batches of 10 documents go through the real queue consumer under the invocation
// budget (INVOCATION_BUDGET=throw fails an invocation over the limit), with the queue held here,
// so the documents a batch sends back or retries are delivered again until none is left.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { putMessage } from "../../src/ingest/messages";
import { api, apiWithEnv, freshNamespace, putObject } from "../support";
import { deliverHeld, drainHeld, expectWithinD1, MAX_BATCH_SIZE } from "../support/queue";
import { searchApi } from "../support/search";
import { HeldTasks } from "../support/versions";

const ids = Array.from({ length: MAX_BATCH_SIZE }, (_, i) => `doc-${String(i).padStart(2, "0")}`);
const text = (id: string) => `Ibex ${id} climbed the dam wall to lick the salt from its stones.`;

/** One-chunk documents uploaded straight to R2: their notifications, as R2 sends them. */
async function uploaded(ns: string): Promise<unknown[]> {
  const messages = [];
  for (const id of ids) {
    const object = await putObject(`${ns}/${id}`, text(id));
    messages.push(putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/${id}`, object.size, object.etag));
  }
  return messages;
}

/** One-chunk documents written through the API: the messages it enqueued, held. */
async function written(ns: string): Promise<unknown[]> {
  const queue = new HeldTasks();
  const documents = ids.map((id) => ({ id, text: text(id) }));
  const res = await apiWithEnv(
    { ...env, INGEST_QUEUE: queue } as unknown as Env,
    "POST",
    `/v1/namespaces/${ns}/documents`,
    {
      documents,
    },
  );
  expect(res.status).toBe(202);
  expect(queue.held).toHaveLength(MAX_BATCH_SIZE);
  return queue.held;
}

/** A queue whose every send fails. */
class RefusingQueue {
  readonly held: unknown[] = [];
  async send(): Promise<void> {
    throw new Error("Queue send failed: Too Many Requests");
  }
  async sendBatch(): Promise<void> {
    throw new Error("Queue send failed: Too Many Requests");
  }
}

async function statuses(ns: string): Promise<string[]> {
  const out = [];
  for (const id of ids) {
    const res = await api<{ status: string }>("GET", `/v1/namespaces/${ns}/documents/${id}`);
    out.push(res.body.status);
  }
  return out;
}

describe("ingest batch budget", () => {
  for (const [source, messages] of [
    ["uploaded straight to R2", uploaded],
    ["written through the API", written],
  ] as const) {
    it(`indexes a Free-plan batch of 10 documents ${source}, each invocation within its 50 D1 queries`, async () => {
      const ns = freshNamespace("ibf");
      const { reports, retried } = await drainHeld(await messages(ns), "free");
      expectWithinD1(reports, "free", `10 documents ${source}`);
      // The ones that did not fit were sent back, not retried: they cost no delivery attempt.
      expect(retried).toBe(0);
      expect(reports.length).toBeGreaterThan(1);
      expect(await statuses(ns)).toEqual(ids.map(() => "indexed"));
    }, 120_000);
  }

  it("indexes again a Free-plan batch of 10 documents replaced in R2, each invocation within its 50 D1 queries", async () => {
    const ns = freshNamespace("ibr");
    await drainHeld(await uploaded(ns), "free");
    const replaced = [];
    for (const id of ids) {
      const object = await putObject(`${ns}/${id}`, `Chough ${id} wheeled above the ridge in the updraft.`);
      replaced.push(putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/${id}`, object.size, object.etag));
    }
    const { reports, retried } = await drainHeld(replaced, "free");
    expectWithinD1(reports, "free", "10 documents replaced in R2");
    expect(retried).toBe(0);
    expect(await statuses(ns)).toEqual(ids.map(() => "indexed"));
    const found = await searchApi(ns, { query: "chough ridge updraft", mode: "keyword", cache: "bypass" });
    expect(found.body.results).toHaveLength(MAX_BATCH_SIZE);
  }, 120_000);

  it("retries the documents it cannot send back on the Free plan, losing none", async () => {
    const ns = freshNamespace("ibx");
    const refusing = new RefusingQueue();
    const first = await deliverHeld(await uploaded(ns), "free", refusing);
    expectWithinD1([first.report], "free", "10 documents, the queue refusing sends");
    // Every document not indexed comes back as a retry of its own delivery.
    const indexed = (await statuses(ns)).filter((s) => s === "indexed").length;
    expect(indexed).toBeGreaterThan(0);
    expect(first.retried).toBe(MAX_BATCH_SIZE - indexed);
    const { reports } = await drainHeld(first.next, "free");
    expectWithinD1(reports, "free", "the retried documents");
    expect(await statuses(ns)).toEqual(ids.map(() => "indexed"));
  }, 120_000);

  it("indexes a Paid batch of 10 documents in one invocation", async () => {
    const ns = freshNamespace("ibp");
    const delivered = await deliverHeld(await uploaded(ns), "paid");
    expectWithinD1([delivered.report], "paid", "10 documents uploaded straight to R2");
    expect(delivered.next).toEqual([]);
    expect(await statuses(ns)).toEqual(ids.map(() => "indexed"));
  }, 120_000);
});
