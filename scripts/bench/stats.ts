// Bench arithmetic: latency percentiles, Server-Timing parsing and ratios to a baseline.

/** Stages the search route reports in Server-Timing, in pipeline order. */
export const STAGES = [
  "auth",
  "cache",
  "embed",
  "vector",
  "keyword",
  "fuse",
  "hydrate",
  "facets",
  "rerank",
  "total",
];

/**
 * Nearest-rank percentile of ascending-sorted values.
 * @param p in [0, 100]
 */
export function percentileOf(sorted: Float64Array | number[], p: number) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? NaN;
}

/**
 * @param latencies milliseconds, any order
 */
export function summarizeLatencies(latencies: number[]): {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
} {
  const sorted = Float64Array.from(latencies).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    mean: sorted.length > 0 ? sum / sorted.length : NaN,
    p50: percentileOf(sorted, 50),
    p95: percentileOf(sorted, 95),
    p99: percentileOf(sorted, 99),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] ?? NaN) : NaN,
  };
}

/**
 * Adds the durations of a Server-Timing header ("embed;dur=2.0, total;dur=11.0") to `into`.
 */
export function addServerTiming(
  header: string | undefined,
  into: Map<string, { sum: number; count: number }>,
) {
  if (!header) return;
  for (const part of header.split(",")) {
    const semi = part.indexOf(";");
    const name = (semi === -1 ? part : part.slice(0, semi)).trim();
    const m = /dur=([\d.]+)/.exec(part);
    if (!name || !m) continue;
    const entry = into.get(name);
    const ms = Number(m[1]);
    if (entry) {
      entry.sum += ms;
      entry.count++;
    } else {
      into.set(name, { sum: ms, count: 1 });
    }
  }
}

/**
 * Mean duration per stage over the responses that carried it, known stages first.
 */
export function stageMeans(
  sums: Map<string, { sum: number; count: number }>,
): Record<string, { meanMs: number; responses: number }> {
  const names = [
    ...STAGES.filter((s) => sums.has(s)),
    ...[...sums.keys()].filter((s) => !STAGES.includes(s)),
  ];
  const out: Record<string, { meanMs: number; responses: number }> = {};
  for (const name of names) {
    const entry = sums.get(name);
    if (entry) out[name] = { meanMs: entry.sum / entry.count, responses: entry.count };
  }
  return out;
}

/**
 * value / baseline, or NaN when either is missing.
 */
export function ratio(value: number | undefined, baseline: number | undefined) {
  if (value === undefined || baseline === undefined || !Number.isFinite(value) || !(baseline > 0)) return NaN;
  return value / baseline;
}
