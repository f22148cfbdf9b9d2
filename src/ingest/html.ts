// HTML to readable text with its heading structure, streamed through the Workers HTMLRewriter:
// only what a reader would see is kept; scripts, styles and other non-content never leak through.
import { AppError } from "../errors";
import { MAX_HEADING_CHARS, oneLine, type ParsedDocument, SectionBuilder } from "./document";
import { decodeEntities } from "./entities";

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

// Elements without an end tag: HTMLRewriter refuses an end-tag handler for them.
const VOID = new Set([
  "area",
  "base",
  "br",
  "col",
  "embed",
  "hr",
  "img",
  "input",
  "link",
  "meta",
  "param",
  "source",
  "track",
  "wbr",
]);

const HEADING_RE = /^h([1-6])$/;

class HtmlCollector {
  readonly builder = new SectionBuilder();
  title: string | undefined;
  private dropDepth = 0;
  private paragraph = "";
  private headingLevel = 0;
  private headingText = "";
  private titleText: string | null = null;
  private pendingText = "";
  private preDepth = 0;

  startElement(el: Element): void {
    const tag = el.tagName.toLowerCase();
    if (this.dropDepth > 0 || DROPPED.has(tag) || (el.hasAttribute("hidden") && !VOID.has(tag))) {
      if (VOID.has(tag)) return;
      this.dropDepth++;
      this.onEnd(el, () => {
        this.dropDepth = Math.max(0, this.dropDepth - 1);
      });
      return;
    }
    if (tag === "title") {
      if (this.title === undefined && this.titleText === null) {
        this.titleText = "";
        this.onEnd(el, () => this.endTitle());
      }
      return;
    }
    const heading = HEADING_RE.exec(tag);
    if (heading) {
      this.endHeading();
      this.breakParagraph();
      this.headingLevel = Number(heading[1]);
      this.headingText = "";
      this.onEnd(el, () => this.endHeading());
      return;
    }
    if (this.headingLevel > 0) {
      // Structure inside a heading is still part of the heading's one line.
      if (BLOCKS.has(tag) || LINES.has(tag) || CELLS.has(tag)) this.append(" ");
      return;
    }
    if (BLOCKS.has(tag)) {
      this.breakParagraph();
      const pre = tag === "pre";
      if (pre) this.preDepth++;
      if (!VOID.has(tag)) {
        this.onEnd(el, () => {
          if (pre) this.preDepth = Math.max(0, this.preDepth - 1);
          this.breakParagraph();
        });
      }
    } else if (LINES.has(tag)) {
      this.append("\n");
    } else if (CELLS.has(tag)) {
      this.append(" ");
    }
  }

  text(chunk: Text): void {
    this.pendingText += chunk.text;
    if (!chunk.lastInTextNode) return;
    const raw = this.pendingText;
    this.pendingText = "";
    if (this.dropDepth > 0) return;
    const decoded = decodeEntities(raw).replace(this.preDepth > 0 ? /[^\S\n]+/g : /\s+/g, " ");
    if (this.titleText !== null) this.titleText += decoded;
    else this.append(decoded);
  }

  finish(): void {
    this.endTitle();
    this.endHeading();
    this.breakParagraph();
  }

  private onEnd(el: Element, handler: () => void): void {
    try {
      el.onEndTag(handler);
    } catch {
      // Self-closing foreign elements have no end tag either; nothing to undo for them.
    }
  }

  private append(text: string): void {
    if (this.headingLevel > 0) this.headingText += text;
    else this.paragraph += text;
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
    this.builder.paragraph(this.paragraph);
    this.paragraph = "";
  }
}

/** Parses an HTML document: <title> as title, h1-h6 as the heading path, block elements as paragraphs. */
export async function parseHtml(body: string): Promise<ParsedDocument> {
  const collector = new HtmlCollector();
  const rewriter = new HTMLRewriter()
    .on("*", { element: (el) => collector.startElement(el) })
    .onDocument({ text: (chunk) => collector.text(chunk) });
  // Draining the transformed body is what drives the handlers; the output itself is unused.
  try {
    await rewriter.transform(new Response(body, { headers: { "content-type": "text/html" } })).arrayBuffer();
  } catch (err) {
    // lol-html refuses input it cannot parse within its 3 MiB (e.g. thousands of unclosed nested
    // elements): "TypeError: Parser error: The memory limit has been exceeded." (workerd
    // src/workerd/api/html-rewriter.c++, max_allowed_memory_usage). The same input fails again.
    if (err instanceof TypeError && err.message.includes("Parser error:")) {
      throw new AppError("unprocessable", `HTML could not be parsed: ${err.message}`, { retryable: false });
    }
    throw err;
  }
  collector.finish();
  const sections = collector.builder.finish();
  return collector.title === undefined ? { sections } : { title: collector.title, sections };
}
