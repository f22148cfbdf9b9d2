// Retrieval-quality metrics for the evaluation scripts (document level), and the BEIR qrels parser
// they read judgments with. Pure functions: no I/O, so the tests run them inside workerd as well.

/**
 * Relevance grades of one query, keyed by document id. Grades of 0 or less mean "judged not
 * relevant" and contribute nothing, as in trec_eval.
 */
export type Qrels = ReadonlyMap<string, number>;

function checkCutoff(k: number, name: string) {
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`${name}: k must be a positive integer, got ${k}`);
  }
}

/**
 * The first k distinct ids: a document repeated lower in a ranking must not earn gain twice.
 */
function topDistinct(rankedIds: readonly string[], k: number): string[] {
  const seen: Set<string> = new Set();
  for (const id of rankedIds) {
    if (seen.size >= k) break;
    seen.add(id);
  }
  return [...seen];
}

function gain(qrels: Qrels, id: string): number {
  const grade = qrels.get(id) ?? 0;
  return Math.max(grade, 0);
}

function relevantCount(qrels: Qrels): number {
  let n = 0;
  for (const grade of qrels.values()) if (grade > 0) n++;
  return n;
}

/**
 * Normalized discounted cumulative gain at k: gain = grade, discount = log2(rank + 1) with ranks
 * from 1, normalized by the DCG of the judged grades sorted in descending order. 0 when the query
 * has no relevant document.
 */
export function ndcgAtK(rankedIds: readonly string[], qrels: Qrels, k: number): number {
  checkCutoff(k, "ndcgAtK");
  let dcg = 0;
  topDistinct(rankedIds, k).forEach((id, i) => {
    dcg += gain(qrels, id) / Math.log2(i + 2);
  });
  const ideal = [...qrels.values()]
    .filter((grade) => grade > 0)
    .sort((a, b) => b - a)
    .slice(0, k);
  let idcg = 0;
  ideal.forEach((grade, i) => {
    idcg += grade / Math.log2(i + 2);
  });
  return idcg > 0 ? dcg / idcg : 0;
}

/**
 * Share of the relevant documents (grade > 0) found in the first k results. 0 when the query has
 * no relevant document.
 */
export function recallAtK(rankedIds: readonly string[], qrels: Qrels, k: number): number {
  checkCutoff(k, "recallAtK");
  const relevant = relevantCount(qrels);
  if (relevant === 0) return 0;
  const found = topDistinct(rankedIds, k).filter((id) => gain(qrels, id) > 0).length;
  return found / relevant;
}

/**
 * Reciprocal rank of the first relevant document (grade > 0) within the first k results, else 0.
 */
export function mrrAtK(rankedIds: readonly string[], qrels: Qrels, k: number): number {
  checkCutoff(k, "mrrAtK");
  const rank = topDistinct(rankedIds, k).findIndex((id) => gain(qrels, id) > 0);
  return rank === -1 ? 0 : 1 / (rank + 1);
}

/**
 * Arithmetic mean; NaN for no values, so an empty run never passes for a score of 0.
 */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * Nearest-rank percentile (p in (0, 100]): the smallest value with at least p% of the values at or
 * below it. NaN for no values.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile: p must be in (0, 100], got ${p}`);
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.max(0, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[index] as number;
}

/**
 * Parses BEIR qrels: tab-separated `query-id corpus-id score` lines with an optional header line.
 * Returns grades per query id, then per document id; a repeated pair keeps its last grade.
 */
export function parseQrels(text: string): Map<string, Map<string, number>> {
  const byQuery: Map<string, Map<string, number>> = new Map();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    const fields = line.split(/\s+/);
    if (i === 0 && fields[0] === "query-id") return;
    const [queryId, docId, score] = fields;
    const grade = Number(score);
    if (fields.length !== 3 || queryId === undefined || docId === undefined || !Number.isFinite(grade)) {
      throw new SyntaxError(
        `qrels line ${i + 1}: expected "query-id<TAB>corpus-id<TAB>score", got "${line}"`,
      );
    }
    let grades = byQuery.get(queryId);
    if (grades === undefined) {
      grades = new Map();
      byQuery.set(queryId, grades);
    }
    grades.set(docId, grade);
  });
  return byQuery;
}
