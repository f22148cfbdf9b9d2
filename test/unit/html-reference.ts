// The HTML parser as it was before its element names became ids: its tokenizer (a Map from first
// letter and length to names, a Map lookup for each start tag's text state) and its collector (Set
// lookups for what each element is, open elements in doubling typed arrays). The oracle that the
// parser in src/ingest/html.ts, which gives each tag an array read instead, must match.
import { MAX_HEADING_CHARS, oneLine, type ParsedDocument, SectionBuilder } from "../../src/ingest/document";
import { decodeEntities } from "../../src/ingest/entities";

/** What the tokenizer reports, in document order. */
interface HtmlSink {
  /**
   * A start tag, its name lowercased; `hidden` when it carries the hidden attribute, `foreign`
   * inside SVG or MathML (where a self-closing tag has no content and no end tag).
   */
  startTag(name: string, hidden: boolean, selfClosing: boolean, foreign: boolean): void;
  /** An end tag, its name lowercased. */
  endTag(name: string): void;
  /** The characters of one text node, as written: character references are not decoded. */
  text(raw: string): void;
}

const TAB = 0x09;
const LF = 0x0a;
const FF = 0x0c;
const CR = 0x0d;
const SPACE = 0x20;
const BANG = 0x21;
const DQUOTE = 0x22;
const APOS = 0x27;
const SLASH = 0x2f;
const EQUALS = 0x3d;
const GT = 0x3e;
const QUESTION = 0x3f;

const isSpace = (c: number) => c === SPACE || c === LF || c === TAB || c === FF || c === CR;
const isAlpha = (c: number) => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
/** Where a tag name ends: whitespace, "/", ">" or the end of the input (NaN). */
const endsName = (c: number) => isSpace(c) || c === SLASH || c === GT || Number.isNaN(c);

// The text state a start tag in HTML content switches to (lol-html get_text_type_adjustment).
const RCDATA = 1;
const RAWTEXT = 2;
const SCRIPT = 3;
const PLAINTEXT = 4;
const TEXT_STATE: ReadonlyMap<string, number> = new Map([
  ["title", RCDATA],
  ["textarea", RCDATA],
  ["style", RAWTEXT],
  ["iframe", RAWTEXT],
  ["xmp", RAWTEXT],
  ["noembed", RAWTEXT],
  ["noframes", RAWTEXT],
  ["noscript", RAWTEXT],
  ["script", SCRIPT],
  ["plaintext", PLAINTEXT],
]);

// HTML start tags that end foreign content (the spec's "any other start tag" rule in foreign content).
const FOREIGN_EXIT = new Set(
  "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var".split(
    " ",
  ),
);
// Elements inside SVG or MathML whose content is HTML again.
const SVG_HTML_POINTS = new Set(["desc", "title", "foreignobject"]);
const MATHML_TEXT_POINTS = new Set(["mi", "mo", "mn", "ms", "mtext"]);

// Element names read without copying them out of the input: one string each, whose hash the Maps
// and Sets looking them up have already computed. Others are sliced and lowercased.
const COMMON_NAMES: ReadonlyMap<number, readonly string[]> = (() => {
  const names = `a abbr address area article aside audio b base bdi bdo blockquote body br button canvas
    caption center cite code col colgroup dd del details dfn dialog div dl dt em embed fieldset figcaption
    figure font footer form h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins kbd label
    legend li link main mark math meta nav noscript object ol option p param picture pre q s samp script
    section select small source span strong style sub summary sup svg table tbody td template textarea
    tfoot th thead time title tr track u ul var video wbr`.split(/\s+/);
  const byKey = new Map<number, string[]>();
  for (const name of names) {
    const key = nameKey(name.charCodeAt(0), name.length);
    byKey.set(key, [...(byKey.get(key) ?? []), name]);
  }
  return byKey;
})();

function nameKey(first: number, length: number): number {
  return (first | 0x20) * 64 + length;
}

const HTML = 0;
const SVG = 1;
const MATHML = 2;

/** Tokenizes `html`, reporting tags and text to `sink`. */
function tokenizeHtml(html: string, sink: HtmlSink): void {
  new Tokenizer(html, sink).run();
}

class Tokenizer {
  private readonly n: number;
  /** Namespaces entered (lol-html's namespace stack); HTML at the bottom. */
  private readonly namespaces: number[] = [HTML];
  private ns = HTML;
  // The tag just read (fields rather than an object: a flood of tags allocates nothing per tag).
  private tagName = "";
  private tagHidden = false;
  private tagSelfClosing = false;
  /** Index just past the tag's ">". */
  private tagNext = 0;

  constructor(
    private readonly html: string,
    private readonly sink: HtmlSink,
  ) {
    this.n = html.length;
  }

  run(): void {
    const { html, n } = this;
    let textStart = 0;
    let i = 0;
    while (i < n) {
      const lt = html.indexOf("<", i);
      if (lt === -1) break;
      const c = html.charCodeAt(lt + 1);
      // 1 for a start tag, 2 for an end tag, 0 for anything else or a tag cut off by the end.
      let tag = 0;
      let next: number;
      if (isAlpha(c)) {
        tag = this.tag(lt + 1) ? 1 : 0;
        next = tag === 0 ? n : this.tagNext;
      } else if (c === SLASH) {
        const d = html.charCodeAt(lt + 2);
        if (isAlpha(d)) {
          tag = this.tag(lt + 2) ? 2 : 0;
          next = tag === 0 ? n : this.tagNext;
        } else if (d === GT) next = lt + 3;
        else if (Number.isNaN(d)) break;
        else next = this.past(">", lt + 2);
      } else if (c === BANG) {
        next = this.declaration(lt);
      } else if (c === QUESTION) {
        next = this.past(">", lt + 1);
      } else {
        // A "<" that opens nothing is text.
        i = lt + 1;
        continue;
      }
      if (lt > textStart) this.sink.text(html.slice(textStart, lt));
      i = textStart = next;
      if (tag === 1) i = textStart = this.startTag();
      else if (tag === 2) i = textStart = this.endTag();
    }
    if (textStart < n) this.sink.text(html.slice(textStart));
  }

  /** Index just past the next `s` at or after `from`, or the end of the input. */
  private past(s: string, from: number): number {
    const at = this.html.indexOf(s, from);
    return at === -1 ? this.n : at + s.length;
  }

  /** After "<!": a comment, a doctype, CDATA (text, in foreign content) or a bogus comment. */
  private declaration(lt: number): number {
    const { html } = this;
    if (html.startsWith("--", lt + 2)) return this.commentEnd(lt);
    if (this.ns !== HTML && html.startsWith("[CDATA[", lt + 2)) {
      const close = html.indexOf("]]>", lt + 9);
      const end = close === -1 ? this.n : close;
      if (end > lt + 9) this.sink.text(html.slice(lt + 9, end));
      return close === -1 ? this.n : close + 3;
    }
    // A doctype ends at its first ">", as does anything else after "<!".
    return this.past(">", lt + 2);
  }

  /**
   * Index just past the comment opened at `lt` ("<!--"): at "-->" or "--!>", where "<!-->" and
   * "<!--->" are empty comments.
   */
  private commentEnd(lt: number): number {
    const { html } = this;
    for (let at = html.indexOf("--", lt + 2); at !== -1; at = html.indexOf("--", at + 1)) {
      const c = html.charCodeAt(at + 2);
      if (c === GT) return at + 3;
      if (c === BANG && at >= lt + 4 && html.charCodeAt(at + 3) === GT) return at + 4;
    }
    return this.n;
  }

  /**
   * Reads the tag whose name starts at `from` into the tag fields; false when the input ends
   * inside it (it is dropped).
   */
  private tag(from: number): boolean {
    const { html, n } = this;
    let j = from;
    let upper = false;
    for (; j < n; j++) {
      const c = html.charCodeAt(j);
      if (isSpace(c) || c === SLASH || c === GT) break;
      if (c >= 0x41 && c <= 0x5a) upper = true;
    }
    const name = this.common(from, j) ?? (upper ? html.slice(from, j).toLowerCase() : html.slice(from, j));
    this.tagName = name;
    this.tagHidden = false;
    this.tagSelfClosing = false;
    while (j < n) {
      const c = html.charCodeAt(j);
      if (c === GT) {
        this.tagNext = j + 1;
        return true;
      }
      if (isSpace(c)) {
        j++;
        continue;
      }
      if (c === SLASH) {
        if (html.charCodeAt(j + 1) === GT) {
          this.tagSelfClosing = true;
          this.tagNext = j + 2;
          return true;
        }
        j++;
        continue;
      }
      // An attribute name: up to whitespace, "/", ">" or "=" (an "=" first is part of the name).
      const nameStart = j++;
      for (; j < n; j++) {
        const a = html.charCodeAt(j);
        if (isSpace(a) || a === SLASH || a === GT || a === EQUALS) break;
      }
      if (j - nameStart === 6 && html.slice(nameStart, j).toLowerCase() === "hidden") this.tagHidden = true;
      while (j < n && isSpace(html.charCodeAt(j))) j++;
      if (html.charCodeAt(j) !== EQUALS) continue;
      j++;
      while (j < n && isSpace(html.charCodeAt(j))) j++;
      const q = html.charCodeAt(j);
      if (q === DQUOTE || q === APOS) {
        const close = html.indexOf(q === DQUOTE ? '"' : "'", j + 1);
        if (close === -1) return false;
        j = close + 1;
      } else {
        for (; j < n; j++) {
          const a = html.charCodeAt(j);
          if (isSpace(a) || a === GT) break;
        }
      }
    }
    return false;
  }

  /** The common element name html[from, to) spells in any case, or undefined. */
  private common(from: number, to: number): string | undefined {
    const candidates = COMMON_NAMES.get(nameKey(this.html.charCodeAt(from), to - from));
    if (candidates === undefined) return undefined;
    for (const name of candidates) if (this.isName(name, from)) return name;
    return undefined;
  }

  /** Reports a start tag and reads the raw text after it; returns where tokenizing goes on. */
  private startTag(): number {
    const { tagName: name, tagSelfClosing: selfClosing, tagNext: next } = this;
    // Whether the element itself is SVG or MathML: <svg> and <math> are, as is an integration
    // point (<svg><title>), whose content is HTML but whose own text is not RCDATA.
    let foreign = this.ns !== HTML;
    if (name === "svg" || name === "math") {
      foreign = true;
      if (!selfClosing) this.enter(name === "svg" ? SVG : MATHML);
    } else if (foreign) {
      if (FOREIGN_EXIT.has(name)) {
        this.leave();
        foreign = this.ns !== HTML;
      } else if (
        !selfClosing &&
        ((this.ns === SVG && SVG_HTML_POINTS.has(name)) ||
          (this.ns === MATHML && MATHML_TEXT_POINTS.has(name)))
      ) {
        this.enter(HTML);
      }
    }
    this.sink.startTag(name, this.tagHidden, selfClosing, foreign);
    if (foreign) return next;
    const state = TEXT_STATE.get(name);
    if (state === undefined) return next;
    if (state === PLAINTEXT) {
      if (next < this.n) this.sink.text(this.html.slice(next));
      return this.n;
    }
    const close = state === SCRIPT ? this.scriptEnd(next) : this.closingTag(name, next);
    const end = close === -1 ? this.n : close;
    if (end > next) this.sink.text(this.html.slice(next, end));
    return close !== -1 && this.tag(close + 2) ? this.endTag() : this.n;
  }

  private endTag(): number {
    const name = this.tagName;
    if (this.ns === HTML) {
      // Reading below index 0 would be a slow lookup on every end tag of an HTML-only page.
      const depth = this.namespaces.length;
      const outer = depth > 1 ? this.namespaces[depth - 2] : HTML;
      if (
        (outer === SVG && SVG_HTML_POINTS.has(name)) ||
        (outer === MATHML && MATHML_TEXT_POINTS.has(name))
      ) {
        this.leave();
      }
    } else if (
      (this.ns === SVG && name === "svg") ||
      (this.ns === MATHML && name === "math") ||
      name === "p" ||
      name === "br"
    ) {
      this.leave();
    }
    this.sink.endTag(name);
    return this.tagNext;
  }

  private enter(ns: number): void {
    this.namespaces.push(ns);
    this.ns = ns;
  }

  private leave(): void {
    if (this.namespaces.length > 1) this.namespaces.pop();
    this.ns = this.namespaces[this.namespaces.length - 1] ?? HTML;
  }

  /** Whether `name` (any case) starts at `at` and is followed by whitespace, "/", ">" or the end. */
  private isName(name: string, at: number): boolean {
    const { html } = this;
    for (let k = 0; k < name.length; k++) {
      const c = html.charCodeAt(at + k);
      const want = name.charCodeAt(k);
      if (c !== want && !(c >= 0x41 && c <= 0x5a && c + 0x20 === want)) return false;
    }
    return endsName(html.charCodeAt(at + name.length));
  }

  /** Index of the "</name" that ends a raw-text or RCDATA element's text, or -1. */
  private closingTag(name: string, from: number): number {
    for (let at = this.html.indexOf("</", from); at !== -1; at = this.html.indexOf("</", at + 2)) {
      if (this.isName(name, at + 2)) return at;
    }
    return -1;
  }

  /**
   * Index of the "</script" that ends a script's text, or -1. Inside "<!--" a "<script" opens a
   * second level where "</script" only returns to the first, as in the spec's script data
   * (double) escaped states.
   */
  private scriptEnd(from: number): number {
    const { html } = this;
    let escaped = 0;
    let j = from;
    // The next "-->" at or after j, looked up again only once passed, so no search is repeated.
    let dashes = -2;
    for (;;) {
      const lt = html.indexOf("<", j);
      if (escaped > 0) {
        if (dashes !== -1 && dashes < j) dashes = html.indexOf("-->", j);
        if (dashes !== -1 && (lt === -1 || dashes < lt)) {
          escaped = 0;
          j = dashes + 3;
          continue;
        }
      }
      if (lt === -1) return -1;
      if (html.charCodeAt(lt + 1) === SLASH && this.isName("script", lt + 2)) {
        if (escaped < 2) return lt;
        escaped = 1;
        j = lt + 8;
      } else if (escaped === 0 && html.startsWith("<!--", lt)) {
        escaped = 1;
        // "<!-->" and "<!--->" close again at once: the "-->" search starts at the dashes.
        j = lt + 2;
      } else if (escaped === 1 && this.isName("script", lt + 1)) {
        escaped = 2;
        j = lt + 7;
      } else {
        j = lt + 1;
      }
    }
  }
}

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
export function parseHtmlReference(body: string): ParsedDocument {
  const collector = new HtmlCollector();
  tokenizeHtml(body, collector);
  collector.finish();
  const sections = collector.builder.finish();
  return collector.title === undefined ? { sections } : { title: collector.title, sections };
}
