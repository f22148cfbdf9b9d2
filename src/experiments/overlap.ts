// How much two rankings agree: the share of the top 10 they have in common, and rank-biased
// overlap (Webber, Moffat and Zobel, "A similarity measure for indefinite rankings", 2010).

/** |top-k(a) ∩ top-k(b)| / k, with k the longer list's length up to `depth` (1 when both are empty). */
export function topOverlap(a: readonly string[], b: readonly string[], depth = 10): number {
  const k = Math.min(depth, Math.max(a.length, b.length));
  if (k === 0) return 1;
  const left = new Set(a.slice(0, k));
  let shared = 0;
  for (const id of b.slice(0, k)) if (left.has(id)) shared++;
  return shared / k;
}

/**
 * Extrapolated rank-biased overlap (RBO_ext, equation 32 of the paper) of two rankings evaluated
 * to depth `depth`: (1-p) Σ p^(d-1) A_d + p^k A_k, with A_d the overlap of the top d divided by d.
 * 1 for identical rankings, 0 for disjoint ones; both empty count as identical.
 */
export function rankBiasedOverlap(a: readonly string[], b: readonly string[], p = 0.9, depth = 10): number {
  const k = Math.min(depth, Math.max(a.length, b.length));
  if (k === 0) return 1;
  const seenA = new Set<string>();
  const seenB = new Set<string>();
  let shared = 0;
  let sum = 0;
  let agreement = 0;
  for (let d = 1; d <= k; d++) {
    const x = a[d - 1];
    const y = b[d - 1];
    if (x !== undefined && x === y) shared++;
    else {
      if (x !== undefined) {
        if (seenB.has(x)) shared++;
        seenA.add(x);
      }
      if (y !== undefined) {
        if (seenA.has(y)) shared++;
        seenB.add(y);
      }
    }
    if (x !== undefined && x === y) {
      seenA.add(x);
      seenB.add(y);
    }
    agreement = shared / d;
    sum += p ** (d - 1) * agreement;
  }
  return (1 - p) * sum + p ** k * agreement;
}
