// Type declarations for metrics.mjs, so TypeScript callers (the unit tests) import it typed.

/** Relevance grades of one query, keyed by document id; grades of 0 or less are not relevant. */
export type Qrels = ReadonlyMap<string, number>;

export declare function ndcgAtK(rankedIds: readonly string[], qrels: Qrels, k: number): number;
export declare function recallAtK(rankedIds: readonly string[], qrels: Qrels, k: number): number;
export declare function mrrAtK(rankedIds: readonly string[], qrels: Qrels, k: number): number;
export declare function mean(values: readonly number[]): number;
export declare function percentile(values: readonly number[], p: number): number;
export declare function parseQrels(text: string): Map<string, Map<string, number>>;
