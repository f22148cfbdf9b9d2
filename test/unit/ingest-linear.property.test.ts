// Ingest work grows linearly with the document, whatever its structure: generated hostile inputs
// (long runs of markup characters, deep nesting, floods, one enormous line or token, invisible and
// invalid characters) are parsed and chunked in time proportional to their size, and what a document
// expands into stays within its bounds.
//
// No absolute times: each property compares one run over an input GROWTH times as large with
// GROWTH runs over the small one, the same amount of text. Linear work takes about as long either
// way; quadratic work takes GROWTH times as long on the large input. Being timed, these run only
// with `npm run test:linear` (VITE_TIMING_PROPERTIES=1), never in `npm test`: on a shared machine
// a timed check can fail for reasons of its own. `npm run bench -- ingest-adversarial` reports the
// same growth as ms per KB.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalEmbedder } from "../../src/embed/local";
import { scanUnits } from "../../src/embed/tokenizer";
import { AppError } from "../../src/errors";
import { chunkDocument } from "../../src/ingest/chunk";
import { InflateBudget, stringBytes } from "../../src/ingest/convert/bytes";
import { csvToMarkdown } from "../../src/ingest/convert/csv";
import { documentXmlToMarkdown } from "../../src/ingest/convert/docx";
import { LocalConverter } from "../../src/ingest/convert/local";
import { cmapDecoder, pdfToMarkdown } from "../../src/ingest/convert/pdf";
import { contentText } from "../../src/ingest/convert/pdf-text";
import { TextSink } from "../../src/ingest/convert/sink";
import type { ParseLimits } from "../../src/ingest/limits";
import { parseDocument } from "../../src/ingest/parse";
import { type RedactionSettings, redactText } from "../../src/redaction/scan";
import handbookDocx from "../fixtures/formats/handbook.docx?inline";
import reportPdf from "../fixtures/formats/report.pdf?inline";
import { envNumber } from "../security/support";

const TIMED = envNumber("VITE_TIMING_PROPERTIES", 0) === 1;

const GROWTH = 8;
/** Allowed slowdown of the large input over the same amount of text in small inputs. */
const MAX_RATIO = 3;
/** The clock inside workerd ticks in whole milliseconds. */
const CLOCK_SLACK_MS = 10;
const RUNS = 8;
/** Each property times a few dozen inputs, some of them hundreds of kilobytes. */
const TIMEOUT_MS = 180_000;

const LIMITS: ParseLimits = {
  maxParsedTextBytes: 4 * 1024 * 1024,
  maxJsonDepth: 64,
  maxJsonKeyPathBytes: 1024,
};
const CHUNKING = { maxTokens: 256, overlapTokens: 32, modelMaxTokens: 512 };

type Work = (input: string) => unknown;

/** A document's ingest work: parsed with the default bounds, then chunked. */
const ingest =
  (contentType: string): Work =>
  async (body) =>
    chunkDocument(await parseDocument(body, contentType, LIMITS), CHUNKING);

const REDACT_ALL: RedactionSettings = { email: true, phone: true, card: true, iban: true, ip: true };
const embedder = new LocalEmbedder({ model: "test", dimensions: 768 });
const WORK: Record<string, Work> = {
  markdown: ingest("text/markdown"),
  html: ingest("text/html"),
  json: ingest("application/json"),
  text: ingest("text/plain"),
  tokenizer: (s) => scanUnits(s),
  embedder: (s) => embedder.embedOne(s, "document"),
  chunker: (s) => chunkDocument({ sections: [{ headings: [], text: s }] }, CHUNKING),
  // The local converters (src/ingest/convert/): a whole PDF file as a byte string, one content
  // stream, one ToUnicode CMap decoding the input itself, word/document.xml.
  pdf: (s) => pdfToMarkdown(stringBytes(s), new InflateBudget(), LIMITS.maxParsedTextBytes),
  pdfContent: (s) => contentText(s, new Map(), new TextSink(LIMITS.maxParsedTextBytes)),
  cmap: (s) => cmapDecoder(s)(s),
  docx: (s) => documentXmlToMarkdown(s, LIMITS.maxParsedTextBytes),
  csv: (s) => csvToMarkdown(new TextEncoder().encode(s), LIMITS.maxParsedTextBytes),
  redaction: (s) => redactText(s, REDACT_ALL),
};

async function elapsed(work: Work, input: string, times: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < times; i++) {
    try {
      await work(input);
    } catch (err) {
      // A document over a bound fails: that is part of the work measured.
      if (!(err instanceof AppError)) throw err;
    }
  }
  return performance.now() - started;
}

/** An input made of `units` repetitions of a structure; `build(k)` for k units. */
interface Shape {
  work: string;
  build: (units: number) => string;
  units: number;
}

async function expectLinear({ work: name, build, units }: Shape): Promise<void> {
  const work = WORK[name];
  if (!work) throw new Error(`no work named ${name}`);
  const small = build(units);
  const large = build(units * GROWTH);
  await elapsed(work, small, 1);
  let smalls = Number.POSITIVE_INFINITY;
  let big = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    smalls = Math.min(smalls, await elapsed(work, small, GROWTH));
    big = Math.min(big, await elapsed(work, large, 1));
  }
  expect(
    big,
    `${name}: ${large.length} characters took ${big} ms, ${GROWTH} x ${small.length} took ${smalls} ms`,
  ).toBeLessThanOrEqual(MAX_RATIO * smalls + CLOCK_SLACK_MS);
}

/** `open` k times, then `middle`, then `close` k times. */
const nest =
  (open: string, middle: string, close = "") =>
  (k: number) =>
    open.repeat(k) + middle + close.repeat(k);
const run =
  (unit: string, before = "", after = "") =>
  (k: number) =>
    before + unit.repeat(k) + after;

const MARKUP = ["*", "_", "`", "[", "]", "(", "<", ">", "#", "|", "\\", "&"];
const INVISIBLE = [
  "",
  "\u200b",
  "\u200d",
  "\u202e",
  "\u2066",
  "\u061c",
  "\ufeff",
  "\u0000",
  "\ufffd",
  "\ud800",
];
const SIDES = ["", "a", " ", "a ", "\n"];

const check = (shape: fc.Arbitrary<Shape>, examples: Shape[]) =>
  fc.assert(
    fc.asyncProperty(shape, (s) => expectLinear(s)),
    { numRuns: RUNS, examples: examples.map((e) => [e]), endOnFailure: true },
  );

describe.runIf(TIMED)("ingest runs in linear time", () => {
  it(
    "on long runs of any markup character, alone or among invisible and invalid characters",
    async () => {
      const shape = fc
        .record({
          work: fc.constantFrom("markdown", "html", "text", "tokenizer", "chunker"),
          mark: fc.constantFrom(...MARKUP),
          invisible: fc.constantFrom(...INVISIBLE),
          before: fc.constantFrom(...SIDES),
          after: fc.constantFrom(...SIDES),
        })
        .map(({ work, mark, invisible, before, after }) => ({
          work,
          build: run(mark + invisible, before, after),
          units: 6000,
        }));
      await check(
        shape,
        MARKUP.map((mark) => ({ work: "markdown", build: run(mark, "a ", " b"), units: 8000 })),
      );
    },
    TIMEOUT_MS,
  );

  it(
    "on deep nesting of lists, blockquotes, emphasis, links, HTML tags and JSON",
    async () => {
      const constructs: Shape[] = [
        { work: "markdown", build: nest("*", "a", "*"), units: 8000 },
        { work: "markdown", build: nest("_", "a", "_"), units: 8000 },
        { work: "markdown", build: nest("- ", "item"), units: 6000 },
        { work: "markdown", build: nest("> ", "quote"), units: 6000 },
        { work: "markdown", build: nest("[", "a", "](b)"), units: 3000 },
        { work: "markdown", build: nest("<b>", "a", "</b>"), units: 2000 },
        { work: "html", build: nest("<div>", "a", "</div>"), units: 500 },
        { work: "html", build: nest("<b>", "a"), units: 500 },
        { work: "html", build: nest("<ul><li>", "a"), units: 300 },
        { work: "json", build: (k) => `${"[".repeat(60)}[${"1,".repeat(k)}1]${"]".repeat(60)}`, units: 1500 },
        {
          work: "json",
          build: (k) => `${'{"level":'.repeat(60)}[${"1,".repeat(k)}1]${"}".repeat(60)}`,
          units: 1500,
        },
      ];
      await check(fc.constantFrom(...constructs), constructs);
    },
    TIMEOUT_MS,
  );

  it(
    "on one enormous line or token, and unclosed script, style and comment tags",
    async () => {
      const shapes: Shape[] = [
        { work: "markdown", build: run(" ", "|-|-", "x"), units: 12_000 },
        { work: "markdown", build: run("a"), units: 60_000 },
        { work: "markdown", build: run("alert(1) ", "<script>"), units: 6000 },
        { work: "markdown", build: run("x ", "a <style>"), units: 6000 },
        { work: "markdown", build: run("x <!-- "), units: 6000 },
        { work: "html", build: run("alert(1) ", "<p>a</p><script>"), units: 6000 },
        { work: "html", build: run("a{color:red} ", "<p>a</p><style>"), units: 6000 },
        { work: "html", build: run("text ", "<p>a</p><!--"), units: 6000 },
        { work: "html", build: run("a", "<p>"), units: 60_000 },
        { work: "text", build: run("a"), units: 60_000 },
        { work: "tokenizer", build: run("a"), units: 60_000 },
        { work: "embedder", build: run("a"), units: 60_000 },
        { work: "chunker", build: run("a"), units: 30_000 },
        { work: "chunker", build: run("\u00e9x"), units: 15_000 },
        { work: "json", build: run("a", '{"text":"', '"}'), units: 60_000 },
      ];
      await check(fc.constantFrom(...shapes), shapes);
    },
    TIMEOUT_MS,
  );

  it(
    "on floods of headings, list items, entities and tags, under a title as long as the document",
    async () => {
      // A title or heading as long as the document, above as many sections: the context line that
      // every chunk of every section repeats must not cost the title's length each time.
      const titled = (head: (k: number) => string, section: string) => (k: number) =>
        head(k) + section.repeat(k);
      const shapes: Shape[] = [
        { work: "markdown", build: titled((k) => `# ${"a ".repeat(k)}\n\n`, "## h\n\nx\n\n"), units: 600 },
        {
          work: "markdown",
          build: titled((k) => `---\ntitle: ${"Title ".repeat(k)}\n---\n`, "## h\n\nx\n\n"),
          units: 600,
        },
        { work: "markdown", build: run("- item\n"), units: 3000 },
        { work: "markdown", build: run("# h\n"), units: 3000 },
        { work: "markdown", build: run("&amp;"), units: 6000 },
        { work: "markdown", build: run("&#128512;&#x1F600;"), units: 3000 },
        {
          work: "html",
          build: titled((k) => `<title>${"Title ".repeat(50 * k)}</title>`, "<h2>h</h2><p>x</p>"),
          units: 100,
        },
        { work: "html", build: run("<li>item"), units: 200 },
        { work: "html", build: run("&amp;", "<p>"), units: 6000 },
        { work: "html", build: run("&#128512;&#x1F600;", "<p>"), units: 3000 },
        { work: "text", build: run("\n"), units: 30_000 },
        { work: "text", build: run("\r\n \n"), units: 10_000 },
        {
          work: "json",
          build: (k) =>
            JSON.stringify(Array.from({ length: k }, (_, i) => ({ title: `Record ${i}`, text: "x" }))),
          units: 100,
        },
        { work: "json", build: run("1,", "[", "1]"), units: 20_000 },
        { work: "json", build: run("-0.5e-7, 1E21,", '{"a":[', "1]}"), units: 5000 },
        { work: "json", build: run("[],", "[", "[]]"), units: 20_000 },
        { work: "json", build: run("{ }, [],", '{"a":[1,', "{}]}"), units: 10_000 },
        { work: "chunker", build: run("A. "), units: 6000 },
        { work: "chunker", build: run("\u0301 "), units: 6000 },
        { work: "tokenizer", build: run("."), units: 30_000 },
        { work: "embedder", build: run("a-"), units: 20_000 },
      ];
      await check(fc.constantFrom(...shapes), shapes);
    },
    TIMEOUT_MS,
  );

  it(
    "on floods of PDF objects, keywords, strings and operators, CMap entries, Word XML tags and CSV fields",
    async () => {
      const PDF = "%PDF-1.7\n";
      const shapes: Shape[] = [
        { work: "pdf", build: run("1 0 obj\n<< /Type /Page /Contents 1 0 R >>\nendobj\n", PDF), units: 2000 },
        { work: "pdf", build: run("1 0 obj << /Kids [1 0 R 1 0 R] >> ", PDF), units: 2000 },
        { work: "pdf", build: run("1 ", PDF), units: 20_000 },
        // Each object's search for the next "stream" reaches the one at the end: found once, not per object.
        {
          work: "pdf",
          build: run("1 0 obj << >> endobj ", PDF, "2 0 obj << >> stream\nx\nendstream endobj"),
          units: 3000,
        },
        { work: "pdf", build: run("stream ", `${PDF}1 0 obj << >> `), units: 6000 },
        { work: "pdf", build: run("endobj ", `${PDF}1 0 obj << `), units: 6000 },
        { work: "pdf", build: run("<<", `${PDF}1 0 obj /Resources `), units: 6000 },
        { work: "pdf", build: run("/Root 1 0 R ", PDF), units: 3000 },
        { work: "pdfContent", build: run("(word) Tj 0 -12 Td "), units: 6000 },
        { work: "pdfContent", build: run("("), units: 20_000 },
        { work: "pdfContent", build: run("\\("), units: 10_000 },
        { work: "pdfContent", build: run("<"), units: 20_000 },
        { work: "pdfContent", build: run("<<"), units: 10_000 },
        { work: "pdfContent", build: run("(a) -300 ", "["), units: 6000 },
        { work: "pdfContent", build: run("BI ID x "), units: 6000 },
        { work: "pdfContent", build: run("1 0 0 1 0 0 Tm "), units: 6000 },
        { work: "cmap", build: run("beginbfchar "), units: 6000 },
        {
          work: "cmap",
          build: run("<0001> <0041>\n", "begincodespacerange <0000> <FFFF> endcodespacerange beginbfchar\n"),
          units: 6000,
        },
        { work: "cmap", build: run("<0000> <FFFF> <0041>\n", "beginbfrange\n", "endbfrange"), units: 2000 },
        { work: "docx", build: run("<w:p><w:r><w:t>word</w:t></w:r></w:p>"), units: 6000 },
        { work: "docx", build: run("<"), units: 20_000 },
        { work: "docx", build: run("<w:t>"), units: 10_000 },
        { work: "docx", build: run("&amp;", "<w:t>"), units: 6000 },
        { work: "docx", build: run("<w:tbl><w:tr><w:tc><w:p><w:t>a</w:t></w:p>"), units: 3000 },
        { work: "csv", build: run(","), units: 20_000 },
        { work: "csv", build: run('"'), units: 20_000 },
        { work: "csv", build: run('""', '"'), units: 10_000 },
        { work: "csv", build: run("a,b\n"), units: 6000 },
      ];
      await check(fc.constantFrom(...shapes), shapes);
    },
    TIMEOUT_MS,
  );
});

describe.runIf(TIMED)("redaction runs in linear time", () => {
  it(
    "on floods of near-miss addresses, numbers, IBANs and IPs, and of real ones",
    async () => {
      // Each unit starts a candidate that reads as far as its detector may before failing (or
      // matching): a slow detector, or one reading a candidate again from inside, shows here.
      const UNITS = [
        "a@",
        "@a",
        "a.",
        "a@b.",
        "x@-",
        "1 ",
        "1-",
        "+1 ",
        "(1",
        "1.",
        "1.1.",
        "1:",
        "::",
        "a:",
        "DE89",
        "DE89 3704 ",
        "jane@example.com ",
        "+1 (555) 123-4567 ",
        "4111 1111 1111 1111 ",
        "DE89 3704 0044 0532 0130 00 ",
        "10.0.0.1 ",
        "2001:db8::1 ",
      ];
      const shapes: Shape[] = [
        ...UNITS.map((unit) => ({ work: "redaction", build: run(unit), units: 6000 })),
        // One long candidate of each kind: runs cut at each detector's bound.
        { work: "redaction", build: run("a", "", "@example.com"), units: 30_000 },
        { work: "redaction", build: run("a", "x@"), units: 30_000 },
        { work: "redaction", build: run("1 "), units: 30_000 },
        { work: "redaction", build: run("1"), units: 60_000 },
        { work: "redaction", build: run("a1"), units: 30_000 },
        { work: "redaction", build: run("1:"), units: 30_000 },
        { work: "redaction", build: run("@"), units: 60_000 },
      ];
      const shape = fc
        .record({ unit: fc.constantFrom(...UNITS), side: fc.constantFrom(...SIDES, ...MARKUP) })
        .map(({ unit, side }) => ({ work: "redaction", build: run(unit + side), units: 4000 }));
      await check(fc.oneof(shape, fc.constantFrom(...shapes)), shapes);
    },
    TIMEOUT_MS,
  );
});

describe("what a document expands into stays bounded", () => {
  const byteLength = (s: string) => new TextEncoder().encode(s).length;

  it("deep or wide JSON flattens within MAX_PARSED_TEXT_BYTES or fails naming a bound", async () => {
    const limits: ParseLimits = {
      maxParsedTextBytes: 64 * 1024,
      maxJsonDepth: 64,
      maxJsonKeyPathBytes: 1024,
    };
    const json = fc
      .record({
        depth: fc.integer({ min: 0, max: 80 }),
        key: fc.string({ minLength: 1, maxLength: 24 }),
        width: fc.integer({ min: 1, max: 5000 }),
        leaf: fc.constantFrom("1", '"storm petrel"', "true", "[]", "{}"),
        array: fc.boolean(),
      })
      .map(({ depth, key, width, leaf, array }) => {
        const open = array ? "[" : `{${JSON.stringify(key)}:`;
        const close = array ? "]" : "}";
        return `${open.repeat(depth)}[${Array(width).fill(leaf).join(",")}]${close.repeat(depth)}`;
      });
    await fc.assert(
      fc.asyncProperty(json, async (body) => {
        const outcome = await parseDocument(body, "application/json", limits).catch((err: unknown) => err);
        if (outcome instanceof AppError) {
          if (outcome.message !== "document has no text") {
            expect(outcome.message).toMatch(
              /exceeds (MAX_PARSED_TEXT_BYTES|MAX_JSON_DEPTH|MAX_JSON_KEY_PATH_BYTES) \(\d+\)$/,
            );
          }
          return;
        }
        expect(outcome).not.toBeInstanceOf(Error);
        const doc = outcome as Awaited<ReturnType<typeof parseDocument>>;
        const bytes = doc.sections.reduce((n, s) => n + byteLength(s.text), 0);
        expect(bytes).toBeLessThanOrEqual(limits.maxParsedTextBytes);
      }),
      {
        numRuns: 60,
        examples: [[`${'{"level":'.repeat(60)}[${"1,".repeat(20_000)}1]${"}".repeat(60)}`]],
        endOnFailure: true,
      },
    );
  });

  it("a damaged PDF or Word file converts within the bound or fails on its own, never otherwise", async () => {
    const decode = (dataUrl: string) =>
      Uint8Array.from(atob(dataUrl.slice(dataUrl.indexOf(",") + 1)), (c) => c.charCodeAt(0));
    const files = [
      { bytes: decode(reportPdf), type: "application/pdf" as const },
      {
        bytes: decode(handbookDocx),
        type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document" as const,
      },
    ];
    const converter = new LocalConverter();
    const max = 2048;
    const damage = fc.record({
      file: fc.constantFrom(...files),
      cut: fc.option(fc.nat(), { nil: undefined }),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
    });
    await fc.assert(
      fc.asyncProperty(damage, async ({ file, cut, flips }) => {
        const bytes = file.bytes.slice(0, cut === undefined ? undefined : cut % (file.bytes.length + 1));
        for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
        const outcome = await converter.toMarkdown(bytes, file.type, max).catch((err: unknown) => err);
        if (typeof outcome === "string") expect(outcome.length).toBeLessThanOrEqual(max);
        else {
          expect(outcome).toBeInstanceOf(AppError);
          expect((outcome as AppError).retryable).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a document never yields more than MAX_CHUNKS_PER_DOCUMENT chunks", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.lorem({ maxCount: 80 }), { minLength: 1, maxLength: 60 }),
        (maxChunks, paragraphs) => {
          const doc = { sections: [{ headings: [], text: paragraphs.join("\n\n") }] };
          const options = { ...CHUNKING, maxTokens: 32, overlapTokens: 4 };
          const unbounded = chunkDocument(doc, options).length;
          if (unbounded <= maxChunks) {
            expect(chunkDocument(doc, { ...options, maxChunks })).toHaveLength(unbounded);
          } else {
            expect(() => chunkDocument(doc, { ...options, maxChunks })).toThrow(
              `chunks of the document exceeds MAX_CHUNKS_PER_DOCUMENT (${maxChunks})`,
            );
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
