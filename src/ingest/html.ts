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
  // The open elements, innermost last, as runs of one name with what their end does: a flood of
  // one unclosed tag is one entry. With how many runs of each name are open, so that an end tag
  // with no open element of its name costs nothing.
  private readonly openNames: string[] = [];
  private readonly openEnds: number[] = [];
  private readonly openRuns: number[] = [];
  private readonly openCounts = new Map<string, number>();

  startTag(tag: string, hidden: boolean, selfClosing: boolean, foreign: boolean): void {
    // A void element, or a self-closing one in SVG or MathML, has no content and no end tag.
    const hasContent = foreign ? !selfClosing : !VOID.has(tag);
    if (this.dropDepth > 0 || DROPPED.has(tag) || hidden) {
      if (!hasContent) return;
      this.dropDepth++;
      this.open(tag, UNDROP);
      return;
    }
    if (tag === "title") {
      if (this.title === undefined && this.titleText === null) {
        this.titleText = "";
        this.open(tag, END_TITLE);
      } else this.open(tag, NOTHING);
      return;
    }
    const level = headingLevel(tag);
    if (level > 0) {
      this.endHeading();
      this.breakParagraph();
      this.headingLevel = level;
      this.headingText = "";
      if (hasContent) this.open(tag, END_HEADING);
      return;
    }
    if (this.headingLevel > 0) {
      // Structure inside a heading is still part of the heading's one line.
      if (BLOCKS.has(tag) || LINES.has(tag) || CELLS.has(tag)) this.append(" ");
    } else if (BLOCKS.has(tag)) {
      this.breakParagraph();
      if (!hasContent) return;
      if (tag === "pre") this.preDepth++;
      this.open(tag, tag === "pre" ? END_PRE : END_BLOCK);
      return;
    } else if (LINES.has(tag)) {
      if (!this.lineStart) {
        this.paragraph += "\n";
        this.lineStart = true;
      }
    } else if (CELLS.has(tag)) {
      this.append(" ");
    }
    if (hasContent) this.open(tag, NOTHING);
  }

  /** Closes the innermost open element named `tag` and every element opened inside it. */
  endTag(tag: string): void {
    if (!this.openCounts.get(tag)) return;
    for (let top = this.openNames.length - 1; top >= 0; top--) {
      const name = this.openNames[top];
      const end = this.openEnds[top] ?? NOTHING;
      const run = this.openRuns[top] ?? 1;
      if (name === tag && run > 1) {
        // Only the innermost element of the run closes.
        this.openRuns[top] = run - 1;
        this.close(end, 1);
        return;
      }
      this.openNames.pop();
      this.openEnds.pop();
      this.openRuns.pop();
      if (name !== undefined) this.openCounts.set(name, (this.openCounts.get(name) ?? 1) - 1);
      this.close(end, run);
      if (name === tag) return;
    }
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

  private open(tag: string, end: number): void {
    const top = this.openNames.length - 1;
    if (this.openNames[top] === tag && this.openEnds[top] === end) {
      this.openRuns[top] = (this.openRuns[top] ?? 1) + 1;
      return;
    }
    this.openNames.push(tag);
    this.openEnds.push(end);
    this.openRuns.push(1);
    this.openCounts.set(tag, (this.openCounts.get(tag) ?? 0) + 1);
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
