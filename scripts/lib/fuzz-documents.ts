// Random documents for the ingest pipeline, with strings that stress decoders, tokenizers and
// limits: the ingest fuzz test and `npm run fuzz` (which writes them through a local service's
// API) draw from the same generators, so both explore the same inputs.
import fc from "fast-check";

const repeatTo = (unit: string, length: number) => unit.repeat(Math.ceil(length / unit.length));

const oddStrings: readonly string[] = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff",
  "x\ud83d",
  "\udc00\ud800",
  "\u200f\u202eevil\u202c",
  "\u200b\u200c\u200d",
  "👩‍👩‍👧‍👦🔑",
  "e\u0301\u0302\u0303\u0304\u0305",
  "\ufeff{}",
  "\ufffe\uffff",
  "﷽",
  "𝕳𝖊𝖑𝖑𝖔",
  "\u2028\u2029",
  "\u0085\u009b31m",
  "\u2066isolated\u2069",
  "\r\n\t\v\f",
  "<script>alert(1)</script>",
  "'; DROP TABLE documents; --",
  '" OR 1=1 --',
  "NEAR(a b) OR c* AND -d",
  '"unterminated',
  "title:secret",
  '{"$ne":1}',
  "../../etc/passwd",
  "%00%ff",
  "\\u0000",
  "__proto__",
  "constructor",
  "null",
  "-0",
  "1e400",
];

/** Strings that stress decoders, tokenizers and limits. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...oddStrings), weight: 4 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }), weight: 3 },
  { arbitrary: fc.lorem({ maxCount: 12 }), weight: 2 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(2_001, 10_000, 70_000), fc.constantFrom("x", "é", "🔑", "\ud800", "a "))
      .map(([n, unit]) => repeatTo(unit, n)),
    weight: 1,
  },
);

/** The content types the ingest pipeline parses. */
export const INGEST_CONTENT_TYPES = ["text/plain", "text/markdown", "text/html", "application/json"] as const;
export type IngestContentType = (typeof INGEST_CONTENT_TYPES)[number];

/** A stored document for the ingest pipeline: its content type and its text. */
export interface IngestDocument {
  contentType: IngestContentType;
  text: string;
}

const markdownToken = fc.constantFrom(
  "# ",
  "###### ",
  "\n",
  "\n\n",
  "**",
  "*",
  "_",
  "`",
  "```\n",
  "> ",
  "- ",
  "1. ",
  "[",
  "](",
  ")",
  "![",
  "|",
  "|---|",
  "---\n",
  "<div>",
  "\\",
  "&amp;",
  "&#x1F511;",
  "    ",
);
const htmlToken = fc.constantFrom(
  "<p>",
  "</p>",
  "<div>",
  "</div>",
  "<h1>",
  "</h1>",
  "<script>",
  "</script>",
  "<style>",
  "</style>",
  "<!--",
  "-->",
  "<br>",
  '<a href="x">',
  "</a>",
  "<",
  ">",
  "&amp;",
  "&lt;",
  "&#0;",
  "&#xD800;",
  "&nosuchentity;",
  "<![CDATA[",
  "]]>",
  "<table><tr><td>",
  "<pre>",
  "</pre>",
  "<title>",
  "</title>",
  "<li>",
);
const jsonToken = fc.constantFrom(
  "{",
  "}",
  "[",
  "]",
  ":",
  ",",
  '"',
  '"k":',
  "null",
  "1e400",
  "\\u0000",
  "\\",
);

/** Markup and prose in random order, sometimes a short run repeated into a long one. */
function markup(token: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { arbitrary: token, weight: 4 },
    { arbitrary: oddString, weight: 2 },
    { arbitrary: fc.lorem({ maxCount: 8 }), weight: 2 },
  );
  return fc.oneof(
    { arbitrary: fc.array(piece, { maxLength: 200 }).map((parts) => parts.join("")), weight: 8 },
    {
      arbitrary: fc
        .tuple(fc.array(piece, { minLength: 1, maxLength: 4 }), fc.integer({ min: 2, max: 20_000 }))
        .map(([parts, n]) => {
          const unit = parts.join("");
          return unit.repeat(Math.min(n, Math.ceil(900_000 / Math.max(1, unit.length)))).slice(0, 900_000);
        }),
      weight: 1,
    },
  );
}

const nestedJson = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom("[", '{"a":'), fc.boolean())
  .map(([depth, open, closed]) => {
    const close = open === "[" ? "]" : "}";
    return `${open.repeat(depth)}"deep"${closed ? close.repeat(depth) : ""}`;
  });

const plainText = fc.oneof(
  { arbitrary: fc.lorem({ maxCount: 200 }), weight: 4 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 2000 }), weight: 3 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 2000 }), weight: 2 },
  { arbitrary: oddString, weight: 2 },
  // One huge line.
  {
    arbitrary: fc
      .tuple(fc.constantFrom("x", "é", "🔑", "a ", "\u0301"), fc.integer({ min: 1000, max: 400_000 }))
      .map(([unit, n]) => repeatTo(unit, n)),
    weight: 1,
  },
);

const textFor: Record<IngestContentType, fc.Arbitrary<string>> = {
  "text/plain": plainText,
  "text/markdown": fc.oneof(
    { arbitrary: markup(markdownToken), weight: 4 },
    { arbitrary: plainText, weight: 1 },
  ),
  "text/html": fc.oneof({ arbitrary: markup(htmlToken), weight: 4 }, { arbitrary: plainText, weight: 1 }),
  "application/json": fc.oneof(
    { arbitrary: fc.jsonValue({ maxDepth: 8 }).map((v) => JSON.stringify(v)), weight: 4 },
    { arbitrary: nestedJson, weight: 1 },
    { arbitrary: markup(jsonToken), weight: 2 },
    { arbitrary: plainText, weight: 1 },
  ),
};

/** Documents of every parsed content type: random sizes, unicode, markup, nesting, near-cap lengths. */
export const ingestDocument: fc.Arbitrary<IngestDocument> = fc
  .constantFrom(...INGEST_CONTENT_TYPES)
  .chain((contentType) => textFor[contentType].map((text) => ({ contentType, text })));
