// The statistics of an experiment's report: latency percentiles from log-scale histograms, CTR
// with Wilson score intervals, MRR of first clicks with normal-approximation intervals, and the
// verdict on the pre-registered primary metric (MRR) once both arms reached the minimum sample.

/** 95% two-sided normal quantile. */
export const Z95 = 1.959963984540054;

/** The histogram bucket of a latency: a quarter of a doubling wide (about 19%), 0 for <= 1 ms. */
export function latencyBucket(ms: number): number {
  return ms <= 1 ? 0 : Math.ceil(4 * Math.log2(ms));
}

/** The upper bound (ms) of a bucket: what a percentile read from the histogram reports. */
export function bucketUpperMs(bucket: number): number {
  return Math.round(2 ** (bucket / 4) * 10) / 10;
}

/** The q-th quantile (0..1) of a histogram as its bucket's upper bound; null when empty. */
export function histogramQuantile(histogram: ReadonlyMap<number, number>, q: number): number | null {
  const buckets = [...histogram.entries()].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [bucket, n] of buckets) {
    seen += n;
    if (seen >= rank) return bucketUpperMs(bucket);
  }
  return bucketUpperMs(buckets[buckets.length - 1]?.[0] ?? 0);
}

export interface Interval {
  value: number;
  low: number;
  high: number;
}

/** Wilson score interval of a proportion (successes of n); [0, 0, 1] when n is 0. */
export function wilson(successes: number, n: number, z = Z95): Interval {
  if (n === 0) return { value: 0, low: 0, high: 1 };
  const p = successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { value: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** Mean and its variance of per-search values given their count, sum and sum of squares. */
export function meanOf(n: number, sum: number, sumSquares: number): { mean: number; variance: number } {
  if (n === 0) return { mean: 0, variance: 0 };
  const mean = sum / n;
  const sampleVariance = n > 1 ? Math.max(0, (sumSquares - n * mean * mean) / (n - 1)) : 0;
  return { mean, variance: sampleVariance / n };
}

/** Normal-approximation interval of a mean (value ± z·standard error), clamped to [0, 1]. */
export function normalInterval(n: number, sum: number, sumSquares: number, z = Z95): Interval {
  const { mean, variance } = meanOf(n, sum, sumSquares);
  const half = z * Math.sqrt(variance);
  return { value: mean, low: Math.max(0, mean - half), high: Math.min(1, mean + half) };
}

export type Verdict = "keep running" | "candidate better" | "candidate worse" | "no difference";

export interface ArmClicks {
  searches: number;
  /** Σ 1/rank of each search's first click, and Σ 1/rank². */
  rrSum: number;
  rrSquares: number;
}

/**
 * The verdict on MRR: "keep running" until both arms have `minSamples` searches; then the 95%
 * normal-approximation interval of the difference (candidate − control) decides: above 0 better,
 * below 0 worse, straddling 0 no difference.
 */
export function verdict(
  control: ArmClicks,
  candidate: ArmClicks,
  minSamples: number,
): { verdict: Verdict; difference: Interval | null } {
  if (control.searches < minSamples || candidate.searches < minSamples || minSamples < 1) {
    return { verdict: "keep running", difference: null };
  }
  const a = meanOf(control.searches, control.rrSum, control.rrSquares);
  const b = meanOf(candidate.searches, candidate.rrSum, candidate.rrSquares);
  const value = b.mean - a.mean;
  const half = Z95 * Math.sqrt(a.variance + b.variance);
  const difference = { value, low: value - half, high: value + half };
  if (difference.low > 0) return { verdict: "candidate better", difference };
  if (difference.high < 0) return { verdict: "candidate worse", difference };
  return { verdict: "no difference", difference };
}
