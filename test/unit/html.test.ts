// The HTML parser's text, headings and paragraphs, on the markup its own tokenizer has to get
// right: raw text, comments, CDATA, attributes, unclosed and mis-nested elements, foreign content.
import { describe, expect, it } from "vitest";
import type { ParsedDocument } from "../../src/ingest/document";
import { parseHtml } from "../../src/ingest/html";
import { parseDocument } from "../../src/ingest/parse";

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
