// An experiment's report: its record and counters turned into per-arm figures with 95% intervals
// and a verdict on the pre-registered primary metric, MRR of first clicks.
import type { Arm, ExperimentRecord } from "./model";
import { histogramQuantile, type Interval, normalInterval, type Verdict, verdict, wilson } from "./stats";
import type { ArmCounters, ExperimentCounters } from "./store";

export const REPORT_METHOD =
  "Primary metric: MRR of each search's first click (0 without a click), 95% normal-approximation " +
  "interval; the verdict compares the arms' MRR (difference candidate - control, 95% normal interval: " +
  "above 0 better, below 0 worse, across 0 no difference) once both arms have minSamples searches, " +
  "'keep running' before. CTR (searches with a click) with 95% Wilson intervals. Latency percentiles " +
  "are upper bounds of log-scale histogram buckets (about 19% wide).";

export interface ArmReport {
  version: string;
  searches: number;
  empty: number;
  degraded: number;
  clicks: number;
  ctr: Interval;
  mrr: Interval;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
}

export interface ExperimentReport {
  arms: Record<Arm, ArmReport>;
  shadow: {
    samples: number;
    failed: number;
    overlapAt10: number | null;
    rbo: number | null;
    controlEmpty: number;
    candidateEmpty: number;
    controlDegraded: number;
    candidateDegraded: number;
    latencyMs: {
      control: { p50: number | null; p95: number | null };
      candidate: { p50: number | null; p95: number | null };
    };
  };
  verdict: Verdict;
  mrrDifference: Interval | null;
  minSamples: number;
  method: string;
}

function armReport(version: string, c: ArmCounters): ArmReport {
  return {
    version,
    searches: c.searches,
    empty: c.empty,
    degraded: c.degraded,
    clicks: c.clicks,
    ctr: wilson(c.clicks, c.searches),
    mrr: normalInterval(c.searches, c.rrSum, c.rrSquares),
    latencyMs: {
      p50: histogramQuantile(c.latency, 0.5),
      p95: histogramQuantile(c.latency, 0.95),
      p99: histogramQuantile(c.latency, 0.99),
    },
  };
}

export function buildReport(record: ExperimentRecord, counters: ExperimentCounters): ExperimentReport {
  const { control, candidate } = counters.arms;
  const s = counters.shadow;
  const decided = verdict(
    { searches: control.searches, rrSum: control.rrSum, rrSquares: control.rrSquares },
    { searches: candidate.searches, rrSum: candidate.rrSum, rrSquares: candidate.rrSquares },
    record.minSamples,
  );
  const quantiles = (h: ReadonlyMap<number, number>) => ({
    p50: histogramQuantile(h, 0.5),
    p95: histogramQuantile(h, 0.95),
  });
  return {
    arms: { control: armReport(record.control, control), candidate: armReport(record.candidate, candidate) },
    shadow: {
      samples: s.samples,
      failed: s.failed,
      overlapAt10: s.samples > 0 ? s.overlapSum / s.samples : null,
      rbo: s.samples > 0 ? s.rboSum / s.samples : null,
      controlEmpty: s.controlEmpty,
      candidateEmpty: s.candidateEmpty,
      controlDegraded: s.controlDegraded,
      candidateDegraded: s.candidateDegraded,
      latencyMs: { control: quantiles(s.latency.control), candidate: quantiles(s.latency.candidate) },
    },
    verdict: decided.verdict,
    mrrDifference: decided.difference,
    minSamples: record.minSamples,
    method: REPORT_METHOD,
  };
}
