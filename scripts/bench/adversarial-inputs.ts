// Inputs for `npm run bench -- ingest-adversarial`: ordinary prose in each format, and for each
// parser the hostile structures that make naive parsers quadratic (long runs of one markup
// character, deep nesting, floods of headings, entities or tags, one enormous token), each cut to
// an exact size in bytes.
import { readFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.join(import.meta.dirname, "..", "..");

export type Article = { title: string; text: string };

function articles(): Article[] {
  return readFileSync(path.join(ROOT, "samples", "corpus.jsonl"), "utf8")
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line));
}

/**
 * `unit(i)` repeated until `bytes` UTF-8 bytes, then cut to exactly that many (never inside a
 * character), with `head` and `tail` around it.
 */
export function fill(bytes: number, unit: (i: number) => string, head: string = "", tail: string = "") {
  const parts = [head];
  let size = Buffer.byteLength(head) + Buffer.byteLength(tail);
  for (let i = 0; size < bytes; i++) {
    const u = unit(i);
    parts.push(u);
    size += Buffer.byteLength(u);
  }
  let body = parts.join("");
  const over = Buffer.byteLength(body) + Buffer.byteLength(tail) - bytes;
  if (over > 0) {
    const buf = Buffer.from(body).subarray(0, Buffer.byteLength(body) - over);
    body = buf.toString("utf8").replace(/\ufffd+$/, "");
  }
  return body + tail;
}

const prose = (render: (a: Article) => string) => {
  const all = articles();
  return (bytes: number) => fill(bytes, (i) => render(all[i % all.length] as Article));
};

const repeat = (s: string) => (bytes: number) => fill(bytes, () => s);

const ZERO_WIDTH_AND_BIDI = "a\u200b\u200c\u200d\u2060\ufeff\u202e\u2066\u2069\u061c b ";
const COMBINING = "e\u0301\u0302\u0303\u0308 ";

export const INPUTS: Record<
  string,
  { prose: (bytes: number) => string; adversarial: Record<string, (bytes: number) => string> }
> = {
  markdown: {
    prose: prose(
      (a) =>
        `## ${a.title}\n\nSome *emphasis*, a [link](https://example.com/${a.title}) and \`code\`.\n\n${a.text}\n\n- one item\n- another item\n\n`,
    ),
    adversarial: {
      "run of *": repeat("*"),
      "run of _": repeat("_"),
      "run of `": repeat("`"),
      "run of [": repeat("["),
      "run of ]": repeat("]"),
      "run of (": (b) => fill(b, () => "(", "[a]"),
      "run of <": repeat("<"),
      "run of >": (b) => fill(b, () => ">", "", " x"),
      "run of #": repeat("#"),
      "run of |": repeat("|"),
      "run of \\": repeat("\\"),
      "run of &": repeat("&"),
      "unclosed emphasis": repeat("**a "),
      "word*word": repeat("a*"),
      "unclosed link targets": repeat("[a](b"),
      "nested emphasis": (b) => fill(b, () => "*_", "", "x"),
      "nested links": (b) => fill(b, () => "[", "", "a](b)"),
      "nested lists": (b) => fill(b, () => "- ", "", "x"),
      "nested blockquotes": (b) => fill(b, () => "> ", "", "x"),
      "table rule of blanks": (b) => fill(b, () => " ", "|-|-", "x"),
      "heading flood": repeat("# h\n"),
      "list flood": repeat("- item\n"),
      "entity flood &amp;": repeat("&amp;"),
      "numeric entities": repeat("&#x1F600;&#128512;"),
      "zero-width and bidi": repeat(ZERO_WIDTH_AND_BIDI),
      "NUL and invalid UTF-8": repeat("a\u0000\ufffd\ud800 "),
      "unclosed comments": repeat("x <!-- "),
      "unclosed script": (b) => fill(b, () => "alert(1); ", "<script>"),
      "one enormous line": repeat("a"),
      "backtick runs of every length": (b) => fill(b, (i) => `${"`".repeat(1 + (i % 50))}x `),
    },
  },
  html: {
    prose: prose(
      (a) =>
        `<h2>${a.title}</h2><p>Some <em>emphasis</em>, a <a href="https://example.com/">link</a> &amp; more.</p><p>${a.text}</p><ul><li>one</li><li>two</li></ul>\n`,
    ),
    adversarial: {
      "run of <": repeat("<"),
      "run of >": repeat(">"),
      "run of &": repeat("&"),
      "deep nesting": repeat("<div>"),
      "deep nesting of two tags in turn": repeat("<span><b>"),
      "unclosed inline tags": repeat("<b>a"),
      "open spans, close divs": (b) => fill(b / 2, () => "<span>") + fill(b / 2, () => "</div>"),
      "heading flood": repeat("<h2>h</h2>"),
      "list flood": repeat("<li>item"),
      "entity flood &amp;": repeat("&amp;"),
      "numeric entities": repeat("&#x1F600;&#128512;"),
      "attribute flood": (b) => fill(b, (i) => ` a${i}="x"`, "<p", ">text</p>"),
      "zero-width and bidi": repeat(ZERO_WIDTH_AND_BIDI),
      "NUL and invalid UTF-8": repeat("a\u0000\ufffd\ud800 "),
      "unclosed script": (b) => fill(b, () => "alert(1); ", "<p>a</p><script>"),
      "unclosed style": (b) => fill(b, () => "a{color:red} ", "<p>a</p><style>"),
      "unclosed comment": (b) => fill(b, () => "text ", "<p>a</p><!--"),
      "one enormous text node": repeat("a"),
    },
  },
  json: {
    prose: (bytes) => {
      const all = articles();
      const records = [];
      for (let i = 0, size = 2; size < bytes; i++) {
        const record = JSON.stringify(all[i % all.length]);
        records.push(record);
        size += Buffer.byteLength(record) + 1;
      }
      return `[${records.join(",")}]`;
    },
    adversarial: {
      "deep arrays around a long array": (b) =>
        fill(b - 130, () => "1,", "[".repeat(63), "1") + "]".repeat(63),
      "deep objects around a long array": (b) =>
        fill(b - 60 * 12, () => "1,", `${'{"level":'.repeat(60)}[`, "1]") + "}".repeat(60),
      "wide array": (b) => fill(b, () => "1,", "[", "1]"),
      "wide object": (b) => fill(b, (i) => `"k${i}":1,`, "{", '"end":1}'),
      "array of empty arrays": (b) => fill(b, () => "[],", "[", "[]]"),
      "long key": (b) => fill(b, () => "k", '{"', '":"v"}'),
      "one enormous string": (b) => fill(b, () => "a", '"', '"'),
      escapes: (b) => fill(b, () => "\\u0000\\n\\\\", '{"text":"', '"}'),
      "too deep": (b) => fill(b, () => "[", "", ""),
    },
  },
  text: {
    prose: prose((a) => `${a.title}\n\n${a.text}\n\n`),
    adversarial: {
      "one enormous line": repeat("a"),
      "newline flood": repeat("\n"),
      "CRLF flood": repeat("\r\n"),
      "blank line flood": repeat(" \n \n"),
      "space flood": (b) => fill(b, () => " ", "a", "b"),
      "zero-width and bidi": repeat(ZERO_WIDTH_AND_BIDI),
      "NUL and invalid UTF-8": repeat("a\u0000\ufffd\ud800 "),
      "run of every markup character": repeat("*_`[]()<>#|\\&"),
    },
  },
  tokenizer: {
    prose: prose((a) => `${a.title}. ${a.text} `),
    adversarial: {
      "one enormous token": repeat("a"),
      "punctuation flood": repeat("."),
      "CJK flood": repeat("\u4e2d\u6587"),
      "combining marks": repeat(COMBINING),
      "accented words": repeat("caf\u00e9 na\u00efve "),
      "words over 100 characters": (b) => fill(b, (i) => `${"x".repeat(101 + (i % 7))} `),
      "zero-width and bidi": repeat(ZERO_WIDTH_AND_BIDI),
      "NUL and invalid UTF-8": repeat("a\u0000\ufffd\ud800 "),
      emoji: repeat("\ud83d\ude00\ud83d\udc69\u200d\ud83d\udc69\u200d\ud83d\udc67 "),
      "hyphen chains": (b) => fill(b, () => "a-", "", "a"),
    },
  },
  chunker: {
    prose: prose((a) => `${a.text}\n\n`),
    adversarial: {
      "one enormous token": repeat("a"),
      "punctuation flood": repeat("."),
      "newline flood": repeat("a\n"),
      "sentence flood": repeat("A. "),
      "CJK flood": repeat("\u4e2d\u6587"),
      "combining marks (tokenless words)": repeat("\u0301 "),
      "long words cut into pieces": (b) => fill(b, (i) => `${"\u00e9x".repeat(80 + (i % 9))} `),
      "paragraph flood": repeat("a\n\n"),
      "zero-width and bidi": repeat(ZERO_WIDTH_AND_BIDI),
    },
  },
};
