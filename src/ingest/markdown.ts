// Markdown to readable text with its heading structure: ATX and setext headings build the heading
// path; emphasis, link targets, image syntax, fences and comments are dropped, their text kept.
import { CodeUnits, isTrimmed } from "./code-units";
import { MAX_HEADING_CHARS, oneLine, type ParsedDocument, SectionBuilder } from "./document";
import { stripEmphasis } from "./emphasis";
import { decodeEntities } from "./entities";

// Every pattern here runs in linear time on hostile input: no unbounded lazy spans, no nested
// quantifiers, link and code spans found by scanning.
const FENCE_RE = /^ {0,3}(`{3,}|~{3,})/;
const REFERENCE_DEF_RE = /^ {0,3}\[[^\]]+\]:\s*\S/;
// Each run of blanks has one place in the pattern (no "[ \t]*\|?[ \t]*"), so a failing line is
// rejected in one pass instead of trying every split of its blanks.
const TABLE_RULE_RE = /^[ \t]*(?:\|[ \t]*)?:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+(?:\|[ \t]*)?$/;
const RAW_BLOCK_RE = /^ {0,3}<(script|style|textarea)\b/i;

// Link text cannot hold brackets or newlines; destinations at most one level of parentheses.
const IMAGE_RE =
  /!\[([^[\]\n]{0,1000})\](?:\([^()\n]{0,2000}(?:\([^()\n]{0,2000}\)[^()\n]{0,2000})?\)|\[[^[\]\n]{0,1000}\])/g;
const LINK_RE =
  /\[([^[\]\n]{1,1000})\](?:\([^()\n]{0,2000}(?:\([^()\n]{0,2000}\)[^()\n]{0,2000})?\)|\[[^[\]\n]{0,1000}\])/g;
const AUTOLINK_RE = /<((?:https?|ftp|mailto):[^\s<>]+)>/gi;
const TAG_RE = /<\/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?\/?>/g;

// Placeholders that shield escaped characters and code spans from the inline rewrites below.
const ESCAPE_BASE = 0xe000;
const BACKSLASH = 0x5c;
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
const SPACE = 0x20;
const TAB = 0x09;
const CODE_OPEN = "\ue100";
const CODE_CLOSE = "\ue101";

/** Replaces `code spans` with placeholders (their text kept in `codes`); unmatched backticks stay. */
function shieldCodeSpans(s: string, codes: string[]): string {
  const runs = Array.from(s.matchAll(/`+/g), (m) => ({ start: m.index, length: m[0].length }));
  // For each run, the next run of the same length: the one that closes it.
  const closer = new Array<number>(runs.length).fill(-1);
  const nextOfLength = new Map<number, number>();
  for (let i = runs.length - 1; i >= 0; i--) {
    const run = runs[i];
    if (!run) continue;
    closer[i] = nextOfLength.get(run.length) ?? -1;
    nextOfLength.set(run.length, i);
  }
  let out = "";
  let pos = 0;
  for (let i = 0; i < runs.length; ) {
    const open = runs[i];
    const close = runs[closer[i] ?? -1];
    if (!open || !close) {
      i++;
      continue;
    }
    const code = s.slice(open.start + open.length, close.start);
    codes.push(code.length > 2 && code.startsWith(" ") && code.endsWith(" ") ? code.slice(1, -1) : code);
    out += `${s.slice(pos, open.start)}${CODE_OPEN}${codes.length - 1}${CODE_CLOSE}`;
    pos = close.start + close.length;
    i = (closer[i] ?? i) + 1;
  }
  return out + s.slice(pos);
}

/**
 * Removes every `open`...`close` span (both global regexps); an unclosed one runs to the end of
 * the text and is reported, so a comment can go on over the following lines.
 */
export function removeSpans(s: string, open: RegExp, close: RegExp): { text: string; unclosed: boolean } {
  let out = "";
  let pos = 0;
  for (;;) {
    open.lastIndex = pos;
    const start = open.exec(s);
    if (!start) return { text: out + s.slice(pos), unclosed: false };
    out += s.slice(pos, start.index);
    close.lastIndex = start.index + start[0].length;
    const end = close.exec(s);
    if (!end) return { text: out, unclosed: true };
    pos = end.index + end[0].length;
  }
}

// Any of these may start inline syntax (or be one of the placeholders); text without them is done.
const INLINE_SYNTAX_RE = /[\\`<[*_~&\ue000-\ue07f\ue100\ue101]/;

function isAsciiPunctuation(c: number): boolean {
  return (
    (c >= 0x21 && c <= 0x2f) ||
    (c >= 0x3a && c <= 0x40) ||
    (c >= 0x5b && c <= 0x60) ||
    (c >= 0x7b && c <= 0x7e)
  );
}

/** Replaces each backslash-escaped ASCII punctuation character with its placeholder. */
function shieldEscapes(s: string): string {
  let i = s.indexOf("\\");
  while (i >= 0 && !isAsciiPunctuation(s.charCodeAt(i + 1))) i = s.indexOf("\\", i + 1);
  if (i < 0) return s;
  const out = new CodeUnits(s.length);
  out.pushSlice(s, 0, i);
  while (i < s.length) {
    const c = s.charCodeAt(i);
    const next = s.charCodeAt(i + 1);
    if (c === BACKSLASH && isAsciiPunctuation(next)) {
      out.push(ESCAPE_BASE + next);
      i += 2;
    } else {
      out.push(c);
      i++;
    }
  }
  return out.toString();
}

/** Puts back the code spans that placeholders stand for. */
function restoreCodeSpans(s: string, codes: string[]): string {
  const parts: string[] = [];
  let from = 0;
  for (let i = s.indexOf(CODE_OPEN); i >= 0; i = s.indexOf(CODE_OPEN, i + 1)) {
    let end = i + 1;
    while (end < s.length && s.charCodeAt(end) >= 0x30 && s.charCodeAt(end) <= 0x39) end++;
    if (end === i + 1 || s[end] !== CODE_CLOSE) continue;
    parts.push(s.slice(from, i), codes[Number(s.slice(i + 1, end))] ?? "");
    from = end + 1;
    i = end;
  }
  parts.push(s.slice(from));
  return parts.join("");
}

/** Puts back the characters that escapes shielded (in code spans too, which lose the backslash). */
function restoreEscapes(s: string): string {
  let i = 0;
  while (i < s.length && !isPlaceholder(s.charCodeAt(i))) i++;
  if (i === s.length) return s;
  const out = new CodeUnits(s.length);
  out.pushSlice(s, 0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out.push(isPlaceholder(c) ? c - ESCAPE_BASE : c);
  }
  return out.toString();
}

function isPlaceholder(c: number): boolean {
  return c >= ESCAPE_BASE && c <= ESCAPE_BASE + 0x7f;
}

/** Strips inline Markdown syntax from one paragraph or heading, keeping what a reader sees. */
export function inlineText(source: string): string {
  if (!INLINE_SYNTAX_RE.test(source)) return source;
  const codes: string[] = [];
  let s = shieldCodeSpans(shieldEscapes(source), codes);
  s = removeSpans(s, /<(?:script|style|textarea)\b/gi, /<\/(?:script|style|textarea)\s*>/gi)
    .text.replace(IMAGE_RE, "$1")
    .replace(LINK_RE, "$1")
    .replace(AUTOLINK_RE, "$1")
    .replace(TAG_RE, "");
  return restoreEscapes(restoreCodeSpans(decodeEntities(stripEmphasis(s)), codes));
}

/**
 * The ATX heading on the line s[start, end): its level and raw text, or null: the captures of
 * /^ {0,3}(#{1,6})(?:[ \t]+(.*))?$/, found without a match array and two capture strings for each
 * of a flood of heading lines.
 */
function atxHeading(s: string, start: number, end: number): { level: number; text: string } | null {
  let i = start;
  while (i < start + 3 && i < end && s.charCodeAt(i) === 0x20) i++;
  const hashes = i;
  while (i < end && s.charCodeAt(i) === HASH) i++;
  const level = i - hashes;
  if (level < 1 || level > 6) return null;
  if (i === end) return { level, text: "" };
  const blanks = i;
  while (i < end && (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09)) i++;
  if (i === blanks) return null;
  // The pattern's "." stops at line terminators, so a line holding one is no heading.
  for (let j = i; j < end; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) return null;
  }
  return { level, text: s.slice(i, end) };
}

/**
 * Whether every character of the line s[start, end) is one of `allowed` (code units): a cheap test
 * before a rule's pattern.
 */
function onlyCharsOf(s: string, start: number, end: number, allowed: Uint8Array): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
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

/** An ATX heading's text without the optional closing run of #. */
export function atxText(raw: string): string {
  const text = raw.trimEnd();
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === HASH) end--;
  if (end === 0) return "";
  return end < text.length && isBlank(text.charCodeAt(end - 1)) ? text.slice(0, end) : text;
}

/** Where in the line s[start, end) the first character other than a space or tab is (end if none). */
function firstNonBlank(s: string, start = 0, end = s.length): number {
  let i = start;
  while (i < end && (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09)) i++;
  return i;
}

/** Whether the line s[start, end) is empty once trimmed, as `line.trim() === ""`. */
function isBlankLine(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!isTrimmed(s.charCodeAt(i))) return false;
  return true;
}

/** A table row's cells, each trimmed, joined by " | ": split at each pipe no backslash escapes. */
export function tableCells(row: string): string {
  // Joined from pieces, a run of empty cells being one repeated separator: a row of thousands of
  // empty cells costs neither a piece per cell nor a copy a code unit at a time.
  const out: string[] = [];
  let emptyRun = 0;
  let from = 0;
  let emptyBefore = false;
  for (let i = 0; i <= row.length; i++) {
    if (i < row.length && (row.charCodeAt(i) !== PIPE || row.charCodeAt(i - 1) === BACKSLASH)) continue;
    let start = from;
    let end = i;
    while (start < end && isTrimmed(row.charCodeAt(start))) start++;
    while (end > start && isTrimmed(row.charCodeAt(end - 1))) end--;
    // After an empty cell, "| ": the space before it is already there, and tidying would collapse
    // the two anyway, after rewriting every one of a long run of empty cells.
    if (from > 0 && emptyBefore) emptyRun++;
    else if (from > 0) out.push(" | ");
    if (start < end) {
      if (emptyRun > 0) out.push("| ".repeat(emptyRun));
      emptyRun = 0;
      out.push(row.slice(start, end));
    }
    emptyBefore = start === end;
    from = i + 1;
  }
  if (emptyRun > 0) out.push("| ".repeat(emptyRun));
  return out.join("");
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Where a list item's text starts after its bullet and optional task box, as
 * /^[ \t]*[-*+][ \t]+(?:\[[ xX]\][ \t]+)?/ would match on the line s[start, end) (start when it
 * does not), given a line whose first non-blank character is a bullet.
 */
function afterBullet(s: string, start = 0, end = s.length): number {
  const text = firstNonBlank(s, start, end) + 1;
  let i = text;
  while (i < end && isBlank(s.charCodeAt(i))) i++;
  if (i === text) return start;
  const box = s.charCodeAt(i + 1);
  if (
    i + 2 < end &&
    s.charCodeAt(i) === OPEN_BRACKET &&
    (box === 0x20 || box === 0x78 || box === 0x58) &&
    s.charCodeAt(i + 2) === 0x5d
  ) {
    let j = i + 3;
    while (j < end && isBlank(s.charCodeAt(j))) j++;
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

/**
 * Adds the line s[start, end) to the paragraph without its block markers, as contentLine would:
 * a list item's text is kept as a range of `s`, not a string of its own.
 */
function addContentLine(paragraph: LineText, s: string, start: number, end: number): void {
  let from = start;
  let lead = s.charCodeAt(firstNonBlank(s, from, end));
  if (lead === GREATER_THAN) {
    paragraph.addString(contentLine(s.slice(start, end)));
    return;
  }
  if (lead === HYPHEN || lead === ASTERISK || lead === PLUS) {
    from = afterBullet(s, from, end);
    lead = s.charCodeAt(firstNonBlank(s, from, end));
  }
  if (lead === PIPE) paragraph.addString(contentLine(s.slice(from, end)));
  else paragraph.add(s, from, end);
}

/** Where the line starting at `start` ends: its "\n" or the end of the text. */
function lineEnd(source: string, start: number): number {
  const end = source.indexOf("\n", start);
  return end < 0 ? source.length : end;
}

function frontMatter(source: string): { title: string | undefined; bodyStart: number } {
  let end = lineEnd(source, 0);
  if (source.slice(0, end).trim() !== "---") return { title: undefined, bodyStart: 0 };
  const entries: string[] = [];
  for (let i = 1, start = end + 1; i < 200 && start <= source.length; i++, start = end + 1) {
    end = lineEnd(source, start);
    const line = source.slice(start, end);
    if (line.trim() === "---" || line.trim() === "...") {
      let title: string | undefined;
      for (const entry of entries) {
        if (!entry.startsWith("title:")) continue;
        const value = entry.slice("title:".length).trim();
        const quoted =
          value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]);
        title = oneLine(quoted ? value.slice(1, -1) : value);
      }
      return { title: title || undefined, bodyStart: end + 1 };
    }
    entries.push(line);
  }
  return { title: undefined, bodyStart: 0 };
}

/**
 * The lines of a paragraph or code block joined by "\n", built without a string per line: one
 * slice of the source while they are whole consecutive lines of it, else copied code unit by code
 * unit (a flood of list items would otherwise cost a string each and a join of them all).
 */
class LineText {
  lines = 0;
  private source = "";
  private from = 0;
  private to = 0;
  private units: CodeUnits | null = null;

  /** Adds s[start, end) as the next line. */
  add(s: string, start: number, end: number): void {
    if (this.lines === 0) {
      this.source = s;
      this.from = start;
      this.to = end;
    } else if (
      this.units === null &&
      start === this.to + 1 &&
      s.charCodeAt(this.to) === 0x0a &&
      s === this.source
    ) {
      this.to = end;
    } else {
      if (this.units === null) {
        this.units = new CodeUnits(2 * (this.to - this.from) + (end - start));
        this.units.pushSlice(this.source, this.from, this.to);
      }
      this.units.push(0x0a);
      this.units.pushSlice(s, start, end);
    }
    this.lines++;
  }

  addString(line: string): void {
    this.add(line, 0, line.length);
  }

  text(): string {
    return this.units === null ? this.source.slice(this.from, this.to) : this.units.toString();
  }
}

/**
 * Parses Markdown (CommonMark blocks, GFM tables): the first H1 is the title unless front matter
 * names one; headings build the path; fenced code keeps its text.
 */
export function parseMarkdown(body: string): ParsedDocument {
  const source = body.replace(/\r\n?/g, "\n");
  const front = frontMatter(source);
  const state: BlockState = {
    title: front.title,
    builder: new SectionBuilder(),
    paragraph: new LineText(),
    fence: null,
    code: new LineText(),
    rawBlockEnd: null,
    inComment: false,
    nextComment: -2,
  };
  // Line by line over the source, by position: a line becomes a string only where it is kept or
  // a block pattern must run on it.
  for (let start = front.bodyStart; start <= source.length; ) {
    const end = lineEnd(source, start);
    const line = outsideOpenBlocks(state, source, start, end);
    if (line === true) blockLine(state, source, start, end);
    else if (line !== null) blockLine(state, line, 0, line.length);
    start = end + 1;
  }
  if (state.fence !== null) state.builder.paragraph(state.code.text());
  flushParagraph(state);
  const sections = state.builder.finish();
  return state.title === undefined ? { sections } : { title: state.title, sections };
}

/** What parseMarkdown carries from one line to the next. */
interface BlockState {
  title: string | undefined;
  builder: SectionBuilder;
  /** The lines of the paragraph being read. */
  paragraph: LineText;
  /** The open code fence's marker, and its lines so far. */
  fence: string | null;
  code: LineText;
  /** The end tag of an open script, style or textarea block. */
  rawBlockEnd: RegExp | null;
  inComment: boolean;
  /**
   * Where the next "<!--" of the source is, from the last line searched on (-1: none is left,
   * -2: not searched yet): each line looks it up without searching the rest of the source again.
   */
  nextComment: number;
}

function flushParagraph(state: BlockState): void {
  if (state.paragraph.lines === 0) return;
  state.builder.paragraph(inlineText(state.paragraph.text()));
  state.paragraph = new LineText();
}

function addHeading(state: BlockState, level: number, text: string): void {
  const clean = oneLine(inlineText(text));
  if (level === 1 && state.title === undefined && clean.length > 0 && clean.length <= MAX_HEADING_CHARS) {
    state.title = clean;
  }
  state.builder.heading(level, clean);
}

/**
 * What is left of the line source[start, end) outside an open code fence, raw block or comment:
 * the whole line (true), what a comment left of it, or nothing (null); the state updated for the
 * blocks it closes or opens.
 */
function outsideOpenBlocks(
  state: BlockState,
  source: string,
  start: number,
  end: number,
): true | string | null {
  if (state.fence !== null) {
    codeLine(state, source, start, end);
    return null;
  }
  if (state.rawBlockEnd !== null) {
    if (state.rawBlockEnd.test(source.slice(start, end))) state.rawBlockEnd = null;
    return null;
  }
  let line: string | undefined;
  if (state.inComment) {
    line = source.slice(start, end);
    const close = line.indexOf("-->");
    if (close < 0) return null;
    state.inComment = false;
    line = line.slice(close + 3);
  } else {
    if (state.nextComment !== -1 && state.nextComment < start) {
      state.nextComment = source.indexOf("<!--", start);
    }
    if (state.nextComment === -1 || state.nextComment >= end) return true;
    line = source.slice(start, end);
  }
  // A comment left open at the end of the line hides the lines after it.
  if (line.includes("<!--")) {
    const uncommented = removeSpans(line, /<!--/g, /-->/g);
    state.inComment = uncommented.unclosed;
    line = uncommented.text;
  }
  return line;
}

/** A line inside an open code fence: the fence's closing line, or a line of its code. */
function codeLine(state: BlockState, source: string, start: number, end: number): void {
  // FENCE_RE can only match a line whose fourth character at the latest is a backtick or tilde.
  let i = start;
  while (i < start + 3 && i < end && source.charCodeAt(i) === 0x20) i++;
  const c = source.charCodeAt(i);
  if (c === BACKTICK || c === TILDE) {
    const line = source.slice(start, end);
    const close = FENCE_RE.exec(line);
    if (close?.[1] && state.fence !== null && close[1].startsWith(state.fence) && line.trim() === close[1]) {
      state.builder.paragraph(state.code.text());
      state.code = new LineText();
      state.fence = null;
      return;
    }
  }
  state.code.add(source, start, end);
}

/**
 * The line s[start, end), outside fences, raw blocks and comments: a block of its own, or a line
 * of the paragraph.
 */
function blockLine(state: BlockState, s: string, start: number, end: number): void {
  if (isBlankLine(s, start, end)) {
    flushParagraph(state);
    return;
  }
  // Each block pattern runs only on a line whose first non-blank character can start it: a
  // flood of short lines would otherwise pay for every pattern (and a string) on every line.
  const lead = s.charCodeAt(firstNonBlank(s, start, end));
  const fenceOpen = lead === BACKTICK || lead === TILDE ? FENCE_RE.exec(s.slice(start, end)) : null;
  if (fenceOpen?.[1]) {
    flushParagraph(state);
    state.fence = fenceOpen[1];
    return;
  }
  const line = lead === LESS_THAN ? s.slice(start, end) : "";
  const raw = lead === LESS_THAN ? RAW_BLOCK_RE.exec(line) : null;
  if (raw?.[1]) {
    flushParagraph(state);
    const endTag = new RegExp(`</${raw[1]}\\s*>`, "i");
    if (!endTag.test(line)) state.rawBlockEnd = endTag;
    return;
  }
  const atx = lead === HASH ? atxHeading(s, start, end) : null;
  if (atx) {
    flushParagraph(state);
    addHeading(state, atx.level, atxText(atx.text));
    return;
  }
  if (ruleLine(state, s, start, end, lead)) return;
  addContentLine(state.paragraph, s, start, end);
}

/**
 * Handles the line if it is a setext underline, thematic break, link reference definition or
 * table delimiter row; false if it is none of them.
 */
function ruleLine(state: BlockState, s: string, start: number, end: number, lead: number): boolean {
  // Setext underlines, thematic breaks and table rules hold nothing but their own characters:
  // a list item or a line of text is ruled out without running their patterns.
  const rule = onlyCharsOf(s, start, end, RULE_CHARS);
  const setext = rule && (lead === EQUALS || lead === HYPHEN) ? setextUnderline(s, start, end) : 0;
  if (setext !== 0 && state.paragraph.lines > 0) {
    const text = state.paragraph.text();
    state.paragraph = new LineText();
    addHeading(state, setext === EQUALS ? 1 : 2, text);
    return true;
  }
  if (
    rule &&
    (lead === HYPHEN || lead === ASTERISK || lead === UNDERSCORE || lead === EQUALS) &&
    (setext !== 0 || thematicBreak(s, start, end))
  ) {
    flushParagraph(state);
    return true;
  }
  if (lead === OPEN_BRACKET && REFERENCE_DEF_RE.test(s.slice(start, end))) return true;
  return (
    (lead === PIPE || lead === COLON || lead === HYPHEN) &&
    onlyCharsOf(s, start, end, TABLE_RULE_CHARS) &&
    TABLE_RULE_RE.test(s.slice(start, end))
  );
}

// Thematic breaks and setext underlines are checked by one pass over the line rather than by
// /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/ and /^ {0,3}(=+|-+)[ \t]*$/: a line of a million
// "*" is a thematic break, and V8 runs a pattern's first matches in its regexp interpreter,
// which took 400 ms over such a line (5 ms once compiled): a cost every cold isolate pays.

/** Where a line's marker starts after at most 3 spaces of indent; -1 when indented further. */
function afterIndent(s: string, start: number, end: number): number {
  let i = start;
  while (i < end && s.charCodeAt(i) === SPACE) i++;
  return i - start > 3 ? -1 : i;
}

/** Whether the line is a thematic break: 3 or more of one of - * _, blanks between, nothing else. */
export function thematicBreak(s: string, start: number, end: number): boolean {
  let i = afterIndent(s, start, end);
  if (i < 0 || i >= end) return false;
  const marker = s.charCodeAt(i);
  if (marker !== HYPHEN && marker !== ASTERISK && marker !== UNDERSCORE) return false;
  let count = 0;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === marker) count++;
    else if (c !== SPACE && c !== TAB) return false;
  }
  return count >= 3;
}

/** The character of the line's setext underline (one run of = or of -, then blanks), or 0. */
export function setextUnderline(s: string, start: number, end: number): number {
  let i = afterIndent(s, start, end);
  if (i < 0 || i >= end) return 0;
  const marker = s.charCodeAt(i);
  if (marker !== EQUALS && marker !== HYPHEN) return 0;
  while (i < end && s.charCodeAt(i) === marker) i++;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c !== SPACE && c !== TAB) return 0;
  }
  return marker;
}
