// The activation value a version's scheduled measurements are held to, and when a measurement is a
// drop: a forced swap past a failing gate is held to the replaced version's score.
import { describe, expect, it } from "vitest";
import type { GateReport } from "../../src/versions/model";
import { activationValue, qualityDropped } from "../../src/versions/quality";

const gate = (over: Partial<GateReport>): GateReport => ({
  queries: 15,
  ndcg: 0.7,
  activeNdcg: 0.68,
  minNdcg: null,
  tolerance: 0.02,
  passed: true,
  forced: false,
  at: 0,
  ...over,
});

describe("activation value", () => {
  it("is the version's own gate score when its gate passed, forced or not", () => {
    expect(activationValue(gate({}), 0.9)).toEqual({ ndcg: 0.7, source: "gate" });
    expect(activationValue(gate({ forced: true }), 0.9)).toEqual({ ndcg: 0.7, source: "gate" });
  });

  it("is the replaced version's gate score when forced past a failing gate", () => {
    expect(activationValue(gate({ ndcg: 0.2, activeNdcg: 0.64, passed: false, forced: true }), 0.1)).toEqual({
      ndcg: 0.64,
      source: "replaced",
    });
  });

  it("is the replaced version's last measurement when forced without golden queries, else unknown", () => {
    const blind = gate({ queries: 0, ndcg: 0, activeNdcg: null, passed: false, forced: true });
    expect(activationValue(blind, 0.55)).toEqual({ ndcg: 0.55, source: "replaced" });
    expect(activationValue(blind, null)).toBeNull();
  });
});

describe("quality drop", () => {
  it("is a fall below the activation value by more than the tolerance", () => {
    expect(qualityDropped(0.61, 0.64, 0.02)).toBe(true);
    expect(qualityDropped(0.62, 0.64, 0.02)).toBe(false);
    expect(qualityDropped(0.7, 0.64, 0.02)).toBe(false);
  });
});
