// Turns an uploaded document body into titled, heading-structured text by its content type;
// the API checks the type early with normalizeContentType, the pipeline parses with parseDocument.
import { AppError, errorMessage } from "../errors";
import { MAX_TITLE_CHARS } from "../validation";
import { oneLine, type ParsedDocument, type ParsedSection, plainParagraphs } from "./document";
import { parseHtml } from "./html";
import { jsonDepth, limitExceeded, type ParseLimits, UNLIMITED, utf8Bytes } from "./limits";
import { parseMarkdown } from "./markdown";

export type { ParsedDocument, ParsedSection } from "./document";

export const SUPPORTED_CONTENT_TYPES = [
  "text/plain",
  "text/markdown",
  "text/html",
  "application/json",
] as const;
export type SupportedContentType = (typeof SUPPORTED_CONTENT_TYPES)[number];

const ALIASES = new Map<string, SupportedContentType>([
  ["text/x-markdown", "text/markdown"],
  ["application/xhtml+xml", "text/html"],
]);

/** The supported media type a Content-Type header names (parameters ignored), or null. */
export function normalizeContentType(contentType: string): SupportedContentType | null {
  const essence = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  const alias = ALIASES.get(essence);
  if (alias) return alias;
  return (SUPPORTED_CONTENT_TYPES as readonly string[]).includes(essence)
    ? (essence as SupportedContentType)
    : null;
}

/**
 * Parses a document body. Throws AppError unsupported_media_type for other types, unprocessable
 * for invalid JSON or a document without text, and payload_too_large for a document over one of
 * `limits`; none is retryable.
 */
export async function parseDocument(
  body: string,
  contentType: string,
  limits: ParseLimits = UNLIMITED,
): Promise<ParsedDocument> {
  const type = normalizeContentType(contentType);
  if (type === null) {
    throw new AppError("unsupported_media_type", `content type "${contentType}" is not supported`, {
      retryable: false,
      extra: { supported: [...SUPPORTED_CONTENT_TYPES] },
    });
  }
  const text = body.startsWith("\ufeff") ? body.slice(1) : body;
  let doc: ParsedDocument;
  switch (type) {
    case "text/plain":
      doc = plainDocument(text);
      break;
    case "text/markdown":
      doc = parseMarkdown(text);
      break;
    case "text/html":
      doc = await parseHtml(text);
      break;
    case "application/json":
      doc = parseJson(text, limits);
      break;
  }
  const sections = doc.sections.filter((s) => s.text.trim().length > 0);
  // A title longer than any the API accepts is text, not a title to repeat before every chunk.
  let title = doc.title;
  if (title !== undefined && title.length > MAX_TITLE_CHARS) {
    sections.unshift({ headings: [], text: title });
    title = undefined;
  }
  if (sections.length === 0) {
    throw new AppError("unprocessable", "document has no text", { retryable: false });
  }
  let bytes = 0;
  for (const section of sections) bytes += utf8Bytes(section.text);
  if (bytes > limits.maxParsedTextBytes) {
    throw limitExceeded("MAX_PARSED_TEXT_BYTES", limits.maxParsedTextBytes, "parsed text");
  }
  return title ? { title, sections } : { sections };
}

/**
 * Checks JSON text the way the pipeline will parse it, so the API can refuse it up front: too deep
 * (413) or not JSON at all (422), naming `field`.
 */
export function checkJson(text: string, limits: Pick<ParseLimits, "maxJsonDepth">, field: string): void {
  if (jsonDepth(text, limits.maxJsonDepth) > limits.maxJsonDepth) {
    throw limitExceeded("MAX_JSON_DEPTH", limits.maxJsonDepth, "JSON nesting depth", field);
  }
  readJson(text.startsWith("\ufeff") ? text.slice(1) : text, field);
}

function readJson(body: string, field?: string): unknown {
  try {
    return JSON.parse(body);
  } catch (err) {
    // V8's message quotes the input: keep only where it broke, never document text.
    const at = /position (\d+)/.exec(errorMessage(err))?.[1];
    throw new AppError("unprocessable", `invalid JSON${at === undefined ? "" : ` at position ${at}`}`, {
      retryable: false,
      cause: err,
      ...(field === undefined ? {} : { field }),
    });
  }
}

function plainDocument(text: string): ParsedDocument {
  return { sections: [{ headings: [], text: plainParagraphs(text).join("\n\n") }] };
}

type JsonRecord = Record<string, unknown>;

const TEXT_FIELDS = ["text", "content", "body"] as const;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringField(record: JsonRecord, key: string): string | undefined {
  const value = record[key];
  return typeof value === "string" && value.trim().length > 0 ? value : undefined;
}

/** The text of a {title?, text|content|body} record, or undefined when it has none of those fields. */
function recordText(record: JsonRecord): string | undefined {
  const parts = TEXT_FIELDS.map((key) => stringField(record, key)).filter((v) => v !== undefined);
  return parts.length > 0 ? plainParagraphs(parts.join("\n\n")).join("\n\n") : undefined;
}

function recordTitle(record: JsonRecord): string | undefined {
  const title = stringField(record, "title");
  return title === undefined ? undefined : oneLine(title);
}

function parseJson(body: string, limits: ParseLimits): ParsedDocument {
  if (jsonDepth(body, limits.maxJsonDepth) > limits.maxJsonDepth) {
    throw limitExceeded("MAX_JSON_DEPTH", limits.maxJsonDepth, "JSON nesting depth");
  }
  const value = readJson(body);
  if (typeof value === "string") return plainDocument(value);
  if (isRecord(value)) {
    const title = recordTitle(value);
    const text = recordText(value);
    if (text !== undefined) return withTitle(title, [{ headings: [], text }]);
    const rest =
      title === undefined ? value : Object.fromEntries(Object.entries(value).filter(([k]) => k !== "title"));
    return withTitle(title, [{ headings: [], text: flatten(rest, limits) }]);
  }
  // An array of documents: each one becomes a section under its own title.
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((v) => isRecord(v) && recordText(v) !== undefined)
  ) {
    const sections: ParsedSection[] = value.filter(isRecord).map((record) => {
      const title = recordTitle(record);
      return { headings: title === undefined ? [] : [title], text: recordText(record) ?? "" };
    });
    return { sections };
  }
  return { sections: [{ headings: [], text: flatten(value, limits) }] };
}

function withTitle(title: string | undefined, sections: ParsedSection[]): ParsedDocument {
  return title === undefined ? { sections } : { title, sections };
}

/** A value waiting to be flattened, with its key path and the path's length in UTF-8 bytes. */
type Pending = [path: string, pathBytes: number, value: unknown];

/**
 * Every string, number and boolean leaf as a "path: value" line; the leaves under each top-level
 * key or element form one paragraph. Iterative, so hostile nesting depth cannot overflow the stack.
 * Each line repeats its whole key path, so text can outgrow its document by far: the key path and
 * the text are bounded by `limits`, and the work stops as soon as one is passed.
 */
function flatten(root: unknown, limits: ParseLimits): string {
  const paragraphs: string[] = [];
  let textBytes = 0;
  let anyLine = false;
  const child = (parent: Pending, key: string, bytes: number, value: unknown, array: boolean): Pending => {
    const [p, pBytes] = parent;
    const path = array ? `${p}[${key}]` : p === "" ? key : `${p}.${key}`;
    const pathBytes = pBytes + bytes + (array ? 2 : p === "" ? 0 : 1);
    if (pathBytes > limits.maxJsonKeyPathBytes) {
      throw limitExceeded("MAX_JSON_KEY_PATH_BYTES", limits.maxJsonKeyPathBytes, "JSON key path");
    }
    return [path, pathBytes, value];
  };
  const top: Pending = ["", 0, root];
  const topLevel: Pending[] = Array.isArray(root)
    ? root.map((v, i) => child(top, String(i), String(i).length, v, true))
    : isRecord(root)
      ? Object.entries(root).map(([k, v]) => child(top, k, utf8Bytes(k), v, false))
      : [top];
  for (const entry of topLevel) {
    const lines: string[] = [];
    const stack: Pending[] = [entry];
    while (stack.length > 0) {
      const next = stack.pop();
      if (next === undefined) break;
      const [p, pBytes, v] = next;
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
        const text = oneLine(String(v));
        if (text.length === 0) continue;
        // The line, and the "\n" or "\n\n" that separates it from the one before.
        textBytes +=
          utf8Bytes(text) + (p === "" ? 0 : pBytes + 2) + (anyLine ? (lines.length > 0 ? 1 : 2) : 0);
        if (textBytes > limits.maxParsedTextBytes) {
          throw limitExceeded("MAX_PARSED_TEXT_BYTES", limits.maxParsedTextBytes, "parsed text");
        }
        anyLine = true;
        lines.push(p === "" ? text : `${p}: ${text}`);
      } else if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--)
          stack.push(child(next, String(i), String(i).length, v[i], true));
      } else if (isRecord(v)) {
        const entries = Object.entries(v);
        for (let i = entries.length - 1; i >= 0; i--) {
          const e = entries[i];
          if (e) stack.push(child(next, e[0], utf8Bytes(e[0]), e[1], false));
        }
      }
    }
    if (lines.length > 0) paragraphs.push(lines.join("\n"));
  }
  return paragraphs.join("\n\n");
}
