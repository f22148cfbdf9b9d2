// HTML to readable text with its heading structure, in one linear pass of its own tokenizer:
// only what a reader would see is kept; scripts, styles and other non-content never leak through.
import { MAX_HEADING_CHARS, oneLine, type ParsedDocument, SectionBuilder } from "./document";
import { decodeEntities } from "./entities";
import { type HtmlSink, tokenizeHtml } from "./html-tokenizer";

// Elements whose content is never shown as text (or is code): dropped with everything inside.
const DROPPED = new Set([
  "script",
  "style",
  "noscript",
  "template",
  "svg",
  "math",
  "iframe",
  "object",
  "embed",
  "canvas",
  "audio",
  "video",
  "textarea",
  "select",
  "button",
]);

// Elements that start a new paragraph when they open and when they close.
const BLOCKS = new Set([
  "address",
  "article",
  "aside",
  "blockquote",
  "body",
  "caption",
  "center",
  "dd",
  "details",
  "dialog",
  "div",
  "dl",
  "dt",
  "fieldset",
  "figcaption",
  "figure",
  "footer",
  "form",
  "header",
  "hgroup",
  "hr",
  "html",
  "legend",
  "main",
  "nav",
  "ol",
  "p",
  "pre",
  "section",
  "summary",
  "table",
  "tbody",
  "tfoot",
  "thead",
  "ul",
]);

// Elements that end a line without ending the paragraph.
const LINES = new Set(["br", "li", "tr"]);
const CELLS = new Set(["td", "th"]);

// Elements without an end tag: they never hold content (lol-html's list, as the spec's).
const VOID = new Set([
  "area",
  "base",
  "basefont",
  "bgsound",
  "br",
  "col",
  "embed",
  "hr",
  "img",
  "input",
  "keygen",
  "link",
  "meta",
  "param",
  "source",
  "track",
  "wbr",
]);

// Whitespace runs, each made one space; preformatted text keeps its line breaks.
const SPACE_RE = /\s+/g;
const PRE_SPACE_RE = /[^\S\n]+/g;

/**
 * Whether `text` is a few visible ASCII characters: no whitespace to collapse. A flood of short
 * text nodes (a word between tags) skips a regular expression per node; long text is left to it.
 */
function isShortPrintableAscii(text: string): boolean {
  if (text.length > 32) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** 1-6 for h1-h6, else 0. */
function headingLevel(tag: string): number {
  if (tag.length !== 2 || tag.charCodeAt(0) !== 0x68) return 0;
  const digit = tag.charCodeAt(1) - 0x30;
  return digit >= 1 && digit <= 6 ? digit : 0;
}

// What happens when an open element closes.
const NOTHING = 0;
const UNDROP = 1;
const END_TITLE = 2;
const END_HEADING = 3;
const END_BLOCK = 4;
const END_PRE = 5;

/**
 * The stack of open elements, innermost last, each with what its end does. Kept as runs of one
 * name and end, so a flood of one unclosed tag is one entry, in typed arrays, so a deep nest of
 * alternating tags is a few bytes per element and nothing for the garbage collector to trace.
 * With how many runs of each name are open, an end tag with no open element of its name costs
 * one lookup.
 */
class OpenElements {
  /** Per entry: its name's id times 8, plus what its end does. */
  private entries: Int32Array = new Int32Array(64);
  private runs: Int32Array = new Int32Array(64);
  private depth = 0;
  private readonly ids = new Map<string, number>();
  /** Per name id: how many of its runs are open. */
  private readonly openRuns: number[] = [];

  push(tag: string, end: number): void {
    let id = this.ids.get(tag);
    if (id === undefined) {
      id = this.openRuns.length;
      this.ids.set(tag, id);
      this.openRuns.push(0);
    }
    const entry = id * 8 + end;
    const top = this.depth - 1;
    if (top >= 0 && this.entries[top] === entry) {
      this.runs[top] = (this.runs[top] ?? 0) + 1;
      return;
    }
    if (this.depth === this.entries.length) {
      this.entries = grown(this.entries);
      this.runs = grown(this.runs);
    }
    this.entries[this.depth] = entry;
    this.runs[this.depth] = 1;
    this.depth++;
    this.openRuns[id] = (this.openRuns[id] ?? 0) + 1;
  }

  /**
   * Pops up to and including the innermost open element named `tag`, calling `onClose` with what
   * the end of each run popped does and how many elements close with it; nothing if none is open.
   */
  close(tag: string, onClose: (end: number, count: number) => void): void {
    const id = this.ids.get(tag);
    if (id === undefined || !this.openRuns[id]) return;
    while (this.depth > 0) {
      const top = this.depth - 1;
      const entry = this.entries[top] ?? 0;
      const run = this.runs[top] ?? 1;
      const entryId = entry >> 3;
      if (entryId === id && run > 1) {
        // Only the innermost element of the run closes.
        this.runs[top] = run - 1;
        onClose(entry & 7, 1);
        return;
      }
      this.depth--;
      this.openRuns[entryId] = (this.openRuns[entryId] ?? 1) - 1;
      onClose(entry & 7, run);
      if (entryId === id) return;
    }
  }
}

function grown(array: Int32Array): Int32Array {
  const larger = new Int32Array(array.length * 2);
  larger.set(array);
  return larger;
}

class HtmlCollector implements HtmlSink {
  readonly builder = new SectionBuilder();
  title: string | undefined;
  private dropDepth = 0;
  private paragraph = "";
  private headingLevel = 0;
  private headingText = "";
  private titleText: string | null = null;
  private preDepth = 0;
  /** Whether the paragraph is empty or ends with a line break: another would make an empty line. */
  private lineStart = true;
  private readonly open = new OpenElements();
  private readonly onClose = (end: number, count: number) => this.close(end, count);

  startTag(tag: string, hidden: boolean, selfClosing: boolean, foreign: boolean): void {
    // A void element, or a self-closing one in SVG or MathML, has no content and no end tag.
    const hasContent = foreign ? !selfClosing : !VOID.has(tag);
    if (this.dropDepth > 0 || DROPPED.has(tag) || hidden) {
      if (!hasContent) return;
      this.dropDepth++;
      this.open.push(tag, UNDROP);
      return;
    }
    if (tag === "title") {
      if (this.title === undefined && this.titleText === null) {
        this.titleText = "";
        this.open.push(tag, END_TITLE);
      } else this.open.push(tag, NOTHING);
      return;
    }
    const level = headingLevel(tag);
    if (level > 0) {
      this.endHeading();
      this.breakParagraph();
      this.headingLevel = level;
      this.headingText = "";
      if (hasContent) this.open.push(tag, END_HEADING);
      return;
    }
    if (this.headingLevel > 0) {
      // Structure inside a heading is still part of the heading's one line.
      if (BLOCKS.has(tag) || LINES.has(tag) || CELLS.has(tag)) this.append(" ");
    } else if (BLOCKS.has(tag)) {
      this.breakParagraph();
      if (!hasContent) return;
      if (tag === "pre") this.preDepth++;
      this.open.push(tag, tag === "pre" ? END_PRE : END_BLOCK);
      return;
    } else if (LINES.has(tag)) {
      if (!this.lineStart) {
        this.paragraph += "\n";
        this.lineStart = true;
      }
    } else if (CELLS.has(tag)) {
      this.append(" ");
    }
    if (hasContent) this.open.push(tag, NOTHING);
  }

  /** Closes the innermost open element named `tag` and every element opened inside it. */
  endTag(tag: string): void {
    this.open.close(tag, this.onClose);
  }

  text(raw: string): void {
    if (this.dropDepth > 0) return;
    let text = decodeEntities(raw);
    if (!isShortPrintableAscii(text)) text = text.replace(this.preDepth > 0 ? PRE_SPACE_RE : SPACE_RE, " ");
    if (this.titleText !== null) this.titleText += text;
    else this.append(text);
  }

  finish(): void {
    this.endTitle();
    this.endHeading();
    this.breakParagraph();
  }

  /** The end of `count` elements that close together; all but dropping end the same for one or many. */
  private close(end: number, count: number): void {
    switch (end) {
      case UNDROP:
        this.dropDepth = Math.max(0, this.dropDepth - count);
        break;
      case END_TITLE:
        this.endTitle();
        break;
      case END_HEADING:
        this.endHeading();
        break;
      case END_PRE:
        this.preDepth = Math.max(0, this.preDepth - count);
        this.breakParagraph();
        break;
      case END_BLOCK:
        this.breakParagraph();
        break;
    }
  }

  private append(text: string): void {
    if (this.headingLevel > 0) this.headingText += text;
    else {
      this.paragraph += text;
      this.lineStart = false;
    }
  }

  private endTitle(): void {
    if (this.titleText === null) return;
    const title = oneLine(this.titleText);
    if (title.length > 0) this.title = title;
    this.titleText = null;
  }

  private endHeading(): void {
    if (this.headingLevel === 0) return;
    // A heading this long is an unclosed tag swallowing the page: keep its text as content.
    if (this.headingText.length > MAX_HEADING_CHARS) this.builder.paragraph(this.headingText);
    else this.builder.heading(this.headingLevel, this.headingText);
    this.headingLevel = 0;
    this.headingText = "";
  }

  private breakParagraph(): void {
    if (this.paragraph !== "") this.builder.paragraph(this.paragraph);
    this.paragraph = "";
    this.lineStart = true;
  }
}

/** Parses an HTML document: <title> as title, h1-h6 as the heading path, block elements as paragraphs. */
export function parseHtml(body: string): ParsedDocument {
  const collector = new HtmlCollector();
  tokenizeHtml(body, collector);
  collector.finish();
  const sections = collector.builder.finish();
  return collector.title === undefined ? { sections } : { title: collector.title, sections };
}
