// What users get back as searchable text from each supported format, and what is refused.
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import type { ParseLimits } from "../../src/ingest/limits";
import { normalizeContentType, type ParsedDocument, parseDocument } from "../../src/ingest/parse";
import { contentTypeFromName } from "../../src/ingest/upload-metadata";

function allText(doc: ParsedDocument): string {
  return [doc.title ?? "", ...doc.sections.flatMap((s) => [...s.headings, s.text])].join("\n");
}

async function parseError(body: string, contentType: string, limits?: ParseLimits): Promise<AppError> {
  const err = await parseDocument(body, contentType, limits).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw new Error(`expected an AppError, got ${String(err)}`);
  return err;
}

describe("content types", () => {
  it("accepts the supported types whatever their case and parameters", () => {
    expect(normalizeContentType("Text/HTML; charset=UTF-8")).toBe("text/html");
    expect(normalizeContentType(" application/json ")).toBe("application/json");
    expect(normalizeContentType("text/plain;charset=utf-8")).toBe("text/plain");
    expect(normalizeContentType("text/x-markdown")).toBe("text/markdown");
  });

  it("refuses other types up front and when parsing, permanently", async () => {
    expect(normalizeContentType("application/pdf")).toBeNull();
    expect(normalizeContentType("")).toBeNull();
    const err = await parseError("%PDF-1.7", "application/pdf");
    expect(err.code).toBe("unsupported_media_type");
    expect(err.retryable).toBe(false);
  });

  it.each(["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"])(
    "treats the Object.prototype member name %s as an unknown type, extension and entity",
    async (name) => {
      expect(normalizeContentType(name)).toBeNull();
      expect(contentTypeFromName(`notes.${name}`)).toBe("text/plain");
      const err = await parseError("text", name);
      expect(err.code).toBe("unsupported_media_type");
      const doc = await parseDocument(`<p>a &${name}; b</p>`, "text/html");
      expect(doc.sections[0]?.text).toBe(`a &${name}; b`);
    },
  );

  it.each([
    ["", "text/plain"],
    [" \n\n \t ", "text/plain"],
    ["<html><head><title>Only a title</title><script>x()</script></head><body> </body></html>", "text/html"],
    ["# Heading only\n\n<!-- nothing else -->", "text/markdown"],
    ["{}", "application/json"],
    ['{"text": "   "}', "application/json"],
  ])("rejects a document without text (%j as %s) as unprocessable", async (body, type) => {
    const err = await parseError(body, type);
    expect(err.code).toBe("unprocessable");
    expect(err.retryable).toBe(false);
  });
});

describe("text/plain", () => {
  it("splits paragraphs on blank lines and tidies whitespace", async () => {
    const doc = await parseDocument(
      "\ufeffFirst  line\r\nsecond\tline\r\n\r\n  \r\nSecond paragraph.\n\n\n",
      "text/plain",
    );
    expect(doc.title).toBeUndefined();
    expect(doc.sections).toEqual([{ headings: [], text: "First line\nsecond line\n\nSecond paragraph." }]);
  });
});

describe("text/markdown", () => {
  it("builds the heading path from ATX and setext headings, and takes the first H1 as title", async () => {
    const md = [
      "Guide",
      "=====",
      "Intro text.",
      "",
      "Install",
      "-------",
      "Get it.",
      "### Linux ###",
      "Use apt.",
      "## Usage",
      "Run it.",
      "# Appendix",
      "Extra.",
    ].join("\n");
    const doc = await parseDocument(md, "text/markdown");
    expect(doc.title).toBe("Guide");
    expect(doc.sections).toEqual([
      { headings: ["Guide"], text: "Intro text." },
      { headings: ["Guide", "Install"], text: "Get it." },
      { headings: ["Guide", "Install", "Linux"], text: "Use apt." },
      { headings: ["Guide", "Usage"], text: "Run it." },
      { headings: ["Appendix"], text: "Extra." },
    ]);
  });

  it("prefers a front matter title and does not index the front matter", async () => {
    const doc = await parseDocument(
      '---\ntitle: "Release notes"\ndraft: true\n---\n# v2\nFaster.',
      "text/markdown",
    );
    expect(doc.title).toBe("Release notes");
    expect(allText(doc)).not.toContain("draft");
    expect(doc.sections).toEqual([{ headings: ["v2"], text: "Faster." }]);
  });

  it("drops inline syntax but keeps what a reader sees", async () => {
    const md = [
      "Some **bold**, *italic*, _under_ and ~~gone~~ words; snake_case_name stays.",
      'A [link text](https://example.com/path "t") and ![a diagram](img.png) and <https://auto.link/x>.',
      "Inline `a*b*c` code, an escaped \\*star\\*, AT&amp;T, <span>tagged</span>.",
      "<!-- secret comment -->",
      "[ref]: https://example.com/hidden",
    ].join("\n");
    const doc = await parseDocument(md, "text/markdown");
    expect(doc.sections).toEqual([
      {
        headings: [],
        text: [
          "Some bold, italic, under and gone words; snake_case_name stays.",
          "A link text and a diagram and https://auto.link/x.",
          "Inline a*b*c code, an escaped *star*, AT&T, tagged.",
        ].join("\n"),
      },
    ]);
  });

  it("keeps code text without fences and ignores headings inside code", async () => {
    const md = "Before.\n\n```ts\n# not a heading\nconst x = 1;\n```\n\nAfter.";
    const doc = await parseDocument(md, "text/markdown");
    expect(doc.sections).toEqual([
      { headings: [], text: "Before.\n\n# not a heading\nconst x = 1;\n\nAfter." },
    ]);
  });

  it("drops lists' bullets, quotes' markers, table rules, comments and script blocks", async () => {
    const md = [
      "- first item",
      "* second item",
      "> quoted line",
      "",
      "| Name | Value |",
      "| ---- | ----: |",
      "| a    | 1     |",
      "",
      "<!--",
      "multi-line comment",
      "-->",
      "<script>",
      "alert(1)",
      "</script>",
      "***",
      "End.",
    ].join("\n");
    const doc = await parseDocument(md, "text/markdown");
    expect(doc.sections).toEqual([
      { headings: [], text: "first item\nsecond item\nquoted line\n\nName | Value\na | 1\n\nEnd." },
    ]);
    expect(allText(doc)).not.toContain("alert");
    expect(allText(doc)).not.toContain("comment");
  });
});

describe("hostile Markdown", () => {
  // Each of these takes quadratic time with naive regular expressions: minutes, not milliseconds.
  it.each([
    ["unclosed emphasis", "**a ".repeat(100_000)],
    ["unclosed brackets", `${"[".repeat(100_000)} tail`],
    ["unclosed link targets", "[a](b".repeat(100_000)],
    [
      "unmatched backtick runs",
      Array.from({ length: 20_000 }, (_, i) => `${"`".repeat(1 + (i % 50))}x`).join(" "),
    ],
    ["unclosed comments", "x <!-- ".repeat(50_000)],
    ["a heading of spaces", `# a${" ".repeat(200_000)}b\n\nBody.`],
  ])("parses %s quickly", async (_name, body) => {
    const doc = await parseDocument(body, "text/markdown");
    expect(allText(doc).length).toBeGreaterThan(0);
  });
});

describe("text/html", () => {
  it("takes the title, heading path and paragraphs of the body", async () => {
    const html = `<!doctype html><html><head><meta charset="utf-8"><title>Fish &amp; Chips</title>
      <link rel="stylesheet" href="x.css"></head><body>
      <h1>Menu</h1><p>Fresh   daily,
      served hot.</p>
      <h2>Starters</h2><ul><li>Soup</li><li>Bread<br>with butter</li></ul>
      <h3>Cold</h3><div>Salad</div>
      <h2>Mains</h2><p>Cod &lt;large&gt; &mdash; &#163;9 &#x2014; caf&eacute;&nbsp;style</p>
      </body></html>`;
    const doc = await parseDocument(html, "text/html; charset=utf-8");
    expect(doc.title).toBe("Fish & Chips");
    expect(doc.sections).toEqual([
      { headings: ["Menu"], text: "Fresh daily, served hot." },
      { headings: ["Menu", "Starters"], text: "Soup\nBread\nwith butter" },
      { headings: ["Menu", "Starters", "Cold"], text: "Salad" },
      { headings: ["Menu", "Mains"], text: "Cod <large> \u2014 \u00a39 \u2014 caf\u00e9 style" },
    ]);
  });

  it("never lets script, style or other hidden content into the text", async () => {
    const html = `<html><head><title>Safe</title><style>body{color:red}</style>
      <script>alert(1)</script></head><body>
      <p>Visible one.</p>
      <script>alert(1)</script>
      <script type="text/javascript">document.write("</scr" + "ipt><b>leak</b>")</script>
      <noscript><p>Enable JS leak</p></noscript>
      <template><p>template leak</p></template>
      <svg><text>svg leak</text><script>alert(1)</script></svg>
      <div hidden>hidden leak</div>
      <!-- comment leak -->
      <img src="x" onerror="alert(1)" alt="alt leak">
      <p onclick="alert(1)">Visible <b>two</b>.</p>
      <iframe src="https://evil.example"></iframe>
      <textarea>form leak</textarea>
      <p>Visible three.</p>
      <script>alert(1)`;
    const doc = await parseDocument(html, "text/html");
    const text = allText(doc);
    expect(text).not.toContain("alert");
    expect(text).not.toContain("<script>");
    expect(text).not.toContain("leak");
    expect(text).not.toContain("color");
    expect(doc.sections.map((s) => s.text)).toEqual(["Visible one.\n\nVisible two.\n\nVisible three."]);
  });

  it("keeps escaped markup as the text the page shows, without decoding twice", async () => {
    const doc = await parseDocument("<p>Use &lt;b&gt; for bold; write &amp;amp; for &amp;.</p>", "text/html");
    expect(doc.sections[0]?.text).toBe("Use <b> for bold; write &amp; for &.");
  });

  it("keeps line breaks of preformatted text", async () => {
    const doc = await parseDocument("<pre>line one\n  line two</pre><p>after</p>", "text/html");
    expect(doc.sections[0]?.text).toBe("line one\nline two\n\nafter");
  });
});

describe("application/json", () => {
  it("uses title and text fields", async () => {
    const doc = await parseDocument(
      JSON.stringify({
        _id: "4983",
        title: "Microstructural development",
        text: "Alterations of the architecture.",
        metadata: {},
      }),
      "application/json",
    );
    expect(doc).toEqual({
      title: "Microstructural development",
      sections: [{ headings: [], text: "Alterations of the architecture." }],
    });
  });

  it("accepts content or body as the text", async () => {
    const a = await parseDocument('{"content": "From content."}', "application/json");
    const b = await parseDocument('{"title": "T", "body": "From body."}', "application/json");
    expect(a.sections[0]?.text).toBe("From content.");
    expect(b).toEqual({ title: "T", sections: [{ headings: [], text: "From body." }] });
  });

  it("flattens other objects into key: value lines, each key written once", async () => {
    const value = {
      title: "Inventory",
      name: "Widget",
      stats: { count: 3, ok: true, missing: null },
      tags: ["red", "blue"],
      items: [{ sku: "A-1" }, { sku: "B-2", dims: [1.5, 2] }],
    };
    const doc = await parseDocument(JSON.stringify(value), "application/json");
    expect(doc.title).toBe("Inventory");
    expect(doc.sections).toEqual([
      {
        headings: [],
        text: [
          "name: Widget",
          "stats:\ncount: 3\nok: true",
          "tags:\nred, blue",
          "items:\nsku: A-1\nsku: B-2\ndims:\n1.5, 2",
        ].join("\n\n"),
      },
    ]);
  });

  it("makes each document of an array its own section", async () => {
    const doc = await parseDocument(
      JSON.stringify([
        { title: "One", text: "First." },
        { title: "Two", text: "Second." },
      ]),
      "application/json",
    );
    expect(doc.sections).toEqual([
      { headings: ["One"], text: "First." },
      { headings: ["Two"], text: "Second." },
    ]);
  });

  it("flattens arrays of other objects", async () => {
    const doc = await parseDocument('[{"q": "why", "n": 1}, {"q": "how"}]', "application/json");
    expect(doc.sections[0]?.text).toBe("q: why\nn: 1\n\nq: how");
  });

  it("survives deeply nested input", async () => {
    const deep = `${"[".repeat(5000)}"bottom"${"]".repeat(5000)}`;
    const doc = await parseDocument(deep, "application/json");
    expect(doc.sections[0]?.text).toBe("bottom");
  });

  it("keeps flattened JSON within twice the document, however deep the keys around a long array", async () => {
    const body = `${'{"level":'.repeat(60)}[${"1,".repeat(20_000)}1]${"}".repeat(60)}`;
    const doc = await parseDocument(body, "application/json");
    const text = doc.sections.map((s) => s.text).join("\n\n");
    expect(text.startsWith("level:\nlevel:\n")).toBe(true);
    expect(text.endsWith("1, 1, 1")).toBe(true);
    expect(text.length).toBeLessThanOrEqual(2 * body.length);
  });

  it("writes a long run of numbers as String() writes each, and counts each toward key paths", async () => {
    const numbers = ["-0", "1e21", "1E-7", "0.1", "1e400", "123456789012345678", "-5", "0", "2.50"];
    const run = Array.from({ length: 40 }, (_, i) => numbers[i % numbers.length]);
    const doc = await parseDocument(`{"a": [${run.join(" ,\n ")}, "x", true]}`, "application/json");
    expect(doc.sections[0]?.text).toBe(
      `a:\n${[...run.map((n) => String(Number(n))), "x", "true"].join(", ")}`,
    );
    // The array has 100 elements: its last key path, "[99]", is 4 bytes.
    const limits = { maxParsedTextBytes: 1 << 20, maxJsonDepth: 64, maxJsonKeyPathBytes: 3 };
    const err = await parseError(`[${"1,".repeat(99)}"a"]`, "application/json", limits);
    expect(err.message).toBe("JSON key path exceeds MAX_JSON_KEY_PATH_BYTES (3)");
  });

  it("reads a long run of empty arrays and objects as a break between lines, each one counted", async () => {
    const empties = Array.from({ length: 40 }, (_, i) => ["[]", "{ }", "[\n]", "{}"][i % 4]).join(", ");
    const body = `{"a": [1, "x", ${empties}, true, ["y"], ${empties}]}`;
    const doc = await parseDocument(body, "application/json");
    expect(doc.sections[0]?.text).toBe("a:\n1, x\ntrue\ny");
    // ["y"] is element 43 of "a": its element's key path, "a[43][0]", is 8 bytes.
    const limits = { maxParsedTextBytes: 1 << 20, maxJsonDepth: 64, maxJsonKeyPathBytes: 8 };
    await expect(parseDocument(body, "application/json", limits)).resolves.toEqual(doc);
    const err = await parseError(body, "application/json", { ...limits, maxJsonKeyPathBytes: 7 });
    expect(err.message).toBe("JSON key path exceeds MAX_JSON_KEY_PATH_BYTES (7)");
    // Each empty array or object is one level deeper than the array holding it.
    const deep = await parseError(`{"a": [1, ${empties}]}`, "application/json", {
      ...limits,
      maxJsonDepth: 2,
    });
    expect(deep.message).toBe("JSON nesting depth exceeds MAX_JSON_DEPTH (2)");
    // In an object, where a key must stand, they are not JSON.
    const bad = await parseError(`{"a": 1, ${empties}, "b": 2}`, "application/json");
    expect(bad.message).toBe("invalid JSON at position 9");
  });

  it("rejects invalid JSON permanently", async () => {
    const err = await parseError('{"title": "x", ', "application/json");
    expect(err.code).toBe("unprocessable");
    expect(err.retryable).toBe(false);
  });
});
