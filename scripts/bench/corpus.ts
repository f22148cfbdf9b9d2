// Deterministic bench data: synthetic documents drawn from the sample corpus's
// vocabulary (so keyword and vector searches find real matches), and query streams.

import type { DocumentInput } from "../../client/src/index.ts";
import { seededRandom } from "../lib/random.ts";

/** Words too common to make a keyword query selective. */
const STOPWORDS = new Set(
  (
    "the and a of in to is that it with as by from for at on are which or about its an such can into " +
    "their was two most called they so first each one made than when this be has have had were not but " +
    "also these more other some many used all may been after over only there them then while who what " +
    "how his her he she we our you your between through where because"
  ).split(" "),
);

const CATEGORIES = ["science", "history", "cooking", "technology", "nature", "health", "space", "music"];

/**
 * Words of the corpus with their frequencies, most frequent first, and a sampler that draws them
 * in proportion to frequency (so synthetic text has the corpus's skew).
 */
export function buildVocabulary(documents: { text: string; title?: string }[]) {
  const counts: Map<string, number> = new Map();
  for (const doc of documents) {
    for (const word of `${doc.title ?? ""} ${doc.text}`.toLowerCase().match(/[a-z]{2,}/g) ?? []) {
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  // Sorted by count, then alphabetically: the order (and so every draw) is independent of Map order.
  const entries = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const words = entries.map(([w]) => w);
  const cumulative = new Float64Array(entries.length);
  let total = 0;
  entries.forEach(([, c], i) => {
    total += c;
    cumulative[i] = total;
  });
  const contentWords = words.filter((w) => w.length >= 3 && !STOPWORDS.has(w));
  const weighted = (random: () => number) => {
    const target = random() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] ?? 0) > target) hi = mid;
      else lo = mid + 1;
    }
    return words[lo] ?? "";
  };
  const content = (random: () => number) => contentWords[Math.floor(random() * contentWords.length)] ?? "";
  return { words, contentWords, weighted, content };
}

export type Vocabulary = ReturnType<typeof buildVocabulary>;

/**
 * @param max inclusive
 */
function between(random: () => number, min: number, max: number) {
  return min + Math.floor(random() * (max - min + 1));
}

const capitalize = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * Synthetic documents of 70 to 140 words, short enough to stay one chunk each under the default
 * chunking (256 model tokens), so `count` documents add about `count` chunks.
 */
export function syntheticDocuments({
  vocabulary,
  count,
  seed,
  idPrefix = "syn",
}: {
  vocabulary: Vocabulary;
  count: number;
  seed: number;
  idPrefix?: string;
}): DocumentInput[] {
  const random = seededRandom(seed);
  const docs = [];
  for (let i = 0; i < count; i++) {
    const words = between(random, 70, 140);
    const sentences = [];
    let written = 0;
    while (written < words) {
      const length = Math.min(between(random, 7, 16), words - written);
      const sentence = Array.from({ length }, () =>
        random() < 0.35 ? vocabulary.content(random) : vocabulary.weighted(random),
      );
      sentences.push(`${capitalize(sentence.join(" "))}.`);
      written += length;
    }
    const title = Array.from({ length: between(random, 2, 4) }, () =>
      capitalize(vocabulary.content(random)),
    ).join(" ");
    docs.push({
      id: `${idPrefix}-${String(i).padStart(6, "0")}`,
      title,
      text: sentences.join(" "),
      metadata: {
        category: CATEGORIES[Math.floor(random() * CATEGORIES.length)] ?? "science",
        source: "synthetic",
        lang: "en",
        year: between(random, 1950, 2025),
      },
    });
  }
  return docs;
}

/**
 * An endless, deterministic stream of search queries of 2 to 5 content words: varied enough that
 * neither the result cache nor the query-embedding cache sees a repeat within a run.
 */
export function queryStream(vocabulary: Vocabulary, seed: number): () => string {
  const random = seededRandom(seed);
  return () => Array.from({ length: between(random, 2, 5) }, () => vocabulary.content(random)).join(" ");
}
