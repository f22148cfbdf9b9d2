// The hand-written scanners in the ingest parsers give exactly what the regular expressions they
// stand in for give (those take quadratic time or allocate per match on hostile input, so the
// parsers no longer run them), on seeded random text built from the fragments each one cares about.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../scripts/lib/random.ts";
import { countTokens, scanUnits, tokenizeWords } from "../../src/embed/tokenizer";
import { AppError } from "../../src/errors";
import { oneLine } from "../../src/ingest/document";
import { stripEmphasis } from "../../src/ingest/emphasis";
import { decodeEntities } from "../../src/ingest/entities";
import { parseMarkdown, setextUnderline, thematicBreak } from "../../src/ingest/markdown";
import { parseDocument } from "../../src/ingest/parse";
import { parseMarkdownBySplitLines } from "./markdown-split-lines";

/** `count` strings of up to `maxParts` fragments picked at random. */
function samples(seed: number, fragments: string[], count: number, maxParts: number): string[] {
  const next = seededRandom(seed);
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    let s = "";
    const parts = Math.floor(next() * maxParts);
    for (let j = 0; j < parts; j++) s += fragments[Math.floor(next() * fragments.length)] ?? "";
    out.push(s);
  }
  return out;
}

describe("decodeEntities", () => {
  // The decoder before it scanned by hand: String.replace with this pattern and callback.
  const REFERENCE_RE = /&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,7})|([A-Za-z][A-Za-z0-9]{1,31}))(;?)/g;
  const reference = (text: string): string =>
    text.replace(REFERENCE_RE, (match, dec, hex, name: string | undefined, semi: string) => {
      if (name === undefined) {
        const cp = dec === undefined ? Number.parseInt(hex, 16) : Number.parseInt(dec, 10);
        if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return "\ufffd";
        // Windows-1252 stand-ins: the decoder's own table, on the reference alone.
        return cp >= 0x80 && cp <= 0x9f ? decodeEntities(`&#${cp};`) : String.fromCodePoint(cp);
      }
      // Named references: the decoder's own table, on the name alone.
      const legacy = ["amp", "lt", "gt", "quot", "nbsp", "copy", "reg"].includes(name);
      return semi === "" && !legacy ? match : decodeEntities(`&${name};`);
    });
  const fragments = [
    "&",
    "#",
    "x",
    "X",
    ";",
    "amp",
    "lt",
    "eacute",
    "copy",
    "qacute",
    "Z",
    "1",
    "12345678",
    "9",
    "f",
    "F",
    "g",
    " ",
    "a".repeat(31),
    "&amp;",
    "&#65;",
    "&#x1F600;",
    "&#0;",
    "&#128;",
    "&#xD800;",
    "1234567",
    "ABCDEF0",
    "&#",
    "&#x",
  ];

  it("decodes as the pattern does", () => {
    for (const text of samples(11, fragments, 400, 12)) {
      expect(decodeEntities(text), JSON.stringify(text)).toBe(reference(text));
    }
  });

  it("decodes a flood of references and keeps what is not one", () => {
    expect(decodeEntities("&amp;".repeat(3))).toBe("&&&");
    expect(decodeEntities("&#x1234567;&#123456789;&#x41")).toBe("\ufffd\ufffd9;A");
    expect(decodeEntities("&#x1F600;&#128512;&#0;&#99999999;")).toBe("\u{1F600}\u{1F600}\ufffd\ufffd");
    expect(decodeEntities("&amp &copy &eacute &qacute; & &# &#x; &a")).toBe(
      "& \u00a9 &eacute &qacute; & &# &#x; &a",
    );
  });
});

describe("oneLine", () => {
  const fragments = ["a", "b", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\ufeff", "\u2028", "\u200b"];
  it("collapses as the pattern does", () => {
    for (const text of samples(12, fragments, 400, 8)) {
      expect(oneLine(text), JSON.stringify(text)).toBe(text.replace(/\s+/g, " ").trim());
    }
  });
});

describe("stripEmphasis", () => {
  // The rules its header states, as the two expressions it replaces, applied in order.
  const OPEN_RE = /(^|[^\p{L}\p{N}])(?:\*+|_+|~~+)(?=[^\s*_~])/gu;
  const CLOSE_RE = /(?<=[^\s*_~])(?:\*+|_+|~~+)(?=[^\p{L}\p{N}]|$)/gu;
  const reference = (s: string): string => s.replace(OPEN_RE, "$1").replace(CLOSE_RE, "");
  const fragments = ["*", "**", "_", "__", "~", "~~", "a", "é", "1", " ", "\n", ".", "(", "\u{1F600}"];
  it("strips as the patterns do", () => {
    for (const text of samples(13, fragments, 400, 10)) {
      expect(stripEmphasis(text), JSON.stringify(text)).toBe(reference(text));
    }
  });
});

describe("parseMarkdown block lines", () => {
  // ATX headings, bullets and rules are recognized by hand: the headings and text come out as the
  // patterns say, whatever blanks, markers and line separators surround them.
  const ATX_RE = /^ {0,3}(#{1,6})(?:[ \t]+(.*))?$/;
  /** The heading text without its closing run of #, as the parser takes it. */
  const withoutClosing = (raw: string): string => {
    const text = raw.trimEnd();
    const end = text.length - (/#*$/.exec(text)?.[0].length ?? 0);
    if (end === 0) return "";
    return end < text.length && /[ \t]/.test(text[end - 1] ?? "") ? text.slice(0, end) : text;
  };
  const fragments = ["#", "##", "#######", " ", "   ", "    ", "\t", "h", "-", "+", "=", "\u2028", "\u00a0"];
  it("reads the line as ATX_RE does", () => {
    for (const line of samples(14, fragments, 300, 6)) {
      const doc = parseMarkdown(`${line}\n\nbody`);
      const atx = ATX_RE.exec(line);
      const heading = atx?.[1] ? oneLine(withoutClosing(atx[2] ?? "")) : "";
      expect(doc.sections[0]?.headings, JSON.stringify(line)).toEqual(heading === "" ? [] : [heading]);
    }
  });

  it("reads thematic breaks and setext underlines as their patterns do", () => {
    const THEMATIC_RE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
    const SETEXT_RE = /^ {0,3}(=+|-+)[ \t]*$/;
    const ruleFragments = ["*", "-", "_", "=", "**", "---", "==", " ", "   ", "\t", "x", "\r"];
    let breaks = 0;
    let underlines = 0;
    for (const line of samples(15, ruleFragments, 4000, 8)) {
      const thematic = THEMATIC_RE.test(line);
      const setext = SETEXT_RE.exec(line)?.[1]?.charCodeAt(0) ?? 0;
      expect(thematicBreak(line, 0, line.length), JSON.stringify(line)).toBe(thematic);
      expect(setextUnderline(line, 0, line.length), JSON.stringify(line)).toBe(setext);
      if (thematic) breaks++;
      if (setext) underlines++;
    }
    // The samples hold both kinds of line, not only lines that are neither.
    expect(breaks).toBeGreaterThan(50);
    expect(underlines).toBeGreaterThan(50);
  });

  it("takes no line holding a line separator for a heading", () => {
    expect(parseMarkdown("# a\u2028b\n\nc").sections[0]?.headings).toEqual([]);
    expect(parseMarkdown("# a\u2029\n\nc").sections[0]?.headings).toEqual([]);
    expect(parseMarkdown("## a b ##\n\nc").sections[0]?.headings).toEqual(["a b"]);
  });

  it("strips bullets and task boxes from list items", () => {
    expect(parseMarkdown("- a\n*\tb\n+ [x] c\n- [ ]d\n-e").sections[0]?.text).toBe("a\nb\nc\n[ ]d\n-e");
  });

  it("joins a row of empty table cells", () => {
    expect(parseMarkdown("| a |||| b | |").sections[0]?.text).toBe("a | | | | b |");
  });
});

describe("scanUnits", () => {
  const fragments = [
    "a",
    "Ab",
    "-",
    ".",
    " ",
    "\n",
    "中",
    "é",
    "e\u0301",
    "\u200b",
    "\u{1F600}",
    "x".repeat(101),
  ];
  // The chunker re-measures a chunk only when a unit was cut into pieces: it relies on any run of
  // whole units counting as the sum of their counts.
  it("counts any run of whole units as the sum of their counts", () => {
    const next = seededRandom(16);
    for (const text of samples(15, fragments, 300, 12)) {
      const units = scanUnits(text);
      expect(units.count, JSON.stringify(text)).toBe(tokenizeWords(text).length);
      for (let k = 0; k < 4 && units.count > 0; k++) {
        const i = Math.floor(next() * units.count);
        const j = i + Math.floor(next() * (units.count - i));
        let sum = 0;
        for (let u = i; u <= j; u++) sum += units.tokens[u] ?? 0;
        const run = text.slice(units.start[i], units.end[j]);
        expect(countTokens(run), JSON.stringify(run)).toBe(sum);
      }
    }
  });
});

describe("parseMarkdown line loop", () => {
  // The parser reads lines by position in the source and slices only what it keeps; it parses as
  // it did when it split the text into a string per line.
  const fragments = [
    "\n",
    "\n",
    "\n",
    "\r\n",
    "\r",
    " ",
    "   ",
    "\t",
    "text",
    "# ",
    "## h",
    "###### x #",
    "#",
    "- ",
    "* ",
    "+ ",
    "- [ ] ",
    "- [x]",
    "- - x",
    "> ",
    ">",
    "|",
    "| a | b |",
    "|-|-|",
    ":--",
    "---",
    "===",
    "***",
    "___",
    "```",
    "~~~",
    "``` js",
    "*em*",
    "[l](u)",
    "[ref]: http://x",
    "<!--",
    "-->",
    "<script>",
    "</script>",
    "<style>x</style>",
    "\u2028",
    "\u00a0",
    "&amp;",
    "\\",
    "`c`",
    "title: T",
    "...",
  ];
  it("parses random documents as the line-splitting parser did", () => {
    const next = seededRandom(17);
    for (const text of samples(18, fragments, 3000, 40)) {
      const body = next() < 0.2 ? `---\n${text}` : text;
      expect(parseMarkdown(body), JSON.stringify(body)).toEqual(parseMarkdownBySplitLines(body));
    }
  });

  it("keeps list items, code lines and comments split over lines as before", () => {
    const body = "- a\n- [x] b\n  c\n\n```\none\n\ntwo\n```\nx <!-- y\nz --> w\n> q\n| r | s |\n";
    const doc = parseMarkdown(body);
    expect(doc).toEqual(parseMarkdownBySplitLines(body));
    expect(doc.sections[0]?.text).toBe("a\nb\nc\n\none\ntwo\n\nx\nw\nq\nr | s");
  });
});

describe("JSON number runs", () => {
  // Long runs of numbers in arrays are cut out of the text before JSON.parse, their text made from
  // the JSON directly. A document holding a "\u0000" escape is never cut: the same document under
  // such a title goes through JSON.parse alone, and its sections must come out the same.
  const numbers = [
    "0",
    "-0",
    "1",
    "-1",
    "0.1",
    "1E-7",
    "1e21",
    "1e400",
    "-1e400",
    "1e-400",
    "2.50",
    "2E+3",
    "123456789012345",
    "1234567890123456",
    "9007199254740993",
    "12345678901234567890123",
    "5e-324",
  ];
  const blanks = ["", "", "", " ", "\n", "\r\n\t"];
  const LIMITS = { maxParsedTextBytes: 1 << 20, maxJsonDepth: 16, maxJsonKeyPathBytes: 1 << 10 };
  const TIGHT = { maxParsedTextBytes: 2000, maxJsonDepth: 4, maxJsonKeyPathBytes: 6 };

  /** A random JSON value: arrays holding runs of up to 80 `units`, strings, objects and nesting. */
  function value(next: () => number, depth: number, units = numbers): string {
    const pick = <T>(list: T[]): T => list[Math.floor(next() * list.length)] as T;
    const r = next();
    if (depth > 4 || r < 0.15) return pick([...numbers, '"a"', '" b "', "true", "null", "[]", "{}"]);
    if (r < 0.6) {
      const parts: string[] = [];
      for (let k = Math.floor(next() * 4); k >= 0; k--) {
        if (next() < 0.5) parts.push(value(next, depth + 1, units));
        else {
          const run = Array.from({ length: Math.floor(next() * 80) + 1 }, () => pick(units));
          parts.push(run.map((n) => pick(blanks) + n + pick(blanks)).join(","));
        }
      }
      return `[${parts.join(",")}]`;
    }
    const members = Array.from(
      { length: Math.floor(next() * 4) },
      () => `${JSON.stringify(pick(["k", "1", "", "text", "a b"]))}:${value(next, depth + 1, units)}`,
    );
    return `{${members.join(",")}}`;
  }

  const outcome = async (body: string, limits: typeof LIMITS) =>
    parseDocument(body, "application/json", limits).then(
      (doc) => doc.sections,
      (err: unknown) => (err instanceof AppError ? err.message : err),
    );

  it("flattens documents with number runs as JSON.parse alone does", async () => {
    const next = seededRandom(19);
    for (let k = 0; k < 400; k++) {
      let data = value(next, 0);
      // Now and then not JSON: the error names the same position either way.
      if (next() < 0.1) data = data.slice(0, Math.floor(next() * data.length));
      const limits = next() < 0.3 ? TIGHT : LIMITS;
      const cut = await outcome(`{"title":"xxxxxx","data":${data}}`, limits);
      const whole = await outcome(`{"title":"\\u0000","data":${data}}`, limits);
      expect(cut, data).toEqual(whole);
    }
  });

  it("flattens documents with runs of empty arrays and objects as JSON.parse alone does", async () => {
    // Runs of "[]" and "{}" (blanks inside or not), now and then broken by a number, "null" or an
    // array that is not empty; nested, and next to runs of numbers.
    const empties = ["[]", "{}", "[ ]", "{\n}", "[]", "{}", "[]", "[\t\r\n ]"];
    const units = [...Array.from({ length: 16 }, () => empties).flat(), "1", "null", "[1]", '""'];
    const mixed = [...units, ...numbers];
    // Not JSON, with a run where an element or a key may stand: the same error either way.
    const broken = (run: string) => [
      `{"k":1,${run}}`,
      `{"k":1,${run}:2}`,
      `[${run}:2]`,
      `[${run}}`,
      `[${run},]`,
      `[${run}`,
      `{${run}}`,
    ];
    const next = seededRandom(23);
    for (let k = 0; k < 400; k++) {
      let data = value(next, 0, next() < 0.5 ? units : mixed);
      const r = next();
      if (r < 0.1) data = data.slice(0, Math.floor(next() * data.length));
      else if (r < 0.2) {
        const run = Array.from({ length: 40 }, () => empties[k % empties.length]).join(",");
        data = broken(run)[k % 7] as string;
      }
      // Bounds that documents pass or fail by an element or a level: "data[99]" and "data[100]".
      const limits = {
        ...LIMITS,
        maxJsonDepth: 2 + Math.floor(next() * 5),
        maxJsonKeyPathBytes: 8 + Math.floor(next() * 6),
      };
      const cut = await outcome(`{"title":"xxxxxx","data":${data}}`, limits);
      const whole = await outcome(`{"title":"\\u0000","data":${data}}`, limits);
      expect(cut, data).toEqual(whole);
    }
  });
});
