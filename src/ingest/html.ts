// HTML to readable text with its heading structure, in one linear pass of its own tokenizer:
// only what a reader would see is kept; scripts, styles and other non-content never leak through.
import { MAX_HEADING_CHARS, oneLine, type ParsedDocument, SectionBuilder } from "./document";
import { decodeEntities } from "./entities";
import { type HtmlSink, KNOWN_NAMES, tokenizeHtml } from "./html-tokenizer";

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

// What an element is, as bits of one number: found once per name, so a tag costs no Set lookups.
const IS_VOID = 8;
const IS_DROPPED = 16;
const IS_BLOCK = 32;
const IS_LINE = 64;
const IS_CELL = 128;
const IS_TITLE = 256;
const IS_PRE = 512;
/** The low three bits: the heading level. */
const LEVEL = 7;

function kindOf(tag: string): number {
  return (
    headingLevel(tag) |
    (VOID.has(tag) ? IS_VOID : 0) |
    (DROPPED.has(tag) ? IS_DROPPED : 0) |
    (BLOCKS.has(tag) ? IS_BLOCK : 0) |
    (LINES.has(tag) ? IS_LINE : 0) |
    (CELLS.has(tag) ? IS_CELL : 0) |
    (tag === "title" ? IS_TITLE : 0) |
    (tag === "pre" ? IS_PRE : 0)
  );
}

/** Per index in KNOWN_NAMES, what the element is. */
const KNOWN_KINDS: readonly number[] = KNOWN_NAMES.map(kindOf);

/** Open elements the stack has room for before it first grows. */
const INITIAL_OPEN_ENTRIES = 256;

// What happens when an open element closes.
const NOTHING = 0;
const UNDROP = 1;
const END_TITLE = 2;
const END_HEADING = 3;
const END_BLOCK = 4;
const END_PRE = 5;

/**
 * Element names as ids, and what each is: a name in KNOWN_NAMES is its index there, another gets
 * the next id the first time it is seen, so a page of made-up names costs one lookup per tag.
 */
class ElementNames {
  private readonly others = new Map<string, number>();
  /** Per id past the known names: what the element is. */
  private readonly otherKinds: number[] = [];

  /** The id of `tag`, whose index in KNOWN_NAMES is `known` (-1 for none). */
  id(tag: string, known: number): number {
    if (known >= 0) return known;
    let id = this.others.get(tag);
    if (id === undefined) {
      id = KNOWN_NAMES.length + this.otherKinds.length;
      this.others.set(tag, id);
      this.otherKinds.push(kindOf(tag));
    }
    return id;
  }

  /** The id of `tag` if it was seen, else -1. */
  seen(tag: string, known: number): number {
    return known >= 0 ? known : (this.others.get(tag) ?? -1);
  }

  kind(id: number): number {
    return (id < KNOWN_NAMES.length ? KNOWN_KINDS[id] : this.otherKinds[id - KNOWN_NAMES.length]) ?? 0;
  }
}

/**
 * The stack of open elements, innermost last, each with what its end does. Kept as runs of one
 * name and end, so a flood of one unclosed tag is one entry, in one typed array of pairs, so a deep
 * nest of alternating tags is a few bytes per element and nothing for the garbage collector to
 * trace (a plain array that deep cost more than the tags did). Each new buffer is a fresh
 * ArrayBuffer, dear next to a tag, so the array starts at room for a page's usual nesting and grows
 * fourfold. With how many runs of each name are open, an end tag with no open element of its name
 * costs one array read.
 */
class OpenElements {
  /** Per entry, two numbers: its name's id times 8 plus what its end does, and its run's length. */
  private stack = new Int32Array(INITIAL_OPEN_ENTRIES * 2);
  private depth = 0;
  /** Per name id: how many of its runs are open. */
  private readonly openRuns: number[] = [];

  push(id: number, end: number): void {
    const entry = id * 8 + end;
    const top = (this.depth - 1) * 2;
    if (top >= 0 && this.stack[top] === entry) {
      this.stack[top + 1] = (this.stack[top + 1] ?? 0) + 1;
      return;
    }
    const at = this.depth * 2;
    if (at === this.stack.length) {
      const larger = new Int32Array(this.stack.length * 4);
      larger.set(this.stack);
      this.stack = larger;
    }
    this.stack[at] = entry;
    this.stack[at + 1] = 1;
    this.depth++;
    while (this.openRuns.length <= id) this.openRuns.push(0);
    this.openRuns[id] = (this.openRuns[id] ?? 0) + 1;
  }

  /**
   * Pops up to and including the innermost open element of name `id`, calling `onClose` with what
   * the end of each run popped does and how many elements close with it; nothing if none is open.
   */
  close(id: number, onClose: (end: number, count: number) => void): void {
    if (id < 0 || !this.openRuns[id]) return;
    while (this.depth > 0) {
      const top = (this.depth - 1) * 2;
      const entry = this.stack[top] ?? 0;
      const run = this.stack[top + 1] ?? 1;
      const entryId = entry >> 3;
      if (entryId === id && run > 1) {
        // Only the innermost element of the run closes.
        this.stack[top + 1] = run - 1;
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
  private readonly names = new ElementNames();
  private readonly open = new OpenElements();
  private readonly onClose = (end: number, count: number) => this.close(end, count);

  startTag(tag: string, known: number, hidden: boolean, selfClosing: boolean, foreign: boolean): void {
    const id = this.names.id(tag, known);
    const kind = this.names.kind(id);
    // A void element, or a self-closing one in SVG or MathML, has no content and no end tag.
    const hasContent = foreign ? !selfClosing : (kind & IS_VOID) === 0;
    if (this.dropDepth > 0 || (kind & IS_DROPPED) !== 0 || hidden) {
      if (!hasContent) return;
      this.dropDepth++;
      this.open.push(id, UNDROP);
      return;
    }
    if ((kind & IS_TITLE) !== 0) {
      if (this.title === undefined && this.titleText === null) {
        this.titleText = "";
        this.open.push(id, END_TITLE);
      } else this.open.push(id, NOTHING);
      return;
    }
    const level = kind & LEVEL;
    if (level > 0) {
      this.endHeading();
      this.breakParagraph();
      this.headingLevel = level;
      this.headingText = "";
      if (hasContent) this.open.push(id, END_HEADING);
      return;
    }
    if (this.headingLevel > 0) {
      // Structure inside a heading is still part of the heading's one line.
      if ((kind & (IS_BLOCK | IS_LINE | IS_CELL)) !== 0) this.append(" ");
    } else if ((kind & IS_BLOCK) !== 0) {
      this.breakParagraph();
      if (!hasContent) return;
      const pre = (kind & IS_PRE) !== 0;
      if (pre) this.preDepth++;
      this.open.push(id, pre ? END_PRE : END_BLOCK);
      return;
    } else if ((kind & IS_LINE) !== 0) {
      if (!this.lineStart) {
        this.paragraph += "\n";
        this.lineStart = true;
      }
    } else if ((kind & IS_CELL) !== 0) {
      this.append(" ");
    }
    if (hasContent) this.open.push(id, NOTHING);
  }

  /** Closes the innermost open element named `tag` and every element opened inside it. */
  endTag(tag: string, known: number): void {
    this.open.close(this.names.seen(tag, known), this.onClose);
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
