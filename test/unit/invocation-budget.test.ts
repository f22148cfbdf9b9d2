// The invocation budget's counting: each plan's limits, the pools they share, and the two modes.
import { describe, expect, it } from "vitest";
import {
  InvocationBudget,
  type InvocationLimitError,
  PLAN_LIMITS,
} from "../../src/observe/invocation-budget";

function budget(plan: "paid" | "free", mode: "throw" | "warn" = "throw") {
  const warnings: InvocationLimitError[] = [];
  return { budget: new InvocationBudget("test", PLAN_LIMITS[plan], mode, (e) => warnings.push(e)), warnings };
}

describe("InvocationBudget", () => {
  it("allows the Free plan 50 fetches, and refuses the 51st with the platform's words", () => {
    const { budget: b } = budget("free");
    for (let i = 0; i < 50; i++) b.external();
    expect(() => b.external()).toThrow(
      "Too many subrequests: 51 external subrequests (fetch) per invocation, over the Workers Free limit of 50",
    );
  });

  it("counts fetches and service calls in one pool of 10,000 on Workers Paid", () => {
    const { budget: b } = budget("paid");
    for (let i = 0; i < 5000; i++) b.external();
    for (let i = 0; i < 5000; i++) b.service();
    expect(() => b.service()).toThrow(
      "10001 subrequests per invocation, over the Workers Paid limit of 10000",
    );
  });

  it("keeps the Free plan's service calls apart from its fetches", () => {
    const { budget: b } = budget("free");
    for (let i = 0; i < 50; i++) b.external();
    for (let i = 0; i < 1000; i++) b.service();
    expect(b.counts).toMatchObject({ externalSubrequests: 50, serviceSubrequests: 1000, subrequests: 1050 });
  });

  it('warns once per limit in "warn" mode and still reports it at the end', () => {
    const { budget: b, warnings } = budget("free", "warn");
    for (let i = 0; i < 60; i++) b.d1(1);
    expect(warnings.map((w) => w.limit)).toEqual(["d1Queries"]);
    expect(b.finish().exceeded?.message).toContain("51 D1 queries per Worker invocation");
  });

  it('fails the invocation at its end in "throw" mode, even when the refused call was caught', () => {
    const { budget: b } = budget("free");
    try {
      b.d1(51);
    } catch {
      // The code under test swallowed it.
    }
    expect(() => b.finish()).toThrow(
      "51 D1 queries per Worker invocation, over the Workers Free limit of 50",
    );
  });
});
