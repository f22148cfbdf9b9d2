import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import type { BackfillProgress, GateReport, VersionState } from "../../src/versions/model";
import { VERSION_STATES } from "../../src/versions/model";
import {
  awaitingPurge,
  canTransition,
  checkActivate,
  checkCreate,
  checkGate,
  checkIndexCaughtUp,
  endGrace,
  finishBuild,
  planActivate,
  planRetire,
  planRollback,
  type VersionStatus,
} from "../../src/versions/transitions";

/** The error `fn` throws, as code and message. */
function refusal(fn: () => unknown): { code: string; message: string; extra?: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return { code: err.code, message: err.message, extra: err.extra };
    throw err;
  }
  throw new Error("expected a refusal");
}

const v = (id: string, state: VersionState): VersionStatus => ({ id, state });

const ALLOWED: [VersionState, VersionState][] = [
  ["building", "ready"],
  ["building", "retired"],
  ["ready", "active"],
  ["ready", "retired"],
  ["active", "previous"],
  ["active", "ready"],
  ["previous", "active"],
  ["previous", "retired"],
];

describe("version state changes", () => {
  const pairs = VERSION_STATES.flatMap((from) => VERSION_STATES.map((to) => [from, to] as const));
  it.each(pairs)("%s -> %s is allowed only if listed", (from, to) => {
    const listed = ALLOWED.some(([f, t]) => f === from && t === to);
    expect(canTransition(from, to)).toBe(listed);
  });

  it("finishes a build only from building", () => {
    expect(finishBuild(v("v2", "building"))).toEqual({ id: "v2", from: "building", to: "ready" });
    for (const state of VERSION_STATES.filter((s) => s !== "building")) {
      expect(refusal(() => finishBuild(v("v2", state))).code).toBe("internal");
    }
  });
});

describe("creating a version", () => {
  it("is allowed when no other version is building or ready", () => {
    expect(() => checkCreate([v("v1", "retired"), v("v2", "previous"), v("v3", "active")])).not.toThrow();
  });

  it.each(["building", "ready"] as const)("is refused while another version is %s", (state) => {
    expect(refusal(() => checkCreate([v("v1", "active"), v("v2", state)]))).toMatchObject({
      code: "conflict",
      message: `version v2 is ${state}; activate or retire it before creating another`,
    });
  });
});

describe("activating a version", () => {
  it("makes a ready version active, the active one previous, and retires the one previous before", () => {
    const versions = [v("v1", "previous"), v("v2", "active"), v("v3", "ready")];
    expect(planActivate(versions, "v3")).toEqual([
      { id: "v1", from: "previous", to: "retired" },
      { id: "v2", from: "active", to: "previous" },
      { id: "v3", from: "ready", to: "active" },
    ]);
  });

  it("needs no previous version", () => {
    expect(planActivate([v("v1", "active"), v("v2", "ready")], "v2")).toEqual([
      { id: "v1", from: "active", to: "previous" },
      { id: "v2", from: "ready", to: "active" },
    ]);
  });

  it.each(["building", "active", "previous", "retired"] as const)("refuses a %s version", (state) => {
    const versions = [v("v1", state === "active" ? "ready" : "active"), v("v2", state)];
    const expected = {
      code: "conflict",
      message: `version v2 is ${state}; only a ready version can be activated`,
    };
    expect(refusal(() => planActivate(versions, "v2"))).toMatchObject(expected);
    expect(refusal(() => checkActivate(versions[1], "v2"))).toMatchObject(expected);
  });

  it("refuses a version that does not exist", () => {
    expect(refusal(() => planActivate([v("v1", "active")], "v9"))).toMatchObject({
      code: "not_found",
      message: "version v9 does not exist",
    });
    expect(refusal(() => checkActivate(null, "v9")).code).toBe("not_found");
  });
});

describe("rolling back", () => {
  it("makes the previous version active and the active one ready", () => {
    expect(planRollback([v("v1", "previous"), v("v2", "active"), v("v3", "retired")])).toEqual([
      { id: "v2", from: "active", to: "ready" },
      { id: "v1", from: "previous", to: "active" },
    ]);
  });

  it("is refused without a previous version", () => {
    for (const versions of [[v("v1", "active")], [v("v1", "retired"), v("v2", "active"), v("v3", "ready")]]) {
      expect(refusal(() => planRollback(versions))).toMatchObject({
        code: "conflict",
        message: "there is no previous version to roll back to",
      });
    }
  });
});

describe("retiring a version", () => {
  it.each(["building", "ready", "previous"] as const)("retires a %s version", (state) => {
    expect(planRetire([v("v1", "active"), v("v2", state)], "v2")).toEqual([
      { id: "v2", from: state, to: "retired" },
    ]);
  });

  it("changes nothing for a retired version", () => {
    expect(planRetire([v("v1", "active"), v("v2", "retired")], "v2")).toEqual([]);
  });

  it("refuses the active version, and a version that does not exist", () => {
    expect(refusal(() => planRetire([v("v1", "active")], "v1"))).toMatchObject({
      code: "conflict",
      message: "version v1 is active; activate another version or roll back first",
    });
    expect(refusal(() => planRetire([v("v1", "active")], "v2")).code).toBe("not_found");
  });
});

describe("the end of a previous version's grace period", () => {
  it("retires a previous version once its grace has ended, not before", () => {
    const previous = { ...v("v1", "previous"), retireAt: 1000 };
    expect(endGrace(previous, 999)).toBeNull();
    expect(endGrace(previous, 1000)).toEqual({ id: "v1", from: "previous", to: "retired" });
  });

  it("leaves other states alone, whatever their retireAt", () => {
    for (const state of VERSION_STATES.filter((s) => s !== "previous")) {
      expect(endGrace({ ...v("v1", state), retireAt: 0 }, 1000)).toBeNull();
    }
    expect(endGrace({ ...v("v1", "previous"), retireAt: null }, 1000)).toBeNull();
  });
});

describe("purging a retired version", () => {
  it("is wanted only for a retired version whose purge is not confirmed", () => {
    expect(awaitingPurge({ ...v("v2", "retired"), purged: false })).toBe(true);
    expect(awaitingPurge({ ...v("v2", "retired"), purged: true })).toBe(false);
    expect(awaitingPurge(null)).toBe(false);
    for (const state of VERSION_STATES.filter((s) => s !== "retired")) {
      expect(awaitingPurge({ ...v("v2", state), purged: false })).toBe(false);
    }
  });
});

describe("activation evidence", () => {
  const progress = (lastMutationId: string | null, lastMutationAt: number | null): BackfillProgress => ({
    phase: "done",
    cursor: "",
    total: 1,
    done: 1,
    failed: 0,
    failures: [],
    lastMutationId,
    lastMutationAt,
    startedAt: 0,
    updatedAt: 0,
    finishedAt: 0,
  });
  const none = { processedUpToMutation: null, processedUpToDatetime: null };

  it("accepts a build that wrote nothing, or an index that applied its last write", () => {
    expect(() => checkIndexCaughtUp("v2", null, none)).not.toThrow();
    expect(() => checkIndexCaughtUp("v2", progress(null, null), none)).not.toThrow();
    const p = progress("m-7", 500);
    expect(() =>
      checkIndexCaughtUp("v2", p, { processedUpToMutation: "m-7", processedUpToDatetime: null }),
    ).not.toThrow();
    expect(() =>
      checkIndexCaughtUp("v2", p, { processedUpToMutation: "m-9", processedUpToDatetime: 500 }),
    ).not.toThrow();
  });

  it("refuses, retryable shortly, while the index has not applied the last write", () => {
    const p = progress("m-7", 500);
    for (const evidence of [none, { processedUpToMutation: "m-6", processedUpToDatetime: 499 }]) {
      expect(refusal(() => checkIndexCaughtUp("v2", p, evidence))).toMatchObject({
        code: "conflict",
        message: expect.stringMatching(/v2 has not applied the build's last write \(m-7\)/),
        extra: { retryAfter: 2 },
      });
    }
  });
});

describe("the quality gate", () => {
  const gate = (over: Partial<GateReport>): GateReport => ({
    queries: 3,
    ndcg: 0.5,
    activeNdcg: 0.9,
    minNdcg: null,
    tolerance: 0.02,
    passed: false,
    forced: false,
    at: 0,
    ...over,
  });

  it("lets a passed or a forced gate through", () => {
    expect(() => checkGate("v2", gate({ passed: true }))).not.toThrow();
    expect(() => checkGate("v2", gate({ forced: true }))).not.toThrow();
  });

  it("refuses a failed gate, saying by how much, and a gate without golden queries", () => {
    expect(refusal(() => checkGate("v2", gate({})))).toMatchObject({
      code: "conflict",
      message: expect.stringMatching(
        /^quality gate failed for version v2: nDCG@10 0\.5000 over 3 golden queries and more than 0\.02 below the active version's 0\.9000; pass "force": true/,
      ),
    });
    expect(refusal(() => checkGate("v2", gate({ queries: 0, ndcg: 0, activeNdcg: null }))).message).toMatch(
      /no golden queries/,
    );
  });
});
