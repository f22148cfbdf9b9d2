// Chunks must never exceed the model's input (it would silently drop text), must cover every word
// in order, and must follow the document's structure.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../scripts/lib/random.ts";
import { countTokens } from "../../src/embed/tokenizer";
import { AppError } from "../../src/errors";
import { type Chunk, type ChunkOptions, chunkDocument } from "../../src/ingest/chunk";
import type { ParsedDocument } from "../../src/ingest/parse";

const DEFAULTS: ChunkOptions = { maxTokens: 256, overlapTokens: 32, modelMaxTokens: 512 };

function expectWithinModel(chunks: Chunk[], options: ChunkOptions): void {
  chunks.forEach((chunk, i) => {
    expect(chunk.index).toBe(i);
    expect(chunk.tokens).toBe(countTokens(chunk.embeddingText));
    expect(chunk.tokens).toBeLessThanOrEqual(options.modelMaxTokens - 2);
    expect(chunk.embeddingText.endsWith(chunk.text)).toBe(true);
    expect(chunk.text.trim().length).toBeGreaterThan(0);
  });
}

/**
 * Every word of the section (whitespace-separated; each CJK ideograph is a word) appears whole in
 * its chunks, in order. Words of more than `maxWordTokens` tokens or 200 characters are left out:
 * one that alone exceeds a chunk has to be cut.
 */
function expectCoversInOrder(sectionText: string, chunks: Chunk[], maxWordTokens: number): void {
  const words = sectionText
    .split(/\s+|([\u4e00-\u9fff])/u)
    .filter((w): w is string => w !== undefined && w.length > 0)
    .filter((w) => w.length <= 200 && countTokens(w) <= maxWordTokens);
  let c = 0;
  let offset = 0;
  for (const word of words) {
    for (;;) {
      const chunk = chunks[c];
      if (!chunk) throw new Error(`word ${JSON.stringify(word)} is in no chunk after the previous word`);
      const at = chunk.text.indexOf(word, offset);
      if (at >= 0) {
        offset = at + word.length;
        break;
      }
      c++;
      offset = 0;
    }
  }
}

/**
 * The chunks are excerpts of the section that tile it in order: each starts inside or right after
 * the previous one (only whitespace between), the first at the start, the last at the end.
 */
function expectTiles(sectionText: string, chunks: Chunk[]): void {
  const whitespaceAt = (i: number): number => /^\s*/.exec(sectionText.slice(i))?.[0].length ?? 0;
  let prevStart = -1;
  let prevEnd = 0;
  for (const chunk of chunks) {
    const hi = prevEnd + whitespaceAt(prevEnd);
    const at = sectionText.lastIndexOf(chunk.text, hi);
    expect(at, `chunk ${chunk.index} must continue the previous one`).toBeGreaterThan(prevStart);
    prevStart = at;
    prevEnd = at + chunk.text.length;
  }
  expect(prevEnd + whitespaceAt(prevEnd)).toBe(sectionText.length);
}

function sentences(count: number, from = 0): string {
  return Array.from(
    { length: count },
    (_, i) => `Sentence ${from + i} discusses topic number ${(from + i) * 7} in some detail.`,
  ).join(" ");
}

describe("options", () => {
  it.each([
    [{ maxTokens: 256, overlapTokens: 256, modelMaxTokens: 512 }],
    [{ maxTokens: 511, overlapTokens: 0, modelMaxTokens: 512 }],
    [{ maxTokens: 256, overlapTokens: -1, modelMaxTokens: 512 }],
    [{ maxTokens: 2.5, overlapTokens: 0, modelMaxTokens: 512 }],
    [{ maxTokens: 0, overlapTokens: 0, modelMaxTokens: 512 }],
  ])("rejects %j", (options) => {
    const doc: ParsedDocument = { sections: [{ headings: [], text: "hello" }] };
    expect(() => chunkDocument(doc, options)).toThrow(AppError);
  });

  it("accepts a chunk size that uses the whole model input", () => {
    const doc: ParsedDocument = { title: "T", sections: [{ headings: ["H"], text: sentences(200) }] };
    const options = { maxTokens: 510, overlapTokens: 50, modelMaxTokens: 512 };
    const chunks = chunkDocument(doc, options);
    expect(chunks.length).toBeGreaterThan(1);
    expectWithinModel(chunks, options);
  });
});

describe("structure", () => {
  it("puts the title and heading path on a context line before the body", () => {
    const doc: ParsedDocument = {
      title: "Handbook",
      sections: [
        { headings: ["Handbook", "Setup"], text: "Install it." },
        { headings: ["Usage", "CLI"], text: "Run it." },
      ],
    };
    const chunks = chunkDocument(doc, DEFAULTS);
    expect(chunks.map((c) => [c.text, c.headings, c.embeddingText])).toEqual([
      ["Install it.", ["Handbook", "Setup"], "Handbook > Setup\nInstall it."],
      ["Run it.", ["Usage", "CLI"], "Handbook > Usage > CLI\nRun it."],
    ]);
  });

  it("embeds the bare body when there is no title or heading", () => {
    const [chunk] = chunkDocument({ sections: [{ headings: [], text: "Just text." }] }, DEFAULTS);
    expect(chunk?.embeddingText).toBe("Just text.");
  });

  it("never merges two sections into one chunk", () => {
    const doc: ParsedDocument = {
      sections: [
        { headings: ["A"], text: "alpha one. alpha two." },
        { headings: ["B"], text: "beta one." },
        { headings: ["B", "C"], text: "gamma one. gamma two." },
      ],
    };
    const chunks = chunkDocument(doc, DEFAULTS);
    expect(chunks.map((c) => [c.headings, c.text])).toEqual([
      [["A"], "alpha one. alpha two."],
      [["B"], "beta one."],
      [["B", "C"], "gamma one. gamma two."],
    ]);
  });

  it("packs whole paragraphs and never splits one that fits a chunk", () => {
    // About 33 and 73 tokens in turn: each paragraph fits a chunk alone, no pair does, and a
    // short one leaves the chunk less than half full.
    const paragraphs = Array.from(
      { length: 30 },
      (_, i) => `Paragraph ${i}. ${sentences(i % 2 === 0 ? 3 : 7, i * 10)}`,
    );
    const options = { maxTokens: 100, overlapTokens: 10, modelMaxTokens: 512 };
    const chunks = chunkDocument({ sections: [{ headings: [], text: paragraphs.join("\n\n") }] }, options);
    expect(chunks.length).toBe(paragraphs.length);
    for (const chunk of chunks) {
      for (const part of chunk.text.split("\n\n")) {
        // Each paragraph in a chunk is whole, except a trailing-sentence overlap at its start.
        expect(paragraphs.some((p) => p === part || p.endsWith(part))).toBe(true);
      }
      expect(paragraphs.some((p) => chunk.text.endsWith(p))).toBe(true);
    }
  });

  it("packs small paragraphs together", () => {
    const paragraphs = Array.from({ length: 30 }, (_, i) => `Paragraph ${i}. ${sentences(1, i * 10)}`);
    const options = { maxTokens: 100, overlapTokens: 10, modelMaxTokens: 512 };
    const chunks = chunkDocument({ sections: [{ headings: [], text: paragraphs.join("\n\n") }] }, options);
    // 30 paragraphs of 13 tokens fit 7 to a chunk.
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.length).toBeLessThanOrEqual(6);
    for (const chunk of chunks) {
      expect(chunk.text.split("\n\n").length).toBeGreaterThan(1);
      expect(paragraphs.some((p) => chunk.text.endsWith(p))).toBe(true);
    }
  });

  it("cuts an oversize paragraph at sentence ends and overlaps by whole sentences", () => {
    // Each sentence is 10 tokens, so the overlap can be one whole sentence.
    const options = { maxTokens: 64, overlapTokens: 12, modelMaxTokens: 512 };
    const chunks = chunkDocument({ sections: [{ headings: [], text: sentences(40) }] }, options);
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) {
      expect(chunk.text).toMatch(/^Sentence \d+ /);
      expect(chunk.text).toMatch(/detail\.$/);
      expect(countTokens(chunk.text)).toBeLessThanOrEqual(64);
    }
  });

  it("repeats the end of the previous chunk of the same section", () => {
    const options = { maxTokens: 64, overlapTokens: 16, modelMaxTokens: 512 };
    const chunks = chunkDocument({ sections: [{ headings: ["S"], text: sentences(40) }] }, options);
    // 40 sentences of 10 tokens make several chunks of 64: there are neighbours to compare.
    expect(chunks.length).toBeGreaterThan(5);
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1]?.text ?? "";
      const text = chunks[i]?.text ?? "";
      // The longest prefix of this chunk that the previous one ends with.
      let overlap = "";
      for (let len = Math.min(prev.length, text.length); len > 0; len--) {
        if (prev.endsWith(text.slice(0, len))) {
          overlap = text.slice(0, len);
          break;
        }
      }
      expect(countTokens(overlap)).toBeGreaterThan(0);
      expect(countTokens(overlap)).toBeLessThanOrEqual(16);
    }
  });

  it("does not carry overlap across a heading change", () => {
    const doc: ParsedDocument = {
      sections: [
        { headings: ["A"], text: sentences(30) },
        { headings: ["B"], text: "Completely different words here." },
      ],
    };
    const chunks = chunkDocument(doc, { maxTokens: 64, overlapTokens: 16, modelMaxTokens: 512 });
    expect(chunks.map((c) => c.headings[0])).toContain("A");
    expect(chunks.at(-1)?.headings).toEqual(["B"]);
    expect(chunks.at(-1)?.text).toBe("Completely different words here.");
  });

  it("is deterministic", () => {
    const doc: ParsedDocument = {
      title: "Same",
      sections: [
        { headings: ["x"], text: `${sentences(50)}\n\n${sentences(5)}` },
        { headings: ["y"], text: "中文字符".repeat(300) },
      ],
    };
    const options = { maxTokens: 48, overlapTokens: 12, modelMaxTokens: 512 };
    expect(chunkDocument(doc, options)).toEqual(chunkDocument(structuredClone(doc), options));
  });
});

describe("the model input limit under adversarial input", () => {
  const small: ChunkOptions = { maxTokens: 16, overlapTokens: 4, modelMaxTokens: 18 };
  // Random rather than repeated runs, so each chunk's text occurs once and its place is known.
  const next = seededRandom(7);
  const run = (length: number, from: number, span: number): string =>
    Array.from({ length }, () => String.fromCodePoint(from + Math.floor(next() * span))).join("");
  const single = (text: string): ParsedDocument => ({ sections: [{ headings: [], text }] });
  const cases: [string, ParsedDocument][] = [
    ["one giant word", single(run(50_000, 0x61, 26))],
    ["a word of many pieces", single(run(100, 0x61, 26))],
    [
      "no whitespace but punctuation",
      single(Array.from({ length: 20_000 }, () => run(2, 0x61, 26) + run(1, 0x2c, 4)).join("")),
    ],
    ["CJK without spaces", single(run(12_000, 0x4e00, 3_000))],
    [
      "emoji runs",
      single(
        `${run(3_000, 0x1f600, 80)} ${Array.from({ length: 2_000 }, () => run(1, 0x1f600, 80)).join(" ")}`,
      ),
    ],
    ["many tiny paragraphs", single(Array.from({ length: 3_000 }, (_, i) => `p${i}`).join("\n\n"))],
    ["whitespace floods", single(`a${" ".repeat(100_000)}b\n\n\n\n${"\n".repeat(5_000)}c`)],
    ["combining marks only", single(`x ${run(5_000, 0x300, 0x70)} y`)],
    [
      "a 2,000-token title and deep headings",
      {
        title: "title ".repeat(2_000),
        sections: [
          {
            headings: Array.from({ length: 200 }, (_, i) => `heading ${i} ${"h".repeat(i)}`),
            text: sentences(300),
          },
        ],
      },
    ],
  ];

  it.each(cases)("holds for %s", (_name, doc) => {
    for (const options of [DEFAULTS, small, { maxTokens: 510, overlapTokens: 100, modelMaxTokens: 512 }]) {
      const chunks = chunkDocument(doc, options);
      expect(chunks.length).toBeGreaterThan(0);
      expectWithinModel(chunks, options);
      const [section] = doc.sections;
      if (section) {
        expectTiles(section.text, chunks);
        expectCoversInOrder(section.text, chunks, options.maxTokens / 4);
      }
      for (const chunk of chunks) {
        // The default character cap: 12 per target token, at least 512.
        expect(chunk.text.length).toBeLessThanOrEqual(Math.max(512, options.maxTokens * 12));
      }
    }
  });

  it("trims a huge title in the context line instead of dropping the body", () => {
    const doc: ParsedDocument = {
      title: "word ".repeat(2_000),
      sections: [{ headings: ["Intro"], text: "Body." }],
    };
    const [chunk] = chunkDocument(doc, DEFAULTS);
    expect(chunk?.text).toBe("Body.");
    expect(chunk?.embeddingText).toMatch(/^word word .* > Intro\nBody\.$/);
    expect(countTokens(chunk?.embeddingText.split("\n")[0] ?? "")).toBeLessThanOrEqual(64);
  });
});

describe("generated documents", () => {
  const ALPHABET = "abcdefghijklmnopqrstuvwxyzäöüéñ";

  function randomDocument(next: () => number, serial: { n: number }): ParsedDocument {
    const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)] as T;
    const word = (): string => {
      const id = serial.n++;
      const kind = next();
      if (kind < 0.005) return `${"w".repeat(90 + Math.floor(next() * 40))}${id}`;
      if (kind < 0.05) return `中文${id}`;
      if (kind < 0.07) return `😀${id}`;
      if (kind < 0.1) return `x${id}-y.z/${id}`;
      const len = 1 + Math.floor(next() * 12);
      let w = "";
      for (let i = 0; i < len; i++) w += pick([...ALPHABET]);
      return `${next() < 0.1 ? w.toUpperCase() : w}${id}`;
    };
    const sentence = (): string => {
      const n = 1 + Math.floor(next() * 30);
      return `${Array.from({ length: n }, word).join(" ")}${pick([".", "!", "?", ",", ""])}`;
    };
    const paragraph = (): string =>
      Array.from({ length: 1 + Math.floor(next() * 12) }, sentence).join(next() < 0.2 ? "\n" : " ");
    const sectionCount = 1 + Math.floor(next() * 4);
    return {
      ...(next() < 0.7 ? { title: Array.from({ length: 1 + Math.floor(next() * 40) }, word).join(" ") } : {}),
      sections: Array.from({ length: sectionCount }, (_, i) => ({
        headings: Array.from({ length: 1 + Math.floor(next() * 3) }, () => `${word()} ${word()} ${i}`),
        text: Array.from({ length: 1 + Math.floor(next() * 8) }, paragraph).join("\n\n"),
      })),
    };
  }

  it("stay within the model limit and cover every word in order", () => {
    const next = seededRandom(20240611);
    const serial = { n: 0 };
    const optionSets: ChunkOptions[] = [
      DEFAULTS,
      { maxTokens: 32, overlapTokens: 8, modelMaxTokens: 64 },
      { maxTokens: 128, overlapTokens: 0, modelMaxTokens: 512 },
      { maxTokens: 500, overlapTokens: 120, modelMaxTokens: 512 },
    ];
    for (let round = 0; round < 40; round++) {
      const doc = randomDocument(next, serial);
      const options = optionSets[round % optionSets.length] as ChunkOptions;
      const chunks = chunkDocument(doc, options);
      expectWithinModel(chunks, options);
      expect(new Set(chunks.map((c) => c.headings.join("\u0000"))).size).toBe(doc.sections.length);
      for (const section of doc.sections) {
        // Generated headings are unique, so they tell which section a chunk came from.
        const own = chunks.filter((c) => c.headings.join("\u0000") === section.headings.join("\u0000"));
        expectTiles(section.text, own);
        expectCoversInOrder(section.text, own, options.maxTokens / 4);
      }
    }
  }, 60_000);
});
