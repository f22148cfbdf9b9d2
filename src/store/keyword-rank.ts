// bm25() column weights of the keyword index: a title match counts more than a body match. The
// title's is the KEYWORD_TITLE_WEIGHT config var, this one by default: the best of a sweep from 1
// to 10 on SciFact's train split (docs/performance.md, "Title weight").
export const DEFAULT_TITLE_WEIGHT = 2.0;
export const TEXT_WEIGHT = 1.0;
