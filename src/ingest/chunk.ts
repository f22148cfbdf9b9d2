// Splits a parsed document into overlapping, heading-aware chunks whose embedding input always fits
// the model: no chunk may lose text to the model's silent truncation at 512 tokens.
import { countTokens, scanUnits } from "../embed/tokenizer";
import { AppError } from "../errors";
import type { ParsedDocument } from "./document";
import { limitExceeded } from "./limits";
import {
  BREAK_LINE,
  BREAK_PARAGRAPH,
  BREAK_SENTENCE,
  BREAK_WORD,
  type Segmentation,
  segment,
} from "./segment";

export interface ChunkOptions {
  /** Target chunk size in model tokens (body, after the context line), e.g. 256. */
  maxTokens: number;
  /** Tokens repeated from the end of the previous chunk of the same section, e.g. 32. */
  overlapTokens: number;
  /** The model's input limit including [CLS] and [SEP], e.g. 512. */
  modelMaxTokens: number;
  /** Upper bound on a chunk body's length in characters; defaults to 12 per target token. */
  maxChars?: number;
  /** A document that yields more chunks fails (MAX_CHUNKS_PER_DOCUMENT); unbounded by default. */
  maxChunks?: number;
}

export interface Chunk {
  /** Position in the document, from 0, consecutive. */
  index: number;
  /** The chunk body shown to users: an exact excerpt of one section's text. */
  text: string;
  headings: string[];
  /** What gets embedded: the title and heading path on one line, then the body. */
  embeddingText: string;
  /** countTokens(embeddingText); never above modelMaxTokens - 2. */
  tokens: number;
}

const MIN_MAX_TOKENS = 8;
const MIN_MAX_CHARS = 256;
const CHARS_PER_TOKEN = 12;
const CONTEXT_MAX_TOKENS = 64;
const CONTEXT_SEPARATOR = " > ";

function validate(options: ChunkOptions): void {
  const { maxTokens, overlapTokens, modelMaxTokens, maxChars } = options;
  const problem =
    !Number.isInteger(maxTokens) || !Number.isInteger(overlapTokens) || !Number.isInteger(modelMaxTokens)
      ? "chunk sizes must be integers"
      : maxTokens < MIN_MAX_TOKENS
        ? `maxTokens must be at least ${MIN_MAX_TOKENS}`
        : maxTokens > modelMaxTokens - 2
          ? "maxTokens must leave room for [CLS] and [SEP] within modelMaxTokens"
          : overlapTokens < 0 || overlapTokens >= maxTokens
            ? "overlapTokens must be at least 0 and below maxTokens"
            : maxChars !== undefined && !(Number.isInteger(maxChars) && maxChars >= MIN_MAX_CHARS)
              ? `maxChars must be an integer of at least ${MIN_MAX_CHARS}`
              : null;
  if (problem) throw new AppError("validation_failed", problem, { retryable: false, extra: { options } });
}

/** The longest prefix of `text` made of whole units and holding at most `budget` tokens. */
function truncateToTokens(text: string, budget: number): string {
  const units = scanUnits(text);
  let used = 0;
  let end = 0;
  for (let i = 0; i < units.count; i++) {
    const tokens = units.tokens[i] ?? 0;
    if (used + tokens > budget) break;
    used += tokens;
    end = units.end[i] ?? end;
  }
  return text.slice(0, end);
}

/** A heading or title whitespace-collapsed, with its token count. */
interface ContextPart {
  clean: string;
  tokens: number;
}

/** Parts already measured, by their raw text: a document repeats its title and headings per section. */
export type ContextParts = Map<string, ContextPart>;

function contextPart(raw: string, parts: ContextParts | undefined): ContextPart {
  const known = parts?.get(raw);
  if (known) return known;
  const clean = raw.replace(/\s+/g, " ").trim();
  const part = { clean, tokens: countTokens(clean) };
  parts?.set(raw, part);
  return part;
}

/**
 * "Title > Heading > Subheading", within `budget` tokens: when too long, the outer headings go
 * first, then every part is cut to a fair share so a huge title cannot crowd out the rest.
 */
export function contextLine(
  title: string | undefined,
  headings: string[],
  budget: number,
  measured?: ContextParts,
): string {
  const parts: string[] = [];
  let tokens = 0;
  const titlePart = contextPart(title ?? "", measured);
  const cleanTitle = titlePart.clean;
  if (cleanTitle && titlePart.tokens > 0) {
    parts.push(cleanTitle);
    tokens += titlePart.tokens;
  }
  for (const heading of headings) {
    const { clean, tokens: n } = contextPart(heading, measured);
    const repeatsTitle = parts.length === 1 && cleanTitle && clean.toLowerCase() === cleanTitle.toLowerCase();
    if (clean && !repeatsTitle && n > 0) {
      parts.push(clean);
      tokens += n;
    }
  }
  // Units never span whitespace, so each " > " adds exactly one token to the parts' own.
  if (tokens + Math.max(0, parts.length - 1) <= budget) return parts.join(CONTEXT_SEPARATOR);
  // Each separator costs one token; keep them to at most half the budget.
  const keepFirst = cleanTitle ? 1 : 0;
  while (parts.length > 1 && parts.length - 1 > budget / 2) parts.splice(keepFirst, 1);
  const counts = parts.map(countTokens);
  const shares = fairShares(counts, budget - (parts.length - 1));
  const trimmed = parts.map((p, i) => truncateToTokens(p, shares[i] ?? 0)).filter((p) => p.length > 0);
  const line = trimmed.join(CONTEXT_SEPARATOR);
  return countTokens(line) <= budget ? line : truncateToTokens(line, budget);
}

/** Splits `budget` among parts: small parts keep all they need, the rest share what is left. */
function fairShares(counts: number[], budget: number): number[] {
  const order = counts.map((c, i) => [c, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const shares = new Array<number>(counts.length).fill(0);
  let left = Math.max(0, budget);
  order.forEach(([count, i], k) => {
    const share = Math.min(count, Math.floor(left / (order.length - k)));
    shares[i] = share;
    left -= share;
  });
  return shares;
}

interface Limits {
  budget: number;
  overlap: number;
  maxChars: number;
}

/** The chunk bodies of one section, in order, each within `limits.budget` tokens, with their counts. */
function chunkSection(text: string, limits: Limits): { body: string; tokens: number }[] {
  const seg = segment(text, limits.budget, limits.maxChars / 2);
  const { prefix } = seg;
  const n = seg.count;
  const bodies: { body: string; tokens: number }[] = [];
  const tokens = (from: number, to: number): number => (prefix[to + 1] ?? 0) - (prefix[from] ?? 0);
  const chars = (from: number, to: number): number => atomEnd(seg, to) - atomStart(seg, from);
  let s = 0;
  let minE = 0;
  while (s < n) {
    let maxE = minE;
    while (maxE + 1 < n && tokens(s, maxE + 1) <= limits.budget && chars(s, maxE + 1) <= limits.maxChars)
      maxE++;
    let e = maxE === n - 1 ? maxE : chooseEnd(seg, s, minE, maxE, limits);
    let body = text.slice(atomStart(seg, s), atomEnd(seg, e));
    // Whole units count the same alone and together, so without pieces the sum is the count.
    let bodyTokens = tokens(s, e);
    if (seg.cut) {
      // Pieces of one cut-up word re-join when adjacent, which can change their count: re-measure.
      bodyTokens = countTokens(body);
      while (bodyTokens > limits.budget && s < e) {
        if (e > minE) e--;
        else s++;
        body = text.slice(atomStart(seg, s), atomEnd(seg, e));
        bodyTokens = countTokens(body);
      }
    }
    bodies.push({ body, tokens: bodyTokens });
    if (e >= n - 1) break;
    s = overlapStart(seg, s, e, limits);
    minE = e + 1;
    while (s < minE && (tokens(s, minE) > limits.budget || chars(s, minE) > limits.maxChars)) s++;
  }
  return bodies;
}

function atomStart(seg: Segmentation, i: number): number {
  return checked(seg.start[i], i, seg.count);
}

function atomEnd(seg: Segmentation, i: number): number {
  return checked(seg.end[i], i, seg.count);
}

function checked(offset: number | undefined, i: number, count: number): number {
  if (offset === undefined || i < 0 || i >= count) {
    throw new AppError("internal", `chunk boundary ${i} out of range`, { retryable: false });
  }
  return offset;
}

/**
 * Where the chunk starting at atom `s` ends, given it must include atom `minE` and may reach `maxE`:
 * the last paragraph end, unless that leaves the chunk small and the next paragraph must be split
 * anyway; otherwise the last line, sentence or word end that fills at least half the budget; then
 * the strongest boundary at all; then a hard cut.
 */
function chooseEnd(seg: Segmentation, s: number, minE: number, maxE: number, limits: Limits): number {
  const { start, end, breaks, prefix } = seg;
  const used = (j: number): number => (prefix[j + 1] ?? 0) - (prefix[s] ?? 0);
  const filled = (j: number): boolean =>
    used(j) * 2 >= limits.budget || (end[j] ?? 0) - (start[s] ?? 0) >= limits.maxChars / 2;
  // The last atom in [minE, maxE] ending at each strength of boundary or a stronger one, found in
  // one pass back: a stretch without breaks (a flood of punctuation) is read once, not per strength.
  // Fill grows with the end, so the last boundary that fills is the last boundary if it fills.
  const lastAt = [-1, -1, -1, -1, -1];
  let missing = BREAK_PARAGRAPH;
  for (let j = maxE; j >= minE && missing > 0; j--) {
    const b = Math.min(breaks[j] ?? 0, BREAK_PARAGRAPH);
    for (let strength = b; strength >= BREAK_WORD && lastAt[strength] === -1; strength--) {
      lastAt[strength] = j;
      missing--;
    }
  }
  const last = (strength: number, fill: boolean): number => {
    const j = lastAt[strength] ?? -1;
    return j >= 0 && (!fill || filled(j)) ? j : -1;
  };
  const paragraphEnd = last(BREAK_PARAGRAPH, false);
  if (paragraphEnd >= 0) {
    let next = paragraphEnd + 1;
    while (next < seg.count - 1 && (breaks[next] ?? 0) < BREAK_PARAGRAPH) next++;
    const nextFits = (prefix[next + 1] ?? 0) - (prefix[paragraphEnd + 1] ?? 0) <= limits.budget;
    if (nextFits || filled(paragraphEnd)) return paragraphEnd;
  }
  for (const strength of [BREAK_LINE, BREAK_SENTENCE, BREAK_WORD]) {
    const j = last(strength, true);
    if (j >= 0) return j;
  }
  for (const strength of [BREAK_PARAGRAPH, BREAK_LINE, BREAK_SENTENCE, BREAK_WORD]) {
    const j = last(strength, false);
    if (j >= 0) return j;
  }
  return maxE;
}

/**
 * First atom of the next chunk: the earliest sentence start, else word start, within the last
 * `overlap` tokens (and half the character cap) of the chunk that ended at `e`. After a paragraph
 * end the overlap shrinks so the next paragraph still fits whole.
 */
function overlapStart(seg: Segmentation, s: number, e: number, limits: Limits): number {
  const { start, end, breaks, prefix } = seg;
  const tail = (k: number): number => (prefix[e + 1] ?? 0) - (prefix[k] ?? 0);
  const tailChars = (k: number): number => (end[e] ?? 0) - (start[k] ?? 0);
  let overlap = limits.overlap;
  if ((breaks[e] ?? 0) >= BREAK_PARAGRAPH) {
    let next = e + 1;
    while (next < seg.count - 1 && (breaks[next] ?? 0) < BREAK_PARAGRAPH) next++;
    const nextTokens = (prefix[next + 1] ?? 0) - (prefix[e + 1] ?? 0);
    if (nextTokens <= limits.budget) overlap = Math.min(overlap, limits.budget - nextTokens);
  }
  if (overlap <= 0) return e + 1;
  let first = e + 1;
  while (first - 1 > s && tail(first - 1) <= overlap && tailChars(first - 1) <= limits.maxChars / 2) first--;
  if (first > e) return e + 1;
  for (const strength of [BREAK_SENTENCE, BREAK_WORD]) {
    for (let k = first; k <= e; k++) {
      if ((breaks[k - 1] ?? 0) >= strength) return k;
    }
  }
  return first;
}

function contextBudgetFor(modelMaxTokens: number): number {
  return Math.min(CONTEXT_MAX_TOKENS, Math.floor((modelMaxTokens - 2) / 4));
}

/**
 * The embeddingText chunkDocument gave a stored chunk (its title, headings and body), so a chunk
 * can be embedded again by another model without parsing and chunking its document again.
 */
export function embeddingTextOf(
  chunk: { title: string | null; headings: string[]; text: string },
  modelMaxTokens: number,
): string {
  const context = contextLine(chunk.title ?? undefined, chunk.headings, contextBudgetFor(modelMaxTokens));
  return context ? `${context}\n${chunk.text}` : chunk.text;
}

/**
 * Chunks a parsed document. Sections are never merged; paragraphs are packed whole up to
 * maxTokens; longer ones are cut at line, sentence, word and, failing all, character boundaries.
 * Every chunk's embeddingText holds at most modelMaxTokens - 2 tokens, whatever the input.
 * Deterministic: the same document and options give the same chunks.
 */
export function chunkDocument(doc: ParsedDocument, options: ChunkOptions): Chunk[] {
  validate(options);
  const limit = options.modelMaxTokens - 2;
  const contextBudget = contextBudgetFor(options.modelMaxTokens);
  const maxChars = options.maxChars ?? Math.max(MIN_MAX_CHARS * 2, options.maxTokens * CHARS_PER_TOKEN);
  const chunks: Chunk[] = [];
  const measured: ContextParts = new Map();
  for (const section of doc.sections) {
    const context = contextLine(doc.title, section.headings, contextBudget, measured);
    const contextTokens = countTokens(context);
    const budget = Math.min(options.maxTokens, limit - contextTokens);
    const limits: Limits = {
      budget,
      overlap: Math.min(options.overlapTokens, Math.floor(budget / 2)),
      maxChars,
    };
    for (const { body, tokens: bodyTokens } of chunkSection(section.text, limits)) {
      if (options.maxChunks !== undefined && chunks.length >= options.maxChunks) {
        throw limitExceeded("MAX_CHUNKS_PER_DOCUMENT", options.maxChunks, "chunks of the document");
      }
      const embeddingText = context ? `${context}\n${body}` : body;
      // countTokens(embeddingText) without reading the body again: no unit spans the line break.
      const tokens = context ? contextTokens + bodyTokens : bodyTokens;
      if (tokens > limit) {
        throw new AppError("internal", `chunk of ${tokens} tokens exceeds the model limit of ${limit}`, {
          retryable: false,
        });
      }
      chunks.push({
        index: chunks.length,
        text: body,
        headings: [...section.headings],
        embeddingText,
        tokens,
      });
    }
  }
  return chunks;
}
