// The local reranker: a deterministic, dependency-free lexical scorer that stands in for the
// Workers AI cross-encoder offline. It ranks the candidates by BM25 with the candidate set as the
// collection (so IDF says which query words separate these candidates), and fuses that ranking
// with the first-stage order by reciprocal rank fusion, so it refines the order, never replaces it.
import { porterStem } from "../embed/local";
import type { Reranker } from "./reranker";

export interface LocalRerankerOptions {
  /** The model this reranker stands in for. */
  model: string;
}

// BM25's usual constants. RRF_K as in fusion; the lexical ranking counts half as much as the
// first stage, which already holds a full-corpus BM25 (weight measured on SciFact train).
const K1 = 1.2;
const B = 0.75;
const RRF_K = 60;
const LEXICAL_WEIGHT = 0.5;

const WORD = /[\p{L}\p{N}]+/gu;
const ASCII_WORD = /^[a-z]+$/;
// Function words: present in every candidate, they would only add noise to term frequencies.
const STOPWORDS = new Set(
  `a about after against also among an and are as at be been before being between both but by can
  did do does during for from had has have how in into is it its may no not of on or our over such
  than that the their then there these they this those to under using via was we were what when
  which while who why will with`.split(/\s+/),
);

function terms(text: string): string[] {
  const out: string[] = [];
  for (const match of text.toLowerCase().matchAll(WORD)) {
    const word = match[0];
    if (STOPWORDS.has(word)) continue;
    out.push(ASCII_WORD.test(word) ? porterStem(word) : word);
  }
  return out;
}

export class LocalReranker implements Reranker {
  readonly model: string;

  constructor(options: LocalRerankerOptions) {
    this.model = options.model;
  }

  async rerank(query: string, texts: string[]): Promise<number[]> {
    const lexical = bm25OverCandidates(query, texts);
    const order = lexical.map((score, i) => ({ score, i })).sort((a, b) => b.score - a.score || a.i - b.i);
    const lexicalRank = new Array<number>(texts.length);
    order.forEach(({ i }, rank) => {
      lexicalRank[i] = rank + 1;
    });
    return texts.map(
      (_, i) => 1 / (RRF_K + i + 1) + LEXICAL_WEIGHT / (RRF_K + (lexicalRank[i] ?? texts.length)),
    );
  }
}

/** BM25 of each text for the query, with document frequencies counted over the texts themselves. */
export function bm25OverCandidates(query: string, texts: string[]): number[] {
  const queryTerms = [...new Set(terms(query))];
  const docs = texts.map((text) => {
    const tf = new Map<string, number>();
    const words = terms(text);
    for (const w of words) tf.set(w, (tf.get(w) ?? 0) + 1);
    return { tf, length: words.length };
  });
  const n = docs.length;
  const avgLength = docs.reduce((sum, d) => sum + d.length, 0) / Math.max(1, n) || 1;
  const idf = new Map<string, number>();
  for (const t of queryTerms) {
    const df = docs.filter((d) => d.tf.has(t)).length;
    idf.set(t, Math.log(1 + (n - df + 0.5) / (df + 0.5)));
  }
  return docs.map((d) => {
    let score = 0;
    for (const t of queryTerms) {
      const f = d.tf.get(t) ?? 0;
      if (f === 0) continue;
      score += ((idf.get(t) ?? 0) * f * (K1 + 1)) / (f + K1 * (1 - B + (B * d.length) / avgLength));
    }
    return score;
  });
}
