// Reciprocal rank fusion (Cormack et al., 2009): score(d) = sum over lists of 1 / (k + rank).
// Rank-based, so it needs no calibration between cosine similarities and BM25 scores.

export interface Ranked {
  id: string;
  score: number;
}

export function reciprocalRankFusion(lists: Ranked[][], k = 60): Ranked[] {
  const fused = new Map<string, number>();
  for (const list of lists) {
    list.forEach((item, rank) => {
      fused.set(item.id, (fused.get(item.id) ?? 0) + 1 / (k + rank + 1));
    });
  }
  return [...fused.entries()]
    .map(([id, score]) => ({ id, score }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
