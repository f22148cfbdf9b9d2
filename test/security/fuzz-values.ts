// Generators of hostile values for the fuzz suite: odd strings (lone surrogates, NUL, RTL marks,
// emoji, combining characters, huge), values of the wrong type, bodies shaped after each route's
// schema, deep nesting, bytes that are not UTF-8, and text that is almost JSON.
import fc from "fast-check";
import { oddString } from "../../scripts/lib/fuzz-documents.ts";
import type { RouteSpec } from "./routes";

export { oddString };

const encoder = new TextEncoder();

/** Percent-encodes the UTF-8 bytes of a string (lone surrogates become U+FFFD). */
export function percentEncode(s: string): string {
  return Array.from(encoder.encode(s), (b) => `%${b.toString(16).padStart(2, "0")}`).join("");
}

const repeatTo = (unit: string, length: number) => unit.repeat(Math.ceil(length / unit.length));

/** A document text that may be over MAX_DOCUMENT_BYTES (1 MiB); rare, as each costs a megabyte. */
const hugeText = fc.constantFrom(1_048_577, 600_000).map((n) => repeatTo("é", n / 2));

const scalar = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, -0, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER),
  fc.double(),
  fc.integer(),
  oddString,
);

/** Any JSON value, often of the wrong type for the field it lands in. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: scalar, weight: 4 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  { arbitrary: fc.constantFrom([], {}, [[]], { "": "" }, { __proto__: null, admin: true }), weight: 1 },
  { arbitrary: fc.array(scalar, { maxLength: 5 }), weight: 1 },
  { arbitrary: fc.dictionary(oddString, scalar, { maxKeys: 5 }), weight: 1 },
);

/** Mostly a valid value, sometimes anything. */
const field = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: anyValue, weight: 1 });

export const namespaceName = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/);
export const fuzzNamespace = fc.stringMatching(/^fuzz-[a-z0-9_-]{0,8}$/);
const patternArb = fc.oneof(
  fc.constant("*"),
  fuzzNamespace,
  fuzzNamespace.map((n) => `${n}*`),
  namespaceName,
  namespaceName.map((n) => `${n}*`),
  oddString,
);
export const docIdArb = fc.oneof(
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9._/-]{1,20}$/), weight: 3 },
  { arbitrary: oddString, weight: 2 },
  { arbitrary: fc.constantFrom(".", "..", "a/../b", repeatTo("é", 600), "x".repeat(513)), weight: 1 },
);
const metadataArb = fc.oneof(
  fc.dictionary(
    fc.oneof(
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/),
      fc.constantFrom("__proto__", "constructor"),
      oddString,
    ),
    fc.oneof(fc.string({ maxLength: 20 }), fc.double(), fc.boolean(), anyValue),
    { maxKeys: 40 },
  ),
  anyValue,
);
const contentTypeField = fc.oneof(
  fc.constantFrom("text/plain", "text/markdown", "text/html", "application/json", "TEXT/HTML; charset=x"),
  fc.constantFrom("application/pdf", "", "text/x-markdown", "application/xhtml+xml", "image/png"),
  oddString,
);

function documentText(stored: string): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.lorem({ maxCount: 30 }), weight: 80 },
    { arbitrary: oddString, weight: 60 },
    {
      arbitrary: fc.constantFrom(
        "<html><script>alert(1)</script><h1>T</h1><p>body</p>",
        '{"title": "t", "text": "json body", "nested": {"a": [1, 2, {"b": "c"}]}}',
        "# Heading\n\n```\ncode\n```\n\n| a | b |\n|---|---|\n",
        `pretending to be ${stored}`,
      ),
      weight: 20,
    },
    { arbitrary: hugeText, weight: 1 },
  );
}

const filterArb = fc.oneof(
  fc.dictionary(
    fc.oneof(fc.constantFrom("category", "year", "lang", "source", "secret", "a.b", "$and", ""), oddString),
    fc.oneof(
      scalar,
      fc.dictionary(
        fc.constantFrom("$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte", "$regex", "$or"),
        fc.oneof(scalar, fc.array(scalar, { maxLength: 300 }), anyValue),
        { maxKeys: 3 },
      ),
    ),
    { maxKeys: 5 },
  ),
  anyValue,
);

/** A JSON body shaped after the route's schema, with fields of valid or wrong types. */
function shapedBody(route: RouteSpec, stored: string): fc.Arbitrary<unknown> {
  const opt = { requiredKeys: [] as never[] };
  const extra = fc.dictionary(oddString, anyValue, { maxKeys: 2 });
  const withExtra = (body: fc.Arbitrary<Record<string, unknown>>) =>
    fc.oneof(
      { arbitrary: body, weight: 4 },
      { arbitrary: fc.tuple(body, extra).map(([b, e]) => ({ ...b, ...e })), weight: 1 },
    );
  const document = {
    text: field(documentText(stored)),
    title: field(oddString),
    contentType: field(contentTypeField),
    metadata: field(metadataArb),
  };
  if (route.template === "/v1/namespaces/{ns}/documents/{id}") {
    return withExtra(fc.record(document, { requiredKeys: ["text"] }));
  }
  if (route.template === "/v1/namespaces/{ns}/documents") {
    const item = fc.record({ id: field(docIdArb), ...document }, { requiredKeys: ["id", "text"] });
    return withExtra(
      fc.record({
        documents: field(fc.oneof(fc.array(item, { minLength: 1, maxLength: 5 }), fc.constant([]))),
      }),
    );
  }
  if (route.template === "/v1/namespaces/{ns}/search") {
    return withExtra(
      fc.record(
        {
          query: field(oddString),
          topK: field(fc.integer({ min: -5, max: 120 })),
          filter: field(filterArb),
          mode: field(fc.constantFrom("hybrid", "vector", "keyword", "fuzzy")),
          rerank: field(fc.boolean()),
          groupBy: field(fc.constantFrom("document", "chunk", "none")),
          includeText: field(fc.boolean()),
          prefix: field(fc.boolean()),
          highlight: field(
            fc.oneof(
              fc.boolean(),
              fc.record(
                {
                  snippetLength: field(fc.integer({ min: -5, max: 5000 })),
                  preTag: field(oddString),
                  postTag: field(oddString),
                },
                { requiredKeys: [] },
              ),
            ),
          ),
          cache: field(fc.constantFrom("default", "bypass")),
        },
        { requiredKeys: ["query"] },
      ),
    );
  }
  if (route.template === "/v1/namespaces/{ns}/documents/{id}/similar") {
    return withExtra(
      fc.record(
        {
          topK: field(fc.integer({ min: -5, max: 120 })),
          filter: field(filterArb),
          groupBy: field(fc.constantFrom("document", "chunk", "none")),
          includeText: field(fc.boolean()),
          cache: field(fc.constantFrom("default", "bypass")),
        },
        opt,
      ),
    );
  }
  if (route.template === "/v1/admin/keys") {
    return withExtra(
      fc.record(
        {
          name: field(oddString),
          namespaces: field(fc.array(patternArb, { maxLength: 4 })),
          roles: field(fc.subarray(["search", "write", "admin", "root"])),
          rateLimit: field(fc.constantFrom("low", "standard", "high", "unlimited")),
          expiresAt: field(
            fc.oneof(
              fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
              fc.constantFrom("2000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "tomorrow"),
            ),
          ),
        },
        { requiredKeys: ["name", "namespaces", "roles"] },
      ),
    );
  }
  if (route.template === "/v1/admin/dead-letters/replay") {
    return withExtra(
      fc.record(
        {
          ids: field(fc.array(fc.oneof(fc.integer({ min: -2, max: 2000 }), anyValue), { maxLength: 1100 })),
          limit: field(fc.integer({ min: -1, max: 1001 })),
        },
        opt,
      ),
    );
  }
  return fc.oneof(fc.constant(undefined), fc.record({ anything: anyValue }, opt));
}

/** JSON text nested `depth` levels deep, inside a field where the route reads structure. */
const deepBody: fc.Arbitrary<string> = fc
  .tuple(
    fc.integer({ min: 100, max: 5000 }),
    fc.constantFrom("object", "array", "operator"),
    fc.constantFrom("root", "filter", "metadata", "documents", "text"),
  )
  .map(([depth, shape, where]) => {
    const open = shape === "array" ? "[" : shape === "object" ? '{"a":' : '{"$eq":';
    const close = shape === "array" ? "]" : "}";
    const deep = `${open.repeat(depth)}1${close.repeat(depth)}`;
    if (where === "root") return deep;
    if (where === "filter") return `{"query":"deep","filter":{"category":${deep}}}`;
    if (where === "metadata") return `{"text":"deep","metadata":{"k":${deep}}}`;
    if (where === "documents") return `{"documents":[{"id":"d","text":"t","metadata":${deep}}]}`;
    return `{"text":${deep},"query":${deep},"name":${deep}}`;
  });

/** Bytes that are not valid UTF-8, alone or inside otherwise valid JSON. */
const invalidUtf8: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc
    .constantFrom(
      [0xff],
      [0xc0, 0x80],
      [0xe0, 0x80, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf8, 0x88, 0x80, 0x80, 0x80],
      [0xe2, 0x82],
      [0x80, 0x80, 0x80],
      [0xfe, 0xff, 0x00],
    )
    .chain((bad) =>
      fc.constantFrom("", '{"query":"', '{"text":"', '{"documents":[{"id":"', '{"name":"').map((prefix) => {
        const head = encoder.encode(prefix);
        const tail = encoder.encode(
          prefix === "" ? "" : prefix.startsWith('{"documents') ? '","text":"t"}]}' : '"}',
        );
        return Uint8Array.from([...head, ...bad, ...tail]);
      }),
    ),
  fc.uint8Array({ maxLength: 256 }),
);

/** Text that is not quite JSON, or JSON that parsers disagree on. */
const oddJsonText = fc.constantFrom(
  "",
  " ",
  "null",
  "[]",
  "{}",
  '"string"',
  "1e999",
  "-0",
  "NaN",
  "{,}",
  '{"query":"x",}',
  '{"query":"x"',
  '{"query":"x","query":5}',
  '{"query":"a","__proto__":{"isAdmin":true}}',
  '{"constructor":{"prototype":{"x":1}},"query":"q"}',
  '\ufeff{"query":"bom"}',
  '{"query":"\\ud800"}',
  '{"query":"\\u0000"}',
  '{"text":"\\udfff\\ud800","title":"\\ud83d"}',
  '{"documents":[{"id":"\\ud800","text":"lone surrogate id"}]}',
  '{"documents":[{"id":"\\u0000","text":"nul id"}]}',
  `{"query":${"9".repeat(400)}}`,
  '{"query": "x"} trailing',
  "\u0000",
);

export type BodyKind = string | Uint8Array | undefined;

export function bodyFor(route: RouteSpec | undefined, stored: string): fc.Arbitrary<BodyKind> {
  const shaped = route
    ? shapedBody(route, stored).map((b) => (b === undefined ? undefined : JSON.stringify(b)))
    : fc.constant(undefined);
  return fc.oneof(
    { arbitrary: shaped, weight: 12 },
    { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)), weight: 2 },
    { arbitrary: deepBody, weight: 1 },
    { arbitrary: invalidUtf8, weight: 2 },
    { arbitrary: oddJsonText, weight: 2 },
    { arbitrary: fc.constant(undefined), weight: 1 },
  );
}
