// The text a PDF content stream shows (ISO 32000-1 §9.4): one forward pass over its tokens,
// strings decoded by the current font, lines broken where the text moves to another line.
import { escapeMarkdown } from "./bytes";
import type { TextSink } from "./sink";

/** A font's byte string to text. */
export type Decoder = (bytes: string) => string;
export const LATIN1: Decoder = (bytes) => bytes;

const DELIMITER = /[\s()<>[\]{}/%]/;
const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f" };
/** Operands kept before an operator; text operators take at most 6. */
const MAX_OPERANDS = 64;

type Operand = string | number;

/** A literal string (…) starting at `i`: its bytes and the index after it. */
function readLiteral(cs: string, i: number): [string, number] {
  let depth = 1;
  let str = "";
  i++;
  while (i < cs.length) {
    const ch = cs[i++] as string;
    if (ch === "\\") {
      const e = cs[i++] ?? "";
      const oct = /^[0-7]{1,3}/.exec(cs.slice(i - 1, i + 2));
      if (oct) {
        str += String.fromCharCode(Number.parseInt(oct[0], 8) & 0xff);
        i += oct[0].length - 1;
      } else if (e === "\r" && cs[i] === "\n") i++;
      else if (e !== "\r" && e !== "\n") str += ESCAPES[e] ?? e;
    } else {
      if (ch === "(") depth++;
      else if (ch === ")" && --depth === 0) break;
      str += ch;
    }
  }
  return [str, i];
}

/** A hex string <…> starting at `i`: its bytes and the index after it. */
function readHex(cs: string, i: number): [string, number] {
  const end = cs.indexOf(">", i);
  const hex = cs.slice(i + 1, end < 0 ? cs.length : end).replace(/[^0-9a-fA-F]/g, "");
  let str = "";
  for (let k = 0; k < hex.length; k += 2)
    str += String.fromCharCode(Number.parseInt(hex.slice(k, k + 2).padEnd(2, "0"), 16));
  return [str, end < 0 ? cs.length : end + 1];
}

/** The index after inline image data (after ID, up to "EI" preceded by whitespace). */
function skipInlineImage(cs: string, i: number): number {
  let k = i;
  do k = cs.indexOf("EI", k + 1);
  while (k >= 0 && !(/\s/.test(cs[k - 1] ?? "") && (k + 2 >= cs.length || DELIMITER.test(cs[k + 2] ?? ""))));
  return k < 0 ? cs.length : k + 2;
}

/** The lines of text being shown, and the state the text operators change. */
class TextLines {
  private line = "";
  private lastY: string | undefined;
  decode = LATIN1;

  constructor(
    private readonly sink: TextSink,
    private readonly fonts: Map<string, Decoder>,
  ) {}

  newline(): void {
    if (this.line.trim()) this.sink.add(`${escapeMarkdown(this.line)}\n`);
    this.line = "";
  }

  private space(): void {
    if (this.line && !this.line.endsWith(" ")) this.line += " ";
  }

  apply(op: string, operands: Operand[], array: Operand[]): void {
    switch (op) {
      case "Tf": {
        const name = operands.find((o) => typeof o === "string" && o.startsWith("/"));
        this.decode = (typeof name === "string" && this.fonts.get(name.slice(1))) || LATIN1;
        break;
      }
      case "'":
      case '"':
      case "Tj": {
        if (op !== "Tj") this.newline();
        const str = operands[operands.length - 1];
        if (typeof str === "string") this.line += this.decode(str);
        break;
      }
      case "TJ":
        for (const part of array) {
          // A gap wider than a quarter of the font size is a space between words.
          if (typeof part === "string") this.line += this.decode(part);
          else if (part < -250) this.space();
        }
        break;
      case "Td":
      case "TD":
        if (operands[1] !== 0) this.newline();
        else this.space();
        break;
      case "T*":
        this.newline();
        break;
      case "Tm": {
        const y = String(operands[5]);
        if (this.lastY !== undefined && y !== this.lastY) this.newline();
        else this.space();
        this.lastY = y;
        break;
      }
    }
  }
}

/** The text a content stream shows, line by line, into `sink`; linear in the stream's length. */
export function contentText(cs: string, fonts: Map<string, Decoder>, sink: TextSink): void {
  const text = new TextLines(sink, fonts);
  let operands: Operand[] = [];
  let array: Operand[] | null = null;
  let lastArray: Operand[] = [];
  let dictDepth = 0;
  const push = (v: Operand) => {
    if (dictDepth > 0) return;
    if (array) array.push(v);
    else if (operands.length < MAX_OPERANDS) operands.push(v);
  };
  let i = 0;
  while (i < cs.length) {
    const c = cs[i] as string;
    let str: string;
    if (/\s/.test(c)) i++;
    else if (c === "%") {
      while (i < cs.length && cs[i] !== "\n" && cs[i] !== "\r") i++;
    } else if (c === "(") {
      [str, i] = readLiteral(cs, i);
      push(str);
    } else if (c === "<" && cs[i + 1] === "<") {
      dictDepth++;
      i += 2;
    } else if (c === ">" && cs[i + 1] === ">") {
      dictDepth = Math.max(0, dictDepth - 1);
      i += 2;
    } else if (c === "<") {
      [str, i] = readHex(cs, i);
      push(str);
    } else if (c === "[" || c === "]") {
      if (dictDepth === 0 && c === "[") array = [];
      else if (dictDepth === 0 && array) [lastArray, array] = [array, null];
      i++;
    } else {
      let j = i + 1;
      while (j < cs.length && !DELIMITER.test(cs[j] as string)) j++;
      const token = cs.slice(i, j);
      i = j;
      if (c === "/") push(token);
      else if (/[0-9+\-.]/.test(c)) push(Number(token));
      else if (dictDepth === 0) {
        if (token === "ID") i = skipInlineImage(cs, i);
        else text.apply(token, operands, lastArray);
        operands = [];
        lastArray = [];
      }
    }
  }
  text.newline();
}
