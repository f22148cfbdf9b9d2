// A linear HTML tokenizer for text extraction: start and end tags (attributes only as far as the
// `hidden` flag), comments, doctypes, CDATA, and the raw-text, RCDATA, script-data and plaintext
// states, after the WHATWG tokenizer (https://html.spec.whatwg.org/multipage/parsing.html#tokenization).
// Which text state follows a start tag, and when foreign (SVG, MathML) content begins and ends,
// is decided the way lol-html's tree-builder simulator decides it, without building a tree.
// Every search moves forward through the input, so the work is linear in its length whatever it holds.

/** What the tokenizer reports, in document order. */
export interface HtmlSink {
  /**
   * A start tag, its name lowercased and the name's index in KNOWN_NAMES (-1 for another name);
   * `hidden` when it carries the hidden attribute, `foreign` inside SVG or MathML (where a
   * self-closing tag has no content and no end tag).
   */
  startTag(name: string, id: number, hidden: boolean, selfClosing: boolean, foreign: boolean): void;
  /** An end tag, its name lowercased and the name's index in KNOWN_NAMES (-1 for another name). */
  endTag(name: string, id: number): void;
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

/**
 * Element names read without copying them out of the input, each known by its index here: the
 * common ones, and every name this tokenizer treats apart (so another name never needs looking up).
 * A sink keeps what each name means in an array by index: a tag costs no hash lookup, which on a
 * page of nothing but tags (a deep nest of two names in turn) was most of the work.
 */
export const KNOWN_NAMES: readonly string[] = [
  ...new Set([
    ...`a abbr address area article aside audio b base basefont bdi bdo bgsound blockquote body br button
    canvas caption center cite code col colgroup dd del details dfn dialog div dl dt em embed fieldset
    figcaption figure font footer form h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins
    kbd keygen label legend li link main mark math meta nav noscript object ol option p param picture pre
    q s samp script section select small source span strong style sub summary sup svg table tbody td
    template textarea tfoot th thead time title tr track u ul var video wbr`.split(/\s+/),
    ...TEXT_STATE.keys(),
    ...FOREIGN_EXIT,
    ...SVG_HTML_POINTS,
    ...MATHML_TEXT_POINTS,
  ]),
];

// A name's slot in NAME_SLOTS: its first letter and its length (names of 16 or more are none).
const MAX_KNOWN_LENGTH = 16;
const slotOf = (first: number, length: number) => ((first | 0x20) - 0x61) * MAX_KNOWN_LENGTH + length;

/** Per first letter and length, the indexes in KNOWN_NAMES of the names that have them. */
const NAME_SLOTS: (readonly number[] | undefined)[] = (() => {
  const slots: number[][] = Array.from({ length: 26 * MAX_KNOWN_LENGTH }, () => []);
  KNOWN_NAMES.forEach((name, id) => {
    slots[slotOf(name.charCodeAt(0), name.length)]?.push(id);
  });
  return slots.map((ids) => (ids.length > 0 ? ids : undefined));
})();

/** Index in KNOWN_NAMES by name, for the rare name toLowerCase may turn into one (see tag). */
const KNOWN_IDS: ReadonlyMap<string, number> = new Map(KNOWN_NAMES.map((name, id) => [name, id]));

/** Per index in KNOWN_NAMES, the text state its start tag switches to in HTML content (0: none). */
const TEXT_STATES: readonly number[] = KNOWN_NAMES.map((name) => TEXT_STATE.get(name) ?? 0);

const HTML = 0;
const SVG = 1;
const MATHML = 2;

/** Tokenizes `html`, reporting tags and text to `sink`. */
export function tokenizeHtml(html: string, sink: HtmlSink): void {
  new Tokenizer(html, sink).run();
}

class Tokenizer {
  private readonly n: number;
  /** Namespaces entered (lol-html's namespace stack); HTML at the bottom. */
  private readonly namespaces: number[] = [HTML];
  private ns = HTML;
  // The tag just read (fields rather than an object: a flood of tags allocates nothing per tag).
  private tagName = "";
  /** The tag name's index in KNOWN_NAMES, or -1. */
  private tagId = -1;
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
    let wide = false;
    for (; j < n; j++) {
      const c = html.charCodeAt(j);
      if (isSpace(c) || c === SLASH || c === GT) break;
      if (c >= 0x41 && c <= 0x5a) upper = true;
      else if (c >= 0x80) wide = true;
    }
    let id = this.known(from, j);
    if (id >= 0) this.tagName = KNOWN_NAMES[id] as string;
    else if (!upper) this.tagName = html.slice(from, j);
    else {
      this.tagName = html.slice(from, j).toLowerCase();
      // toLowerCase also lowercases beyond ASCII, where the Kelvin sign becomes "k" (MAR\u212A is mark).
      if (wide) id = KNOWN_IDS.get(this.tagName) ?? -1;
    }
    this.tagId = id;
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

  /** The index in KNOWN_NAMES of the name html[from, to) spells in any case (it starts with a letter), or -1. */
  private known(from: number, to: number): number {
    if (to - from >= MAX_KNOWN_LENGTH) return -1;
    const ids = NAME_SLOTS[slotOf(this.html.charCodeAt(from), to - from)];
    if (ids === undefined) return -1;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k] as number;
      if (this.isName(KNOWN_NAMES[id] as string, from)) return id;
    }
    return -1;
  }

  /** Reports a start tag and reads the raw text after it; returns where tokenizing goes on. */
  private startTag(): number {
    const { tagName: name, tagId: id, tagSelfClosing: selfClosing, tagNext: next } = this;
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
    this.sink.startTag(name, id, this.tagHidden, selfClosing, foreign);
    if (foreign) return next;
    const state = id >= 0 ? (TEXT_STATES[id] ?? 0) : 0;
    if (state === 0) return next;
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
    this.sink.endTag(name, this.tagId);
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
