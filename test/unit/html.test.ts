// The HTML parser's text, headings and paragraphs, on the markup its own tokenizer has to get
// right: raw text, comments, CDATA, attributes, unclosed and mis-nested elements, foreign content.
import { afterEach, describe, expect, it, vi } from "vitest";
import { seededRandom } from "../../scripts/lib/random.ts";
import type { ParsedDocument } from "../../src/ingest/document";
import { parseHtml } from "../../src/ingest/html";
import { parseDocument } from "../../src/ingest/parse";
import { parseHtmlReference } from "./html-reference";

const texts = (doc: ParsedDocument) => doc.sections.map((s) => s.text);

describe("HTML parsing", () => {
  it("keeps the text after tens of thousands of unclosed nested elements", async () => {
    const html = `${"</h1><pre>".repeat(20_000)}<div>${"<div><span>".repeat(50_000)}<p>Still read.</p>`;
    const doc = await parseDocument(html, "text/html");
    expect(texts(doc)).toEqual(["Still read."]);
  });

  it("drops unclosed script, style and comments to the end, and keeps what came before", () => {
    for (const tail of [
      "<script>alert(1)",
      "<style>p{color:red}",
      "<!-- a comment",
      "<noscript>leak",
      "<p title='x",
    ]) {
      expect(texts(parseHtml(`<p>Before.</p>${tail}<p>leak</p>`))).toEqual(["Before."]);
    }
  });

  it("ends comments, scripts and raw text where a browser does", () => {
    const html = [
      "<p>one</p><!--> <p>two</p>",
      "<!---> <p>three</p>",
      "<!-- x --!> <p>four</p>",
      "<script>if (a) {}</script > <p>five</p>",
      // Inside "<!--", a "<script>" opens a level where "</script>" does not end the script.
      '<script><!--<script>document.write("</script>leak")--></script><p>six</p>',
      "<style><p>leak</p></STYLE><p>seven</p>",
      "<textarea></p>leak</textarea><p>eight</p>",
      "<svg><![CDATA[ </svg> leak ]]></svg><p>nine</p>",
    ].join("");
    const paragraphs = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    expect(texts(parseHtml(html))).toEqual([paragraphs.join("\n\n")]);
  });

  it("reads attributes only to find where a tag ends and whether it is hidden", () => {
    const html = `<p title="a > b" data-x='&quot;>' class=c>Shown &amp; told</p><DIV Hidden>leak</DIV><p hidden=false>leak</p><img hidden><p>after</p>`;
    expect(texts(parseHtml(html))).toEqual(["Shown & told\n\nafter"]);
  });

  it("decodes character references in text, title and headings, not twice", () => {
    const doc = parseHtml(
      "<title>A &amp;amp; B</title><h1>&lt;h1&gt;</h1><p>caf&eacute;&#33; &#x1F600; &copy 2026</p>",
    );
    expect(doc).toEqual({
      title: "A &amp; B",
      sections: [{ headings: ["<h1>"], text: "caf\u00e9! \u{1F600} \u00a9 2026" }],
    });
  });

  it("breaks lines and paragraphs at nested block, list, row and line-break elements", () => {
    const html = `<div><div>One</div><div>Two<div>Three</div></div></div><ul><li>a<li>b<br>c</ul><table><tr><td>x<td>y<tr><td>z</table>`;
    expect(texts(parseHtml(html))).toEqual(["One\n\nTwo\n\nThree\n\na\nb\nc\n\nx y\nz"]);
  });

  it("closes the elements left open inside an element when its end tag comes", () => {
    const doc = parseHtml("<div><h2>Title <b>bold</div>after</b><p>more</p>");
    expect(doc.sections).toEqual([{ headings: ["Title bold"], text: "after\n\nmore" }]);
  });

  it("closes one of several nested elements of a name at a time", () => {
    const html =
      "<template><template>x</template>leak</template><div><div>a</div>b</div>c<pre><pre>d</pre>e\nf</pre>g\nh";
    expect(texts(parseHtml(html))).toEqual(["a\n\nb\n\nc\n\nd\n\ne\nf\n\ng h"]);
  });

  it("ignores end tags with no open element of their name", () => {
    expect(texts(parseHtml("<div>one </span></p>two</div></div>three"))).toEqual(["one two\n\nthree"]);
  });

  it("does not hide the rest of the page after a self-closing svg or math element", () => {
    const doc = parseHtml('<p>before</p><svg viewBox="0 0 1 1"/><p>after</p><math/><p>end</p>');
    expect(texts(doc)).toEqual(["before\n\nafter\n\nend"]);
  });

  it("drops SVG and MathML content, title elements in it included", () => {
    const doc = parseHtml(
      "<title>Page</title><svg><title>icon</title><text>leak</text></svg><math><mi>x</mi></math><p>text</p>",
    );
    expect(doc).toEqual({ title: "Page", sections: [{ headings: [], text: "text" }] });
  });

  it("keeps a lone < or & and stray > as text", () => {
    expect(texts(parseHtml("<p>a < b && c > d <3 <</p>"))).toEqual(["a < b && c > d <3 <"]);
  });
});

describe("HTML element names as ids", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllGlobals();
  });

  // Tags of every kind the parser tells apart, in any case, known names and others; raw text
  // mostly closed again, so that not every document ends in one; text, comments and references.
  const inline = "b i span x-a x-b SPAN abcdefghijklmnopq img basefont keygen br li tr td th".split(" ");
  const blocks = "div Div p pre PRE h1 h2 h6 h7 blockquote figcaption table template select".split(" ");
  const foreign = "svg math mi mtext desc foreignObject circle".split(" ");
  const tags = [...inline, ...blocks, ...foreign].flatMap((name) => [
    `<${name}>`,
    `</${name}>`,
    `<${name}/>`,
  ]);
  tags.push(
    ...["<b hidden>", "<div Hidden>", "<svg/>", "<![CDATA[ c ]]>", "<b", '<a href="x>y">', "<p title='"],
    ...["<title>T &amp; t</title>", "<script>if (a<b) x()</script>", "<style>p{}</style>", "<xmp><b></xmp>"],
    ...["<textarea>t</textarea>", "<noscript>n</noscript>", "<title>", "<script>", "<plaintext>", "<!--"],
    ...["<!-- c -->", "-->", "<!doctype html>", "<?x?>", "</title>", "</script>", "</noscript>", "</>"],
    ...["<h1>Top</h1>", "<h2>Head <b>bold</b></h2>", "<H3>Sub</h3>", "<pre>a\n  b</pre>"],
    // toLowerCase turns the Kelvin sign into "k": names that lowercase to mark and blockquote.
    ...["<MAR\u212a>", "</mark>", "<mark>", "</MAR\u212a>", "<BLOC\u212aquote>", "</blockquote>"],
  );
  const text = ["text", "more text", " ", "\n", "\t", "  two  spaces ", "&amp;", "&lt;b&gt;", "caf&eacute;"];
  text.push("<", ">", "&", "</", "a\n\nb");

  /** `count` documents of up to `maxParts` fragments, text about one in three. */
  function documents(seed: number, count: number, maxParts: number): string[] {
    const next = seededRandom(seed);
    const pick = (from: string[]) => from[Math.floor(next() * from.length)] ?? "";
    return Array.from({ length: count }, () => {
      let html = "";
      const parts = Math.floor(next() * maxParts);
      for (let j = 0; j < parts; j++) html += pick(next() < 0.35 ? text : tags);
      return html;
    });
  }

  // The shapes of the hostile inputs of the ingest bench, with text and end tags mixed in.
  const hostile = [
    "<span><b>".repeat(3000),
    `${"<span><b>".repeat(3000)}deep${"</b></span>".repeat(1500)}after</span>end`,
    `${"<x-a><X-B>".repeat(2000)}deep</x-a>after`,
    `${"<div>".repeat(2000)}deep${"</div>".repeat(2001)}after`,
    "<b>a".repeat(3000),
    `${"<span>".repeat(2000)}${"</div>".repeat(2000)}`,
    "<h2>h</h2>".repeat(2000),
    "<li>item".repeat(2000),
    `<title>t</title>${"<pre><b>a\n b".repeat(1000)}${"</pre>".repeat(1000)}`,
    `${"<svg><desc><math><mi>".repeat(500)}x${"</mi></math></desc></svg>".repeat(500)}<p>y</p>`,
  ];

  it("gives what the parser gave before, on random and hostile markup", () => {
    for (const html of [...documents(7, 3000, 40), ...hostile]) {
      expect(parseHtml(html), JSON.stringify(html.slice(0, 200))).toEqual(parseHtmlReference(html));
    }
  });

  it("looks up no Map or Set for each tag of a known name, one for each of another", () => {
    const lookups = [
      vi.spyOn(Map.prototype, "get"),
      vi.spyOn(Map.prototype, "has"),
      vi.spyOn(Set.prototype, "has"),
    ];
    const count = (html: string) => {
      for (const spy of lookups) spy.mockClear();
      parseHtml(html);
      return lookups.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
    };
    // 4,000 tags each, nested two names in turn; the parser before looked up eight per tag.
    expect(count(`${"<span><b>".repeat(2000)}deep`)).toBeLessThan(20);
    expect(count(`${"<x-a><x-b>".repeat(2000)}deep`)).toBeLessThanOrEqual(4000 + 20);
  });

  it("allocates a buffer for the open elements per fourfold nesting depth", () => {
    let buffers = 0;
    class Counted extends Int32Array {
      constructor(length: number) {
        super(length);
        buffers++;
      }
    }
    vi.stubGlobal("Int32Array", Counted);
    // 100,000 open elements, two numbers each, in 512 numbers at first: 6 buffers, where two
    // arrays doubled from 64 each made 24.
    const doc = parseHtml(`${"<span><b>".repeat(50_000)}deep`);
    expect(texts(doc)).toEqual(["deep"]);
    expect(buffers).toBeLessThanOrEqual(1 + Math.ceil(Math.log(200_000 / 512) / Math.log(4)));
  });
});
