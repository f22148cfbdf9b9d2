// The quality gate of a swap: the namespace's golden queries (query -> relevant document ids)
// are searched on the candidate version and on the active one, and scored by nDCG@10 with binary
// relevance. The candidate passes when it reaches the configured floor, or when it scores no worse
// than the active version by more than the tolerance.
import { type SearchDeps, type SearchMode, search } from "../search/search";
import type { GateReport, GoldenQuery } from "../versions/model";

export interface GateSettings {
  minNdcg: number | undefined;
  tolerance: number;
}

const CUTOFF = 10;

/** nDCG@10 of a ranking of document ids against a set of relevant ids (binary gains). */
export function ndcgAt10(ranked: readonly string[], relevant: ReadonlySet<string>): number {
  let dcg = 0;
  ranked.slice(0, CUTOFF).forEach((id, i) => {
    if (relevant.has(id)) dcg += 1 / Math.log2(i + 2);
  });
  let ideal = 0;
  for (let i = 0; i < Math.min(CUTOFF, relevant.size); i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

/** Mean nDCG@10 of the golden queries searched (by document) on the version `deps` names. */
export async function meanNdcg(
  deps: SearchDeps,
  namespace: string,
  golden: readonly GoldenQuery[],
  mode: SearchMode,
): Promise<number> {
  if (golden.length === 0) return 0;
  return (await sumNdcg(deps, namespace, golden, mode)) / golden.length;
}

/** The sum of the golden queries' nDCG@10, one search each (a scoring pass may span several calls). */
export async function sumNdcg(
  deps: SearchDeps,
  namespace: string,
  golden: readonly GoldenQuery[],
  mode: SearchMode,
): Promise<number> {
  let sum = 0;
  for (const g of golden) {
    const answer = await search(deps, namespace, {
      query: g.query,
      topK: CUTOFF,
      mode,
      groupBy: "document",
      includeText: false,
    });
    sum += ndcgAt10(
      answer.results.map((r) => r.id),
      new Set(g.relevant),
    );
  }
  return sum;
}

export function gateReport(
  queries: number,
  ndcg: number,
  activeNdcg: number | null,
  settings: GateSettings,
  forced: boolean,
  now = Date.now(),
): GateReport {
  const aboveFloor = settings.minNdcg !== undefined && ndcg >= settings.minNdcg;
  const closeToActive = activeNdcg !== null && ndcg >= activeNdcg - settings.tolerance;
  return {
    queries,
    ndcg,
    activeNdcg,
    minNdcg: settings.minNdcg ?? null,
    tolerance: settings.tolerance,
    passed: queries > 0 && (aboveFloor || closeToActive),
    forced,
    at: now,
  };
}
