// The documents API's largest calls inside one invocation's D1 queries (Workers Paid: 1,000, each
// statement of a batch counted): a batch of 1,000 documents and the deletion of a namespace's
// documents, a page of 1,000 at a time. One statement per document would take over 1,000.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BudgetReport } from "../../src/observe/invocation-budget";
import { DocumentStore } from "../../src/store/documents";
import { observeBudgets } from "../../workers/invocation-budget";
import { api, freshNamespace } from "../support";

const BATCH = 1000;

/** The fetch invocations' D1 query counts while `work` runs. */
async function fetchQueries(work: () => Promise<void>): Promise<number[]> {
  const reports: BudgetReport[] = [];
  const stop = observeBudgets((r) => reports.push(r));
  try {
    await work();
  } finally {
    stop();
  }
  return reports.filter((r) => r.handler === "fetch").map((r) => r.counts.d1Queries);
}

describe("the documents API within one invocation's D1 queries", () => {
  it("accepts a batch of 1,000 documents, then deletes them with the namespace", async () => {
    const ns = freshNamespace("batch");
    const documents = Array.from({ length: BATCH }, (_, i) => ({
      id: `doc-${i}`,
      text: `Note ${i} about tide pools, kelp and limpets.`,
      metadata: { category: i % 2 === 0 ? "even" : "odd" },
    }));
    let put: Awaited<ReturnType<typeof api>> | undefined;
    const putQueries = await fetchQueries(async () => {
      put = await api("POST", `/v1/namespaces/${ns}/documents`, { documents });
    });
    expect(put?.status).toBe(202);
    expect(put?.body).toMatchObject({ accepted: BATCH });
    expect(Math.max(...putQueries)).toBeLessThan(50);
    const queued = await env.DB.prepare("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1")
      .bind(ns)
      .first<{ n: number }>();
    expect(queued?.n).toBe(BATCH);

    let deleted: Awaited<ReturnType<typeof api>> | undefined;
    const deleteQueries = await fetchQueries(async () => {
      deleted = await api("DELETE", `/v1/namespaces/${ns}`);
    });
    expect(deleted?.status).toBe(202);
    expect(deleted?.body).toMatchObject({ accepted: BATCH, remaining: false });
    expect(Math.max(...deleteQueries)).toBeLessThan(100);
    expect(await new DocumentStore(env.DB).listLiveIds(ns, 10)).toEqual([]);
  });
});
