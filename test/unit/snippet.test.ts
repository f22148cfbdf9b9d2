// Snippets and highlights: FTS5's stemming reproduced, the best passage chosen and cut safely,
// offsets that point at the matched words, and HTML that no document text can inject into.
import { describe, expect, it } from "vitest";
import { forEachToken, indexTerms } from "../../src/search/fts-tokens";
import { porterStem } from "../../src/search/porter";
import {
  type HighlightOptions,
  highlightOptions,
  queryTerms,
  SNIPPET_LIMITS,
  snippetOf,
  TAG_FORBIDDEN,
} from "../../src/search/snippet";

const opts = (snippetLength: number, tags?: HighlightOptions["tags"]): HighlightOptions =>
  tags ? { snippetLength, tags } : { snippetLength };
const marked = (s: { snippet: string; highlights: { start: number; end: number }[] }) =>
  s.highlights.map((h) => s.snippet.slice(h.start, h.end));

describe("the FTS5 porter unicode61 tokenizer in TypeScript", () => {
  // What SQLite's fts5vocab lists for each word indexed with
  // tokenize = 'porter unicode61 remove_diacritics 2' (SQLite 3.40).
  it.each([
    ["running", "run"],
    ["caresses", "caress"],
    ["ponies", "poni"],
    ["relational", "relat"],
    ["generalization", "gener"],
    ["happy", "happi"],
    ["hopping", "hop"],
    ["hoping", "hope"],
    ["agreed", "agre"],
    ["runner", "runner"],
    ["is", "is"],
    ["Café", "cafe"],
    ["cafe\u0301", "cafe"],
    ["ÉTÉ", "et"],
    ["Ωμέγα", "ωμέγα"],
  ])("indexes %s as %s", (word, term) => {
    expect(indexTerms(word).map((t) => Buffer.from(t, "latin1").toString("utf8"))).toEqual([term]);
  });

  it("passes tokens over 64 bytes through unstemmed", () => {
    const long = `${"a".repeat(61)}ings`;
    expect(porterStem(long)).toBe(long);
    expect(porterStem(`${"a".repeat(56)}ings`)).toBe("a".repeat(56));
  });

  it("splits on what unicode61 treats as separators, with UTF-16 offsets", () => {
    const tokens: [number, number][] = [];
    forEachToken("😀 smile-ing, x\u0301y", (t) => tokens.push([t.start, t.end]));
    expect(tokens).toEqual([
      [3, 8],
      [9, 12],
      [14, 17],
    ]);
  });
});

describe("snippetOf", () => {
  it("marks the words the keyword index matches, stemmed, and nothing else", () => {
    const s = snippetOf("Running runs; the runner ran to run.", queryTerms("run"), opts(200));
    expect(marked(s)).toEqual(["Running", "runs", "run"]);
    expect(s.snippetTruncated).toEqual({ start: false, end: false });
  });

  it("picks the window with the most distinct query words", () => {
    const text = `${"alpha filler ".repeat(30)}middle ${"pad ".repeat(20)}alpha beta gamma together ${"tail ".repeat(30)}`;
    const s = snippetOf(text, queryTerms("alpha beta gamma"), opts(60));
    expect(s.snippet).toContain("alpha beta gamma");
    expect(marked(s)).toEqual(expect.arrayContaining(["alpha", "beta", "gamma"]));
    expect(s.snippet.length).toBeLessThanOrEqual(60);
    expect(s.snippetTruncated).toEqual({ start: true, end: true });
  });

  it("cuts on word boundaries", () => {
    const text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen";
    const s = snippetOf(text, queryTerms("seven"), opts(30));
    const at = text.indexOf(s.snippet);
    expect(at).toBeGreaterThan(0);
    expect(text[at - 1]).toBe(" ");
    expect([" ", undefined]).toContain(text[at + s.snippet.length]);
    expect(marked(s)).toEqual(["seven"]);
  });

  it("gives a text without a match its opening passage and no highlights", () => {
    const text = "  Vectors find meaning where words differ. And more text follows here, and more.";
    const s = snippetOf(text, queryTerms("semantics"), opts(40));
    expect(s.snippet).toBe("Vectors find meaning where words");
    expect(s.highlights).toEqual([]);
    expect(s.snippetTruncated).toEqual({ start: true, end: true });
  });

  it("finds nothing to mark in a query of punctuation, and marks stop words FTS5 also matches", () => {
    expect(queryTerms("?! ... --- ;;").size).toBe(0);
    const s = snippetOf("The cat and the hat.", queryTerms("the"), opts(100));
    expect(marked(s)).toEqual(["The", "the"]);
  });

  it("treats a query word repeated many times as one term", () => {
    expect([...queryTerms("run ".repeat(500))]).toEqual(["run"]);
  });

  it("keeps highlights within the snippet however often a word occurs", () => {
    const s = snippetOf("run ".repeat(50_000), queryTerms("run"), opts(20));
    expect(s.snippet.length).toBeLessThanOrEqual(20);
    expect(s.highlights.length).toBe(5);
  });

  it("never cuts inside a surrogate pair or between a letter and its combining mark", () => {
    const emoji = "😀".repeat(100);
    const s = snippetOf(emoji, queryTerms("x"), opts(21));
    expect(s.snippet).toBe("😀".repeat(10));
    const marks = "e\u0301".repeat(100);
    const m = snippetOf(marks, queryTerms("x"), opts(21));
    expect(m.snippet).toBe("e\u0301".repeat(10));
  });

  it("shows the start of one matched word longer than the snippet", () => {
    const word = `${"𝒜".repeat(30)}`;
    const s = snippetOf(`intro ${word} outro`, new Set(indexTerms(word)), opts(25));
    expect(s.snippet).toBe("𝒜".repeat(12));
    expect(s.highlights).toEqual([{ start: 0, end: 24 }]);
  });

  it("escapes the text before inserting tags, so a document cannot inject markup", () => {
    const text = `<script>alert("x")</script> & a <b>search</b> 'term'`;
    const s = snippetOf(text, queryTerms("search script"), opts(200, { pre: "<em>", post: "</em>" }));
    expect(s.snippetHtml).toBe(
      "&lt;<em>script</em>&gt;alert(&quot;x&quot;)&lt;/<em>script</em>&gt; &amp; a &lt;b&gt;<em>search</em>&lt;/b&gt; &#39;term&#39;",
    );
    expect(s.snippet).toBe(text);
  });

  it("keeps its invariants on random text: a bounded slice, offsets at matched words", () => {
    const alphabet = [
      "run",
      "running",
      "Runs",
      "cafe\u0301",
      "😀",
      "x",
      " ",
      " ",
      "\n",
      "-",
      "é",
      "\u0301",
      "ΑΒ",
    ];
    let seed = 42;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const terms = queryTerms("run café");
    for (let i = 0; i < 300; i++) {
      const text = Array.from({ length: next() % 200 }, () => alphabet[next() % alphabet.length]).join("");
      const length = SNIPPET_LIMITS.minLength + (next() % 100);
      const s = snippetOf(text, terms, opts(length));
      expect(text).toContain(s.snippet);
      expect(s.snippet.length).toBeLessThanOrEqual(length);
      expect(s.snippet).not.toMatch(/^[\udc00-\udfff]|[\ud800-\udbff]$/);
      let previous = 0;
      for (const h of s.highlights) {
        expect(h.start).toBeGreaterThanOrEqual(previous);
        expect(h.end).toBeGreaterThan(h.start);
        previous = h.end;
        expect(indexTerms(s.snippet.slice(h.start, h.end)).every((t) => terms.has(t))).toBe(true);
      }
    }
  });
});

describe("highlight options", () => {
  it("reads true as the default length, and one tag as asking for HTML", () => {
    expect(highlightOptions(true)).toEqual({ snippetLength: SNIPPET_LIMITS.defaultLength });
    expect(highlightOptions(false)).toBeUndefined();
    expect(highlightOptions({ preTag: "<b>" })).toEqual({
      snippetLength: SNIPPET_LIMITS.defaultLength,
      tags: { pre: "<b>", post: "</mark>" },
    });
  });

  it("refuses tags holding control, bidi or line-separator characters", () => {
    for (const bad of ["<b\u0000>", "<b>\n", "\u202e<b>", "<b\u2028>", "\ud800"])
      expect(TAG_FORBIDDEN.test(bad)).toBe(true);
    expect(TAG_FORBIDDEN.test('<span class="hl">')).toBe(false);
  });
});
