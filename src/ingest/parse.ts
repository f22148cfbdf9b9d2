// Turns an uploaded document body into titled, heading-structured text by its content type;
// the API checks the type early with normalizeContentType, the pipeline parses with parseDocument.
import { AppError, errorMessage } from "../errors";
import { oneLine, type ParsedDocument, type ParsedSection, plainParagraphs } from "./document";
import { parseHtml } from "./html";
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
 * Parses a document body. Throws AppError unsupported_media_type for other types and unprocessable
 * for invalid JSON or a document without text; neither is retryable.
 */
export async function parseDocument(body: string, contentType: string): Promise<ParsedDocument> {
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
      doc = parseJson(text);
      break;
  }
  const sections = doc.sections.filter((s) => s.text.trim().length > 0);
  if (sections.length === 0) {
    throw new AppError("unprocessable", "document has no text", { retryable: false });
  }
  return doc.title ? { title: doc.title, sections } : { sections };
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

function parseJson(body: string): ParsedDocument {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    // V8's message quotes the input: keep only where it broke, never document text.
    const at = /position (\d+)/.exec(errorMessage(err))?.[1];
    throw new AppError("unprocessable", `invalid JSON${at === undefined ? "" : ` at position ${at}`}`, {
      retryable: false,
      cause: err,
    });
  }
  if (typeof value === "string") return plainDocument(value);
  if (isRecord(value)) {
    const title = recordTitle(value);
    const text = recordText(value);
    if (text !== undefined) return withTitle(title, [{ headings: [], text }]);
    const rest =
      title === undefined ? value : Object.fromEntries(Object.entries(value).filter(([k]) => k !== "title"));
    return withTitle(title, [{ headings: [], text: flatten(rest) }]);
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
  return { sections: [{ headings: [], text: flatten(value) }] };
}

function withTitle(title: string | undefined, sections: ParsedSection[]): ParsedDocument {
  return title === undefined ? { sections } : { title, sections };
}

/**
 * Every string, number and boolean leaf as a "path: value" line; the leaves under each top-level
 * key or element form one paragraph. Iterative, so hostile nesting depth cannot overflow the stack.
 */
function flatten(root: unknown): string {
  const paragraphs: string[] = [];
  const topLevel: [string, unknown][] = Array.isArray(root)
    ? root.map((v, i) => [`[${i}]`, v])
    : isRecord(root)
      ? Object.entries(root)
      : [["", root]];
  for (const [path, value] of topLevel) {
    const lines: string[] = [];
    const stack: [string, unknown][] = [[path, value]];
    while (stack.length > 0) {
      const next = stack.pop();
      if (next === undefined) break;
      const [p, v] = next;
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
        const text = oneLine(String(v));
        if (text.length > 0) lines.push(p === "" ? text : `${p}: ${text}`);
      } else if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push([`${p}[${i}]`, v[i]]);
      } else if (isRecord(v)) {
        const entries = Object.entries(v);
        for (let i = entries.length - 1; i >= 0; i--) {
          const entry = entries[i];
          if (entry) stack.push([p === "" ? entry[0] : `${p}.${entry[0]}`, entry[1]]);
        }
      }
    }
    if (lines.length > 0) paragraphs.push(lines.join("\n"));
  }
  return paragraphs.join("\n\n");
}
