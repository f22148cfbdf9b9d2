// The per-document ingest budget: where it stops a document, and the order a batch is worked in.
import { describe, expect, it } from "vitest";
import { DocumentBudget, smallestFirst } from "../../src/ingest/budget";

describe("document budget", () => {
  it("lets stages run within the budget and stops the first one past it, naming it", () => {
    let now = 1_000;
    const budget = new DocumentBudget(500, () => now);
    now += 200;
    expect(() => budget.check("parse")).not.toThrow();
    now += 301;
    expect(() => budget.check("embed")).toThrow(
      "document exceeded its ingest budget of 500 ms (INGEST_DOCUMENT_BUDGET_MS) at embed",
    );
  });

  it("cuts off a stalled stage, and the abandoned work stops at its next check", async () => {
    const budget = new DocumentBudget(20);
    const reached: string[] = [];
    const stalled = budget.run(async () => {
      budget.check("embed");
      await new Promise((r) => setTimeout(r, 200));
      reached.push("after the stall");
      budget.check("commit");
      reached.push("committed");
    });
    await expect(stalled).rejects.toMatchObject({
      retryable: true,
      message: expect.stringMatching(/at embed$/),
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(reached).toEqual(["after the stall"]);
  });

  it("returns the work's result when it finishes in time", async () => {
    expect(await new DocumentBudget(10_000).run(async () => "done")).toBe("done");
  });
});

describe("batch order", () => {
  it("puts the smallest documents first, messages without a size among them", () => {
    const message = (id: string, size?: number) => ({ id, body: { object: { key: id, size } } });
    const order = smallestFirst([
      message("huge", 900_000),
      message("small", 40),
      { id: "task", body: { kind: "version-build" } },
      message("medium", 5_000),
    ]).map((m) => m.id);
    expect(order).toEqual(["task", "small", "medium", "huge"]);
  });
});
