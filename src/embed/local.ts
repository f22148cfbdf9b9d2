// The local embedder: a deterministic, dependency-free lexical embedder that runs in the Worker and
// stands in for Workers AI offline. It feature-hashes stemmed words and character n-grams into the
// configured model's dimensions, so the same index, cache and search code run in both modes.
import { AppError } from "../errors";
import type { Embedder, EmbedKind } from "./embedder";

export interface LocalEmbedderOptions {
  /** The model this embedder stands in for; part of cache keys and version records like any id. */
  model: string;
  dimensions: number;
  maxInputTokens?: number;
}

// Weights and layout below were tuned on the SciFact train split (BEIR), averaging over hash seeds
// because at 768 dimensions the luck of collisions alone moves nDCG@10 by up to 0.015 either way.
const CHAR_GRAM_WEIGHT = 0.3;
const CHAR_GRAM_SIZES = [3, 4] as const;
/** Frequent words that carry some meaning keep this share of their weight: a built-in stand-in for IDF. */
const COMMON_WORD_WEIGHT = 0.35;
/**
 * Added to every document vector in its own reserved bucket before normalizing. Queries leave the
 * bucket at zero, so it never adds to a query's score; it only softens cosine's length
 * normalization (score ~ overlap / sqrt(|d|^2 + pad^2)), so long documents are penalised less than
 * under plain cosine, as with BM25's b < 1. Document-to-document similarities are inflated by it.
 */
const DOCUMENT_PAD = 10;
/** Texts with no indexable words (empty, punctuation, only stopwords) all map to this bucket alone. */
const EMPTY_BUCKET = 0;
const PAD_BUCKET = 1;
const RESERVED_BUCKETS = 2;

const WORD_SEED = 0x811c9dc5;
const GRAM_SEED = 0x9747b28c;

export class LocalEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions: number;
  readonly maxInputTokens: number;
  // Feature hash -> count for the text being embedded. Reused across texts: embedding is
  // synchronous, so one instance never interleaves two texts.
  private readonly words = new Map<number, number>();
  private readonly grams = new Map<number, number>();

  constructor(options: LocalEmbedderOptions) {
    if (!Number.isInteger(options.dimensions) || options.dimensions <= RESERVED_BUCKETS) {
      throw new AppError("internal", `Local embedder needs more than ${RESERVED_BUCKETS} dimensions`, {
        retryable: false,
      });
    }
    this.model = options.model;
    this.dimensions = options.dimensions;
    this.maxInputTokens = options.maxInputTokens ?? 512;
  }

  async embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]> {
    return texts.map((text) => this.embedOne(text, kind));
  }

  /** Synchronous form of embed() for one text. */
  embedOne(text: string, kind: EmbedKind): Float32Array {
    this.words.clear();
    this.grams.clear();
    for (const match of text.toLowerCase().matchAll(TOKEN)) {
      const raw = match[0];
      if (raw.includes("-")) {
        const parts = raw.split("-");
        for (const part of parts) this.addWord(part);
        // Codes such as "il-6" or "covid-19" are also written "il6", "covid19": match both.
        if (DIGIT.test(raw)) this.addWord(parts.join(""));
      } else {
        this.addWord(raw);
      }
    }

    const vector = new Float32Array(this.dimensions);
    if (this.words.size === 0) {
      // Vectorize rejects all-zero vectors for cosine, so "nothing to match" gets its own direction,
      // orthogonal to every text that has words.
      vector[EMPTY_BUCKET] = 1;
      return vector;
    }
    for (const [key, tf] of this.words) {
      this.accumulate(vector, key, tf, isCommonKey(key) ? COMMON_WORD_WEIGHT : 1);
    }
    for (const [key, tf] of this.grams) this.accumulate(vector, key, tf, CHAR_GRAM_WEIGHT);
    if (kind === "document") vector[PAD_BUCKET] = DOCUMENT_PAD;

    let sum = 0;
    for (const v of vector) sum += v * v;
    const scale = 1 / Math.sqrt(sum);
    for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] ?? 0) * scale;
    return vector;
  }

  private accumulate(vector: Float32Array, key: number, tf: number, featureWeight: number): void {
    // Sublinear term frequency: the tenth "cell" in an abstract says less than the first.
    const weight = (1 + Math.log(tf)) * featureWeight;
    const bucket = RESERVED_BUCKETS + (key % (this.dimensions - RESERVED_BUCKETS));
    // An independent bit picks the sign, so colliding features cancel out on average.
    vector[bucket] = (vector[bucket] ?? 0) + (mix32(key) & 1 ? weight : -weight);
  }

  private addWord(token: string): void {
    if (token.length === 0 || STOPWORDS.has(token)) return;
    const stem = stemOf(token);
    const key = fnv1a(stem, 0, stem.length, WORD_SEED);
    this.words.set(key, (this.words.get(key) ?? 0) + 1);
    for (const n of CHAR_GRAM_SIZES) {
      if (stem.length <= n) continue;
      // Boundary marks make prefixes and suffixes distinct features ("<run" vs "run>").
      const padded = `<${stem}>`;
      for (let i = 0; i + n <= padded.length; i++) {
        const gram = fnv1a(padded, i, i + n, GRAM_SEED);
        this.grams.set(gram, (this.grams.get(gram) ?? 0) + 1);
      }
    }
  }
}

// Words, numbers and hyphenated compounds in any script; "p53" stays one token.
const TOKEN = /[\p{L}\p{N}]+(?:-[\p{L}\p{N}]+)*/gu;
const DIGIT = /\p{N}/u;
const ASCII_WORD = /^[a-z]+$/;

// Isolate-lifetime cache: stemming dominates the cost of embedding, and vocabularies repeat.
const STEM_CACHE = new Map<string, string>();
const STEM_CACHE_LIMIT = 50_000;

function stemOf(token: string): string {
  const cached = STEM_CACHE.get(token);
  if (cached !== undefined) return cached;
  const stem = ASCII_WORD.test(token) ? porterStem(token) : token;
  if (STEM_CACHE.size >= STEM_CACHE_LIMIT) STEM_CACHE.clear();
  STEM_CACHE.set(token, stem);
  return stem;
}

/** FNV-1a over s[start, end) (UTF-16 code units), from a seed. */
function fnv1a(s: string, start: number, end: number, seed: number): number {
  let h = seed;
  for (let i = start; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finalizer: decorrelates the sign bit from the bucket index. */
function mix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// --- Porter (1980) stemmer -------------------------------------------------------------------

function isVowel(w: string, i: number): boolean {
  const c = w.charCodeAt(i);
  if (c === 97 || c === 101 || c === 105 || c === 111 || c === 117) return true;
  // "y" is a vowel after a consonant ("happy"), a consonant otherwise ("yes", "toy").
  return c === 121 && i > 0 && !isVowel(w, i - 1);
}

/** Porter's m: the number of vowel-consonant sequences in w[0, end). */
function measure(w: string, end: number): number {
  let m = 0;
  let i = 0;
  while (i < end && !isVowel(w, i)) i++;
  while (i < end) {
    while (i < end && isVowel(w, i)) i++;
    if (i >= end) break;
    m++;
    while (i < end && !isVowel(w, i)) i++;
  }
  return m;
}

function hasVowel(w: string, end: number): boolean {
  for (let i = 0; i < end; i++) if (isVowel(w, i)) return true;
  return false;
}

function endsDoubleConsonant(w: string): boolean {
  const n = w.length;
  return n >= 2 && w[n - 1] === w[n - 2] && !isVowel(w, n - 1);
}

/** consonant-vowel-consonant ending w[0, end), the last not w, x or y ("hop", not "show"). */
function endsCvc(w: string, end: number): boolean {
  if (end < 3 || isVowel(w, end - 1) || !isVowel(w, end - 2) || isVowel(w, end - 3)) return false;
  const c = w[end - 1];
  return c !== "w" && c !== "x" && c !== "y";
}

function replaceSuffix(w: string, rules: readonly (readonly [string, string])[]): string {
  for (const [suffix, replacement] of rules) {
    if (w.endsWith(suffix)) {
      const stem = w.length - suffix.length;
      return measure(w, stem) > 0 ? w.slice(0, stem) + replacement : w;
    }
  }
  return w;
}

const STEP2 = [
  ["ational", "ate"],
  ["tional", "tion"],
  ["enci", "ence"],
  ["anci", "ance"],
  ["izer", "ize"],
  ["bli", "ble"],
  ["alli", "al"],
  ["entli", "ent"],
  ["eli", "e"],
  ["ousli", "ous"],
  ["ization", "ize"],
  ["ation", "ate"],
  ["ator", "ate"],
  ["alism", "al"],
  ["iveness", "ive"],
  ["fulness", "ful"],
  ["ousness", "ous"],
  ["aliti", "al"],
  ["iviti", "ive"],
  ["biliti", "ble"],
  ["logi", "log"],
] as const;
const STEP3 = [
  ["icate", "ic"],
  ["ative", ""],
  ["alize", "al"],
  ["iciti", "ic"],
  ["ical", "ic"],
  ["ful", ""],
  ["ness", ""],
] as const;
const STEP4 = [
  "al",
  "ance",
  "ence",
  "er",
  "ic",
  "able",
  "ible",
  "ant",
  "ement",
  "ment",
  "ent",
  "ion",
  "ou",
  "ism",
  "ate",
  "iti",
  "ous",
  "ive",
  "ize",
] as const;

/** Porter's algorithm for a lowercase ASCII word: "running", "runs" -> "run". */
export function porterStem(word: string): string {
  let w = word;
  if (w.length <= 2) return w;
  if (w.endsWith("sses") || w.endsWith("ies")) w = w.slice(0, -2);
  else if (w.endsWith("s") && !w.endsWith("ss")) w = w.slice(0, -1);

  let removedEdOrIng = false;
  if (w.endsWith("eed")) {
    if (measure(w, w.length - 3) > 0) w = w.slice(0, -1);
  } else if (w.endsWith("ed") && hasVowel(w, w.length - 2)) {
    w = w.slice(0, -2);
    removedEdOrIng = true;
  } else if (w.endsWith("ing") && hasVowel(w, w.length - 3)) {
    w = w.slice(0, -3);
    removedEdOrIng = true;
  }
  if (removedEdOrIng) {
    if (w.endsWith("at") || w.endsWith("bl") || w.endsWith("iz")) w += "e";
    else if (endsDoubleConsonant(w) && !/[lsz]$/.test(w)) w = w.slice(0, -1);
    else if (measure(w, w.length) === 1 && endsCvc(w, w.length)) w += "e";
  }
  if (w.endsWith("y") && hasVowel(w, w.length - 1)) w = `${w.slice(0, -1)}i`;

  w = replaceSuffix(w, STEP2);
  w = replaceSuffix(w, STEP3);
  for (const suffix of STEP4) {
    if (!w.endsWith(suffix)) continue;
    const stem = w.length - suffix.length;
    const ionOk = suffix !== "ion" || w[stem - 1] === "s" || w[stem - 1] === "t";
    if (measure(w, stem) > 1 && ionOk) w = w.slice(0, stem);
    break;
  }
  if (w.endsWith("e")) {
    const m = measure(w, w.length - 1);
    if (m > 1 || (m === 1 && !endsCvc(w, w.length - 1))) w = w.slice(0, -1);
  }
  if (w.endsWith("ll") && measure(w, w.length) > 1) w = w.slice(0, -1);
  return w;
}

// --- Word lists ------------------------------------------------------------------------------

/** English function words (NLTK's list with SMART additions): dropped, they match everything. */
const STOPWORDS = new Set(
  `a about above across after afterwards again against ain all almost alone along already also although
  always am among amongst an and another any anybody anyhow anyone anything anyway anywhere apart
  are aren around as aside at away be became because become becomes becoming been before beforehand
  being below beside besides between beyond both but by can cannot could couldn d despite did didn do
  does doesn doing don done down during each either else elsewhere enough especially etc even ever
  every everybody everyone everything everywhere except few for former formerly forth from further
  furthermore had hadn has hasn have haven having he hence her here hereafter hereby herein hers
  herself him himself his how however i if in inasmuch indeed instead into is isn it its itself just
  latter latterly least less lest ll m ma may me meanwhile merely might mightn more moreover most
  mostly much must mustn my myself namely neither never nevertheless no nobody none noone nor not
  nothing now nowhere o of off often on once only onto or other others otherwise ought our ours
  ourselves out over own per perhaps rather re s same shall shan she should shouldn since so some
  somebody somehow someone something sometime sometimes somewhat somewhere still such t than that the
  their theirs them themselves then thence there thereafter thereby therefore therein thereupon these
  they this those though through throughout thru thus to together too toward towards under unless
  until unto up upon us ve very via was wasn we were weren what whatever when whence whenever where
  whereafter whereas whereby wherein whereupon wherever whether which while whither who whoever
  whom whose why will with within without won would wouldn y yet you your yours yourself yourselves`.split(
    /\s+/,
  ),
);

/**
 * Frequent English words, general and from the vocabulary of reports and papers, that still carry
 * some meaning: down-weighted rather than dropped. Without corpus statistics this is the closest
 * the embedder gets to IDF, and it measured better than treating them like any other word.
 */
const COMMON_WORDS = `time year people way day man thing woman life child world school state family group
  country problem hand part place case week company system program question work government number
  night point home water room area money story fact month lot study book eye job word business issue
  side kind head house service friend father power hour game line end member law car city community
  name team minute idea body information back parent face level office door health person art war
  history party result change morning reason research girl moment air force education age policy
  process music market sense nation plan college interest death experience effect use class control
  care field development role effort rate heart show leader light voice wife police mind price
  report decision son view relationship town road arm difference value building action model season
  society tax director position player record paper space ground form event official matter center
  couple site project activity star table need court oil situation cost industry figure street image
  phone data picture practice piece land product doctor wall patient worker news test movie north
  love support technology step baby computer type attention film tree source organization hair window
  evidence population truth rule approach analysis method increase decrease reduce high low large
  small major important significant significantly associate include show find found make made take
  given give provide suggest indicate observe compare using base present total potential known
  first second one two three new old different various several many like well able`.split(/\s+/);

// Isolate-lifetime: built on first use, so stemming the list costs an embedding, not every
// isolate's startup (this Worker bundles the local embedder for BACKEND=local).
let commonKeys: Set<number> | undefined;

function isCommonKey(key: number): boolean {
  commonKeys ??= new Set(COMMON_WORDS.map((w) => fnv1a(porterStem(w), 0, porterStem(w).length, WORD_SEED)));
  return commonKeys.has(key);
}
