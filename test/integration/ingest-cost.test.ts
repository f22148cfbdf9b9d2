// What ingesting one document costs in D1, read from its ingest point's counters: a one-chunk
// document reads a few rows whatever the namespace already holds, so its cost stays flat as the
// namespace grows (a statement that reads the namespace's chunk rows would show here).
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { putMessage } from "../../src/ingest/messages";
import type { CostCounters } from "../../src/observe/cost-counters";
import { parseCountersBlob } from "../../src/observe/cost-schema";
import { flushLocalMetrics } from "../../src/observe/local-dataset";
import { api, countRows, freshNamespace, putObject, waitFor, waitForStatus, waitIndexed } from "../support";
import { deliverMessage } from "../support/queue";
import { searchApi } from "../support/search";

// Per one-chunk document: its row, the chunk quota with the namespace's redaction settings (one
// statement), the keyword index check, the old keyword rows, the chunk insert, its keyword rows
// (and the FTS5 segment merges they trigger) and the document update (docs/cost.md).
const MAX_ROWS_READ = 30;
const MAX_QUERIES = 9;
// A document uploaded straight to R2 also has its row recorded at ingest (the API records it when
// the write is accepted): one batch (the versions already done, the row, the namespace's record)
// and the row read back.
const RECORD_QUERIES = 4;
const EXISTING = 60;

const ns = freshNamespace("ingest-cost");

/** The counters of the namespace's latest indexed point after point `after` (`point`: its id). */
async function indexedCounters(
  id: string,
  after = 0,
): Promise<{ point: number; counters: Partial<CostCounters> }> {
  return waitFor(`the ingest point of ${id}`, async () => {
    await flushLocalMetrics(env.DB);
    const row = await env.DB.prepare(
      `SELECT id, blob4 FROM local_metrics WHERE index1 = ?1 AND blob1 = 'ingest' AND blob3 = 'indexed'
       AND id > ?2 ORDER BY id DESC LIMIT 1`,
    )
      .bind(ns, after)
      .first<{ id: number; blob4: string | null }>();
    return row?.blob4 ? { point: row.id, counters: parseCountersBlob(row.blob4) } : undefined;
  });
}

beforeAll(async () => {
  const documents = Array.from({ length: EXISTING }, (_, i) => ({
    id: `existing-${i}`,
    title: `Existing ${i}`,
    text: `Existing document ${i} about walruses, puffins and herons number ${i * 7}.`,
  }));
  const res = await api("POST", `/v1/namespaces/${ns}/documents`, { documents });
  expect(res.status).toBe(202);
  await waitIndexed(ns, EXISTING, 120_000);
}, 150_000);

describe("ingest cost", () => {
  it(`a one-chunk document in a namespace of ${EXISTING} reads at most ${MAX_ROWS_READ} D1 rows in ${MAX_QUERIES} queries`, async () => {
    const res = await api("PUT", `/v1/namespaces/${ns}/documents/new-one`, {
      text: "The walrus hauls out on sea ice to rest between long foraging dives for clams.",
    });
    expect(res.status).toBe(202);
    await waitForStatus(ns, "new-one", "indexed");
    const { counters } = await indexedCounters("new-one");
    expect(counters.d1RowsRead ?? 0).toBeGreaterThan(0);
    expect(counters.d1RowsRead ?? 0).toBeLessThanOrEqual(MAX_ROWS_READ);
    expect(counters.d1Queries ?? 0).toBeLessThanOrEqual(MAX_QUERIES);
  });

  it("a document written again replaces its chunk and keyword rows", async () => {
    const id = "existing-3";
    const before = await api<{ updatedAt: string }>("GET", `/v1/namespaces/${ns}/documents/${id}`);
    const res = await api("PUT", `/v1/namespaces/${ns}/documents/${id}`, {
      text: "Narwhals carry a long spiral tusk through the arctic fjords.",
    });
    expect(res.status).toBe(202);
    await waitFor("the new version indexed", async () => {
      const doc = await api<{ status: string; updatedAt: string }>(
        "GET",
        `/v1/namespaces/${ns}/documents/${id}`,
      );
      return doc.body.status === "indexed" && doc.body.updatedAt !== before.body.updatedAt;
    });
    expect(
      await countRows("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1 AND doc_id = ?2", ns, id),
    ).toBe(1);
    const narwhal = await searchApi(ns, { query: "narwhal spiral tusk", mode: "keyword", cache: "bypass" });
    expect(narwhal.body.results.map((r) => r.id)).toEqual([id]);
    const old = await searchApi(ns, { query: "21", mode: "keyword", cache: "bypass" });
    expect(old.body.results.map((r) => r.id)).not.toContain(id);
  });

  it(`an R2-uploaded one-chunk document costs the API's D1 queries plus the ${RECORD_QUERIES} that record its row, and at most ${MAX_ROWS_READ} rows read`, async () => {
    const text = "The puffin carries a row of small fish crosswise in its striped bill.";
    const written = await api("PUT", `/v1/namespaces/${ns}/documents/through-api`, { text });
    expect(written.status).toBe(202);
    await waitForStatus(ns, "through-api", "indexed");
    const viaApi = await indexedCounters("through-api");

    const key = `${ns}/through-r2`;
    const object = await putObject(key, text);
    await deliverMessage(putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag));
    await waitForStatus(ns, "through-r2", "indexed");
    const viaR2 = await indexedCounters("through-r2", viaApi.point);

    expect(viaApi.counters.d1Queries ?? 0).toBeLessThanOrEqual(MAX_QUERIES);
    // The quota, read once for both: the upload's documents and bytes check and the chunk check.
    expect(viaR2.counters.d1Queries).toBe((viaApi.counters.d1Queries ?? 0) + RECORD_QUERIES);
    // Recording the row reads it by id, not the namespace's rows.
    expect(viaR2.counters.d1RowsRead ?? 0).toBeLessThanOrEqual(MAX_ROWS_READ);
  });
});
