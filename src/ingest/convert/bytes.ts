// Byte-level helpers the local converters share: bounded inflate through the runtime's own
// DecompressionStream, byte strings, XML entities, and Markdown escaping of extracted text.
import { AppError } from "../../errors";
import { limitExceeded } from "../limits";

/**
 * Every inflated byte of one document together (PDF streams, ZIP entries): a small file that
 * inflates to gigabytes must fail on its own, not take the isolate's memory (128 MB, shared by
 * the requests it serves: https://developers.cloudflare.com/workers/platform/limits/#memory).
 */
export const MAX_INFLATED_BYTES = 32 * 1024 * 1024;

/** What one document may still inflate to; each inflate draws on it. */
export class InflateBudget {
  constructor(public remaining = MAX_INFLATED_BYTES) {}
}

/**
 * Inflates `data` ("deflate": zlib, as PDF's FlateDecode; "deflate-raw": ZIP), drawing on `budget`.
 * Over the budget fails the document. Corrupt data fails too, unless `lenient` and some output came
 * first (PDF writers often leave a bad checksum or trailing bytes; readers keep the text).
 */
export async function inflate(
  data: Uint8Array,
  format: "deflate" | "deflate-raw",
  budget: InflateBudget,
  lenient: boolean,
): Promise<Uint8Array> {
  const reader = new Blob([data]).stream().pipeThrough(new DecompressionStream(format)).getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > budget.remaining) {
        await reader.cancel().catch(() => undefined);
        throw limitExceeded("MAX_INFLATED_BYTES", MAX_INFLATED_BYTES, "inflated content");
      }
      parts.push(value);
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (!lenient || total === 0)
      throw new AppError("unprocessable", "compressed data is corrupt", { retryable: false, cause: err });
  }
  budget.remaining -= total;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Each byte as one UTF-16 unit (ISO 8859-1), so string offsets are byte offsets. */
export function byteString(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

/** The bytes of a byte string (each unit's low 8 bits). */
export function stringBytes(s: string, from = 0, to = s.length): Uint8Array {
  const out = new Uint8Array(to - from);
  for (let i = from; i < to; i++) out[i - from] = s.charCodeAt(i) & 0xff;
  return out;
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** XML text with its predefined and numeric character references resolved. */
export function decodeXmlText(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (whole, ref: string) => {
    if (ref[0] !== "#") return ENTITIES[ref] ?? whole;
    const code = ref[1] === "x" ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : "\ufffd";
  });
}

/**
 * A line of extracted text as Markdown that reads back as the same text: inline syntax escaped,
 * and what would open a heading, quote, list or code block at the line's start.
 */
export function escapeMarkdown(line: string): string {
  return line
    .trim()
    .replace(/[\\`*_[\]<>~&|#]/g, "\\$&")
    .replace(/^[-+=]/, "\\$&")
    .replace(/^(\d{1,9})([.)])/, "$1\\$2");
}
