// Version builds within one invocation's D1 queries (50 on the Free plan, 1,000 on Workers Paid):
// each build step goes through the real queue consumer under the invocation budget
// (INVOCATION_BUDGET=throw fails an invocation over the limit), with the queue held here, so the
// messages a batch sends or retries are delivered again, batch by batch, until the builds end.
import { describe, expect, it } from "vitest";
import { BACKFILL_BATCH } from "../../src/migrations/backfill";
import type { NewVersionRequest } from "../../src/migrations/lifecycle";
import { api, freshNamespace, waitIndexed, waitVersionReady } from "../support";
import { drainHeld, expectWithinD1 } from "../support/queue";
import { createHeldV2 } from "../support/versions";

const MODEL = "@cf/baai/bge-small-en-v1.5";
/** Other chunking: each document is read from R2. */
const RECHUNKED: NewVersionRequest = { model: MODEL, chunking: { maxTokens: 128, overlapTokens: 16 } };
/** The same chunking: each document's chunks are copied, a query more per document. */
const COPIED: NewVersionRequest = { model: MODEL };

async function ingest(ns: string, count: number): Promise<void> {
  const documents = Array.from({ length: count }, (_, i) => ({
    id: `doc-${String(i).padStart(2, "0")}`,
    text: `Chamois group ${i} grazed the scree below the col at first light.`,
  }));
  expect((await api("POST", `/v1/namespaces/${ns}/documents`, { documents })).status).toBe(202);
  await waitIndexed(ns, count, 120_000);
}

async function built(ns: string): Promise<number> {
  const res = await api<{ build: { done: number } | null }>("GET", `/v1/namespaces/${ns}/versions/v2`);
  return res.body.build?.done ?? 0;
}

describe("version build budget", () => {
  it("builds two namespaces of 12 documents at once on the Free plan, each invocation within its 50 D1 queries", async () => {
    const namespaces = [freshNamespace("bbf"), freshNamespace("bbf")];
    for (const ns of namespaces) await ingest(ns, 12);
    const first = [];
    for (const ns of namespaces) first.push(await createHeldV2(ns, RECHUNKED));
    const { reports, retried } = await drainHeld(first, "free");
    expectWithinD1(reports, "free", "version build");
    // A step that did not fit was sent back, not retried: it cost no delivery attempt.
    expect(retried).toBe(0);
    for (const ns of namespaces) {
      await waitVersionReady(ns, "v2");
      expect(await built(ns), ns).toBe(12);
    }
  }, 150_000);

  it("runs a Paid batch of three build steps within its 1,000 D1 queries, the last one smaller", async () => {
    const namespaces = [freshNamespace("bbp"), freshNamespace("bbp"), freshNamespace("bbp")];
    for (const ns of namespaces) await ingest(ns, BACKFILL_BATCH);
    const first = [];
    for (const ns of namespaces) first.push(await createHeldV2(ns, COPIED));
    const { reports, retried } = await drainHeld(first, "paid");
    expectWithinD1(reports, "paid", "version build");
    expect(retried).toBe(0);
    for (const ns of namespaces) {
      await waitVersionReady(ns, "v2");
      expect(await built(ns), ns).toBe(BACKFILL_BATCH);
    }
  }, 300_000);
});
