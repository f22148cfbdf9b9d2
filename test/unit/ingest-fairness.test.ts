// Which messages of a batch fairness defers, and for how long.
import { describe, expect, it } from "vitest";
import {
  DOCUMENT_OVERHEAD,
  deferralDelaySeconds,
  FAIR_SHARE_FLOOR,
  type FairnessItem,
  fairnessItem,
  MAX_DEFERRALS,
  planFairness,
} from "../../src/ingest/fairness";
import { deleteMessage, putMessage } from "../../src/ingest/messages";
import { QUEUE_MAX_DELAY_SECONDS } from "../../src/ingest/pipeline";

const MIB = 1_048_576;
const doc = (namespace: string, bytes: number, deferrals = 0): FairnessItem => ({
  namespace,
  key: `${namespace}/d`,
  cost: bytes + DOCUMENT_OVERHEAD,
  deferrals,
  deferrable: deferrals < MAX_DEFERRALS,
});

describe("ingest fairness plan", () => {
  it("defers the namespace over its share in a batch with another namespace, and admits the other", () => {
    const plan = planFairness(
      [doc("light", 100), doc("heavy", 200_000), doc("heavy", 300_000)],
      new Map([
        ["heavy", 8 * MIB],
        ["light", 10_000],
      ]),
    );
    expect(plan.defer).toEqual([false, true, true]);
    expect(plan.admitted.get("light")).toEqual({ cost: 100 + DOCUMENT_OVERHEAD, documents: 1 });
    expect(plan.admitted.has("heavy")).toBe(false);
  });

  it("admits a namespace's documents up to its share, then defers the rest", () => {
    const plan = planFairness(
      [doc("light", 100), doc("heavy", 400_000), doc("heavy", 400_000), doc("heavy", 400_000)],
      new Map([["heavy", 100_000]]),
    );
    // 100,000 + 2 x 404,096 fits the 1 MiB floor; a third would not.
    expect(plan.share).toBe(FAIR_SHARE_FLOOR);
    expect(plan.defer).toEqual([false, false, false, true]);
  });

  it("always admits one document of a namespace that has used nothing, however large", () => {
    const plan = planFairness([doc("light", 100), doc("big", 2 * MIB)], new Map(), MIB);
    expect(plan.defer).toEqual([false, false]);
  });

  it("counts a waiting namespace outside the batch as a contender", () => {
    const used = new Map([
      ["heavy", 100 * MIB],
      ["waiting", 10_000],
    ]);
    expect(planFairness([doc("heavy", MIB), doc("heavy", MIB)], used).defer).toEqual([true, true]);
  });

  it("defers nothing in a batch of one namespace, however much it used, when none waits", () => {
    const plan = planFairness([doc("heavy", MIB), doc("heavy", MIB)], new Map([["heavy", 100 * MIB]]));
    expect(plan.defer).toEqual([false, false]);
  });

  it("never defers a namespace that has used less than another contender, even past the mean share", () => {
    // Three contenders; the mean (about 1.3 MiB) is over the floor, and "steady" is over the mean.
    const used = new Map([
      ["heavy", 2 * MIB],
      ["steady", 1.9 * MIB],
      ["idle", 0],
    ]);
    const plan = planFairness([doc("steady", 100), doc("steady", 100), doc("heavy", 100)], used);
    expect(plan.share).toBeGreaterThan(FAIR_SHARE_FLOOR);
    expect(plan.defer).toEqual([false, false, true]);
  });

  it("processes the heaviest namespace's admitted documents after every other namespace's", () => {
    // Nothing used yet: the namespace whose documents in the batch cost most goes last.
    const fresh = planFairness([doc("steady", 100), doc("flood", 200_000), doc("steady", 300)], new Map());
    expect(fresh.defer).toEqual([false, false, false]);
    expect(fresh.last).toEqual([false, true, false]);
    // A recent cost counts too: "flood" goes last with the smallest document of the batch.
    const used = new Map([["flood", 600_000]]);
    const plan = planFairness([doc("flood", 10), doc("steady", 5_000)], used);
    expect(plan.last).toEqual([true, false]);
  });

  it("holds nothing back in a batch of one namespace", () => {
    const plan = planFairness([doc("flood", 10), doc("flood", 500_000)], new Map([["flood", 600_000]]));
    expect(plan.last).toEqual([false, false]);
  });

  it("never defers a message deferred MAX_DEFERRALS times, a retry or a delete", () => {
    const used = new Map([["heavy", 100 * MIB]]);
    const put = putMessage("bucket", "heavy/a", 1000, "e");
    const items = [
      fairnessItem(putMessage("bucket", "light/a", 10, "e"), 1),
      fairnessItem({ ...put, deferrals: MAX_DEFERRALS }, 1),
      fairnessItem(put, 2),
      fairnessItem(deleteMessage("bucket", "heavy/b"), 1),
      fairnessItem({ ...put, deferrals: MAX_DEFERRALS - 1 }, 1),
    ];
    expect(planFairness(items, used).defer).toEqual([false, false, false, false, true]);
  });

  it("waits one window after the first deferral, doubling, and never longer than Queues accepts", () => {
    const delays = Array.from({ length: MAX_DEFERRALS }, (_, i) => deferralDelaySeconds(i + 1));
    expect(delays).toEqual([30, 60, 120, 240]);
    // Under HEALTH_STUCK_QUEUED_SECONDS (900): a deferred document is not reported stuck.
    expect(delays.reduce((a, b) => a + b, 0)).toBe(450);
    for (const n of [0, 1, 10, 60, 1000]) {
      expect(deferralDelaySeconds(n)).toBeLessThanOrEqual(Math.min(300, QUEUE_MAX_DELAY_SECONDS));
      expect(deferralDelaySeconds(n)).toBeGreaterThanOrEqual(1);
    }
  });
});
