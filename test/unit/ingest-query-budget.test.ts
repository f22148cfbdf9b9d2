// Which documents of a queue batch start in one invocation, by their D1 queries at most.
import { describe, expect, it } from "vitest";
import { putMessage } from "../../src/ingest/messages";
import {
  DOCUMENT_QUERIES,
  documentQueries,
  heldBackBody,
  heldBackFirst,
  QueryAdmission,
} from "../../src/ingest/query-budget";
import { Meter } from "../../src/observe/meter";

const message = (key: string, size: number) => putMessage("docs", key, size, "e");

describe("documentQueries", () => {
  it("counts a small document at its worst case and a large one a query per further 2,000,000-byte slice of chunk rows", () => {
    expect(documentQueries(message("ns/a", 100))).toBe(DOCUMENT_QUERIES);
    expect(documentQueries(message("ns/b", 1_000_000))).toBe(DOCUMENT_QUERIES);
    expect(documentQueries(message("ns/c", 4_000_000))).toBe(DOCUMENT_QUERIES + 3);
  });
});

describe("QueryAdmission", () => {
  it("lets documents in while their worst case fits what the plan leaves, then refuses the rest", async () => {
    const meter = new Meter();
    meter.add("d1Queries", 3);
    const admission = new QueryAdmission(meter, 50);
    const first = await admission.admit(16);
    const second = await admission.admit(16);
    expect(first).not.toBeNull();
    expect(second).not.toBeNull();
    // 3 spent, 32 held for the two under way, 1 kept for a dead letter: 14 left.
    const third = admission.admit(16);
    if (!first || !second) throw new Error("unreachable");
    meter.scope(() => meter.add("d1Queries", 14), first.counters);
    admission.done(first);
    // 17 spent, 16 held, 1 kept: 16 left, the third fits once the first has ended.
    const running = await third;
    if (!running) throw new Error("the third document was refused");
    for (const doc of [second, running]) {
      meter.scope(() => meter.add("d1Queries", 14), doc.counters);
      admission.done(doc);
    }
    // 45 spent, 1 kept: 4 left, and with no document under way nothing more gets in.
    expect(await admission.admit(16)).toBeNull();
    expect(await admission.admit(1)).toBeNull();
  });

  it("lets in an invocation's first document even when its worst case alone is over the limit", async () => {
    const admission = new QueryAdmission(new Meter(), 50);
    expect(await admission.admit(80)).not.toBeNull();
  });
});

describe("heldBackFirst", () => {
  it("puts the documents sent back for want of queries first, each group in its order", () => {
    const bodies = [message("ns/a", 1), heldBackBody(message("ns/big", 900_000)), message("ns/b", 2)];
    const order = heldBackFirst(bodies.map((body) => ({ body })));
    expect(order.map((m) => (m.body as { object: { key: string } }).object.key)).toEqual([
      "ns/big",
      "ns/a",
      "ns/b",
    ]);
  });
});
