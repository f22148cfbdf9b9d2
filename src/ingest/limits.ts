// The bounds on what one document may turn into (parsed text, JSON nesting and key paths, chunks),
// and the error a document over one of them fails with: it names the setting and its value, and is
// never retried. A small hostile document must not expand into work for everyone: a queue
// consumer invocation shares one CPU limit across its whole batch ("Queue consumer Workers are
// Worker scripts, and share the same per invocation CPU limits as any Workers do", 30 s unless
// limits.cpu_ms raises it, at most 5 minutes: https://developers.cloudflare.com/queues/platform/limits/).
import { AppError } from "../errors";

export interface ParseLimits {
  /** MAX_PARSED_TEXT_BYTES: UTF-8 bytes of readable text a parsed document may hold. */
  maxParsedTextBytes: number;
  /** MAX_JSON_DEPTH: arrays and objects nested inside each other. */
  maxJsonDepth: number;
  /** MAX_JSON_KEY_PATH_BYTES: UTF-8 bytes of one flattened "a.b[3].c" key path. */
  maxJsonKeyPathBytes: number;
}

/** No bounds: for callers that only parse what they wrote themselves. */
export const UNLIMITED: ParseLimits = {
  maxParsedTextBytes: Number.POSITIVE_INFINITY,
  maxJsonDepth: Number.POSITIVE_INFINITY,
  maxJsonKeyPathBytes: Number.POSITIVE_INFINITY,
};

export type LimitName =
  | "MAX_PARSED_TEXT_BYTES"
  | "MAX_JSON_DEPTH"
  | "MAX_JSON_KEY_PATH_BYTES"
  | "MAX_CHUNKS_PER_DOCUMENT"
  | "MAX_INFLATED_BYTES";

/** A document over one of the bounds: 413, not retryable, naming the setting and its value. */
export function limitExceeded(name: LimitName, limit: number, what: string, field?: string): AppError {
  return new AppError("payload_too_large", `${what} exceeds ${name} (${limit})`, {
    retryable: false,
    ...(field === undefined ? {} : { field }),
    extra: { limit: name, max: limit },
  });
}

/** UTF-8 length of `s` in bytes, without encoding it (a lone surrogate counts as U+FFFD: 3 bytes). */
export function utf8Bytes(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      // A surrogate pair: 2 UTF-16 units, 4 bytes.
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2;
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * How deeply arrays and objects nest in JSON text, in one pass without parsing it; stops counting
 * once past `stopAbove`. Brackets inside strings do not count; invalid JSON gets some depth.
 */
export function jsonDepth(text: string, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth = Math.max(0, depth - 1);
    }
  }
  return max;
}
