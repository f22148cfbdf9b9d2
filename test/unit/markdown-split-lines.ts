// The Markdown parser's block level as it was when it split the text into one string per line:
// the oracle that the line loop over the source, which slices only what it keeps, must match.
import { MAX_HEADING_CHARS, oneLine, type ParsedDocument, SectionBuilder } from "../../src/ingest/document";
import { atxText, inlineText, removeSpans, tableCells } from "../../src/ingest/markdown";

const SETEXT_RE = /^ {0,3}(=+|-+)[ \t]*$/;
const THEMATIC_RE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const FENCE_RE = /^ {0,3}(`{3,}|~{3,})/;
const REFERENCE_DEF_RE = /^ {0,3}\[[^\]]+\]:\s*\S/;
const TABLE_RULE_RE = /^[ \t]*(?:\|[ \t]*)?:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+(?:\|[ \t]*)?$/;
const RAW_BLOCK_RE = /^ {0,3}<(script|style|textarea)\b/i;
const PIPE = 0x7c;
const BACKTICK = 0x60;
const TILDE = 0x7e;
const LESS_THAN = 0x3c;
const HASH = 0x23;
const EQUALS = 0x3d;
const HYPHEN = 0x2d;
const ASTERISK = 0x2a;
const UNDERSCORE = 0x5f;
const OPEN_BRACKET = 0x5b;
const COLON = 0x3a;
const GREATER_THAN = 0x3e;
const PLUS = 0x2b;

/**
 * An ATX heading's level and raw text, or null: the captures of /^ {0,3}(#{1,6})(?:[ \t]+(.*))?$/,
 * found without a match array and two capture strings for each of a flood of heading lines.
 */
function atxHeading(line: string): { level: number; text: string } | null {
  let i = 0;
  while (i < 3 && line.charCodeAt(i) === 0x20) i++;
  const hashes = i;
  while (i < line.length && line.charCodeAt(i) === HASH) i++;
  const level = i - hashes;
  if (level < 1 || level > 6) return null;
  if (i === line.length) return { level, text: "" };
  const blanks = i;
  while (i < line.length && (line.charCodeAt(i) === 0x20 || line.charCodeAt(i) === 0x09)) i++;
  if (i === blanks) return null;
  // The pattern's "." stops at line terminators, so a line holding one is no heading.
  for (let j = i; j < line.length; j++) {
    const c = line.charCodeAt(j);
    if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) return null;
  }
  return { level, text: line.slice(i) };
}

/** Whether every character of the line is one of `allowed` (code units): a cheap test before a rule's pattern. */
function onlyCharsOf(line: string, allowed: Uint8Array): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c >= 128 || allowed[c] !== 1) return false;
  }
  return true;
}

function asciiSet(chars: string): Uint8Array {
  const set = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) set[chars.charCodeAt(i)] = 1;
  return set;
}

// The characters that setext underlines and thematic breaks, and table delimiter rows, are made of.
const RULE_CHARS = asciiSet(" \t-*_=");
const TABLE_RULE_CHARS = asciiSet(" \t|:-");

/** Where the first character other than a space or tab is (the line's length if none). */
function firstNonBlank(line: string): number {
  let i = 0;
  while (i < line.length && (line.charCodeAt(i) === 0x20 || line.charCodeAt(i) === 0x09)) i++;
  return i;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Where a list item's text starts after its bullet and optional task box, as
 * /^[ \t]*[-*+][ \t]+(?:\[[ xX]\][ \t]+)?/ would match (0 when it does not), given a line whose
 * first non-blank character is a bullet.
 */
function afterBullet(s: string): number {
  const text = firstNonBlank(s) + 1;
  let i = text;
  while (isBlank(s.charCodeAt(i))) i++;
  if (i === text) return 0;
  const box = s.charCodeAt(i + 1);
  if (
    s.charCodeAt(i) === OPEN_BRACKET &&
    (box === 0x20 || box === 0x78 || box === 0x58) &&
    s[i + 2] === "]"
  ) {
    let j = i + 3;
    while (isBlank(s.charCodeAt(j))) j++;
    if (j > i + 3) return j;
  }
  return i;
}

/** One line of a paragraph without its block markers (quotes, bullets, table pipes). */
function contentLine(line: string): string {
  let s = line;
  // Each pattern runs only when the first non-blank character can start it, as in blockLine.
  if (s.charCodeAt(firstNonBlank(s)) === GREATER_THAN) s = s.replace(/^ {0,3}(?:>[ \t]?)+/, "");
  let lead = s.charCodeAt(firstNonBlank(s));
  if (lead === HYPHEN || lead === ASTERISK || lead === PLUS) {
    s = s.slice(afterBullet(s));
    lead = s.charCodeAt(firstNonBlank(s));
  }
  if (lead === PIPE) {
    s = tableCells(s.replace(/^[ \t]*\||\|[ \t]*$/g, ""));
  }
  return s;
}

function frontMatter(lines: string[]): { title: string | undefined; bodyStart: number } {
  if (lines[0]?.trim() !== "---") return { title: undefined, bodyStart: 0 };
  for (let i = 1; i < Math.min(lines.length, 200); i++) {
    const line = lines[i]?.trim();
    if (line === "---" || line === "...") {
      let title: string | undefined;
      for (const entry of lines.slice(1, i)) {
        if (!entry.startsWith("title:")) continue;
        const value = entry.slice("title:".length).trim();
        const quoted =
          value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]);
        title = oneLine(quoted ? value.slice(1, -1) : value);
      }
      return { title: title || undefined, bodyStart: i + 1 };
    }
  }
  return { title: undefined, bodyStart: 0 };
}

/**
 * Parses Markdown (CommonMark blocks, GFM tables): the first H1 is the title unless front matter
 * names one; headings build the path; fenced code keeps its text.
 */
export function parseMarkdownBySplitLines(body: string): ParsedDocument {
  const lines = body.replace(/\r\n?/g, "\n").split("\n");
  const front = frontMatter(lines);
  const state: BlockState = {
    title: front.title,
    builder: new SectionBuilder(),
    paragraph: [],
    fence: null,
    code: [],
    rawBlockEnd: null,
    inComment: false,
  };
  for (let i = front.bodyStart; i < lines.length; i++) {
    const line = outsideOpenBlocks(state, lines[i] ?? "");
    if (line !== null) blockLine(state, line);
  }
  if (state.fence !== null) state.builder.paragraph(state.code.join("\n"));
  flushParagraph(state);
  const sections = state.builder.finish();
  return state.title === undefined ? { sections } : { title: state.title, sections };
}

/** What parseMarkdown carries from one line to the next. */
interface BlockState {
  title: string | undefined;
  builder: SectionBuilder;
  /** The lines of the paragraph being read. */
  paragraph: string[];
  /** The open code fence's marker, and its lines so far. */
  fence: string | null;
  code: string[];
  /** The end tag of an open script, style or textarea block. */
  rawBlockEnd: RegExp | null;
  inComment: boolean;
}

function flushParagraph(state: BlockState): void {
  if (state.paragraph.length === 0) return;
  state.builder.paragraph(inlineText(state.paragraph.join("\n")));
  state.paragraph = [];
}

function addHeading(state: BlockState, level: number, text: string): void {
  const clean = oneLine(inlineText(text));
  if (level === 1 && state.title === undefined && clean.length > 0 && clean.length <= MAX_HEADING_CHARS) {
    state.title = clean;
  }
  state.builder.heading(level, clean);
}

/**
 * What is left of the line outside an open code fence, raw block or comment (null: nothing), the
 * state updated for those it closes or opens.
 */
function outsideOpenBlocks(state: BlockState, raw: string): string | null {
  let line = raw;
  if (state.fence !== null) {
    const close = FENCE_RE.exec(line);
    if (close?.[1]?.startsWith(state.fence) && line.trim() === close[1]) {
      state.builder.paragraph(state.code.join("\n"));
      state.code = [];
      state.fence = null;
    } else {
      state.code.push(line);
    }
    return null;
  }
  if (state.rawBlockEnd !== null) {
    if (state.rawBlockEnd.test(line)) state.rawBlockEnd = null;
    return null;
  }
  if (state.inComment) {
    const end = line.indexOf("-->");
    if (end < 0) return null;
    state.inComment = false;
    line = line.slice(end + 3);
  }
  // A comment left open at the end of the line hides the lines after it.
  if (line.includes("<!--")) {
    const uncommented = removeSpans(line, /<!--/g, /-->/g);
    state.inComment = uncommented.unclosed;
    line = uncommented.text;
  }
  return line;
}

/** A line outside fences, raw blocks and comments: a block of its own, or a line of the paragraph. */
function blockLine(state: BlockState, line: string): void {
  if (line.trim() === "") {
    flushParagraph(state);
    return;
  }
  // Each block pattern runs only on a line whose first non-blank character can start it: a
  // flood of short lines would otherwise pay for every pattern on every line.
  const lead = line.charCodeAt(firstNonBlank(line));
  const fenceOpen = lead === BACKTICK || lead === TILDE ? FENCE_RE.exec(line) : null;
  if (fenceOpen?.[1]) {
    flushParagraph(state);
    state.fence = fenceOpen[1];
    return;
  }
  const raw = lead === LESS_THAN ? RAW_BLOCK_RE.exec(line) : null;
  if (raw?.[1]) {
    flushParagraph(state);
    const endTag = new RegExp(`</${raw[1]}\\s*>`, "i");
    if (!endTag.test(line)) state.rawBlockEnd = endTag;
    return;
  }
  const atx = lead === HASH ? atxHeading(line) : null;
  if (atx) {
    flushParagraph(state);
    addHeading(state, atx.level, atxText(atx.text));
    return;
  }
  // Setext underlines, thematic breaks and table rules hold nothing but their own characters:
  // a list item or a line of text is ruled out without running their patterns.
  const rule = onlyCharsOf(line, RULE_CHARS);
  const setext = rule && (lead === EQUALS || lead === HYPHEN) ? SETEXT_RE.exec(line) : null;
  if (setext?.[1] && state.paragraph.length > 0) {
    const text = state.paragraph.join("\n");
    state.paragraph = [];
    addHeading(state, setext[1].startsWith("=") ? 1 : 2, text);
    return;
  }
  if (
    rule &&
    (lead === HYPHEN || lead === ASTERISK || lead === UNDERSCORE || lead === EQUALS) &&
    (THEMATIC_RE.test(line) || SETEXT_RE.test(line))
  ) {
    flushParagraph(state);
    return;
  }
  if (lead === OPEN_BRACKET && REFERENCE_DEF_RE.test(line)) return;
  if (
    (lead === PIPE || lead === COLON || lead === HYPHEN) &&
    onlyCharsOf(line, TABLE_RULE_CHARS) &&
    TABLE_RULE_RE.test(line)
  ) {
    return;
  }
  state.paragraph.push(contentLine(line));
}
