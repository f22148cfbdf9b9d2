// Turns an uploaded document body into titled, heading-structured text by its content type;
// the API checks the type early with normalizeContentType, the pipeline parses with parseDocument.
import { AppError, errorMessage } from "../errors";
import { MAX_TITLE_CHARS } from "../validation";
import { oneLine, type ParsedDocument, type ParsedSection, plainParagraphs } from "./document";
import { parseHtml } from "./html";
import { type ElementRun, runOf, type ShieldedJson, shieldElementRuns } from "./json-runs";
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
      doc = parseHtml(text);
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

/**
 * The JSON value, its long runs of numbers, and of empty arrays and objects, in arrays standing as
 * markers for `runs` (see json-runs.ts); text that is not JSON fails as JSON.parse fails on it.
 */
function readJsonRuns(body: string, shielded: ShieldedJson): { value: unknown; runs: ElementRun[] } {
  if (shielded.runs.length > 0) {
    try {
      return { value: JSON.parse(shielded.text), runs: shielded.runs };
    } catch {
      // The error to report is the one at its position in the original text, below.
    }
  }
  return { value: readJson(body), runs: [] };
}

function parseJson(body: string, limits: ParseLimits): ParsedDocument {
  // One pass finds the depth, as jsonDepth would, and the runs of elements to cut out.
  const shielded = shieldElementRuns(body, limits.maxJsonDepth);
  if (shielded.depth > limits.maxJsonDepth) {
    throw limitExceeded("MAX_JSON_DEPTH", limits.maxJsonDepth, "JSON nesting depth");
  }
  const { value, runs } = readJsonRuns(body, shielded);
  const flat = { ...limits, runs };
  if (typeof value === "string") return plainDocument(value);
  if (isRecord(value)) {
    const title = recordTitle(value);
    const text = recordText(value);
    if (text !== undefined) return withTitle(title, [{ headings: [], text }]);
    const rest =
      title === undefined ? value : Object.fromEntries(Object.entries(value).filter(([k]) => k !== "title"));
    return withTitle(title, [{ headings: [], text: flatten(rest, flat) }]);
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
  return { sections: [{ headings: [], text: flatten(value, flat) }] };
}

function withTitle(title: string | undefined, sections: ParsedSection[]): ParsedDocument {
  return title === undefined ? { sections } : { title, sections };
}

/**
 * An array or object being flattened: its members in order, the next one, its key path's bytes;
 * for an array, how many more elements than it holds the runs before `next` stand for.
 */
type Frame = {
  value: unknown[] | JsonRecord;
  keys: string[] | undefined;
  next: number;
  pathBytes: number;
  extra: number;
};

/** The bounds flatten keeps to, and the runs the parsed value's markers stand for. */
type FlattenLimits = ParseLimits & { runs: ElementRun[] };

const digits = (n: number): number => (n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : String(n).length);

/**
 * The document's keys and values as lines of text, linear in its size: a string, number or boolean
 * under an object key is a "key: value" line; an array or object under a key is a "key:" line
 * followed by its members; a run of strings, numbers and booleans in an array is one line of values
 * separated by ", ". No line repeats a key path, so the text stays within a small multiple of the
 * document however deep it nests. The members of each top-level key or element form one paragraph.
 * Iterative, so hostile nesting depth cannot overflow the stack; the key path ("a.b[3].c") and the
 * text are bounded by `limits`, and the work stops as soon as one is passed.
 */
function flatten(root: unknown, limits: FlattenLimits): string {
  const single = scalarText(root);
  if (single !== undefined) return single;
  if (!Array.isArray(root) && !isRecord(root)) return "";
  const out = new FlatText(limits.maxParsedTextBytes);
  const stack: Frame[] = [jsonFrame(root, 0, limits)];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as Frame;
    const { value, keys } = top;
    const size = keys === undefined ? (value as unknown[]).length : keys.length;
    if (top.next >= size) {
      stack.pop();
      continue;
    }
    const atTop = stack.length === 1;
    const child =
      keys === undefined
        ? flattenElements(top, value as unknown[], atTop, out, limits)
        : flattenMember(top, keys, atTop, out, limits);
    if (child !== undefined) stack.push(child);
  }
  return out.text();
}

/** A string, number or boolean as text; undefined for anything else. */
function scalarText(v: unknown): string | undefined {
  return typeof v === "string"
    ? oneLine(v)
    : typeof v === "number" || typeof v === "boolean"
      ? String(v)
      : undefined;
}

function checkKeyPath(pathBytes: number, limits: FlattenLimits): void {
  if (pathBytes > limits.maxJsonKeyPathBytes) {
    throw limitExceeded("MAX_JSON_KEY_PATH_BYTES", limits.maxJsonKeyPathBytes, "JSON key path");
  }
}

function jsonFrame(value: unknown[] | JsonRecord, pathBytes: number, limits: FlattenLimits): Frame {
  if (Array.isArray(value)) {
    // The longest key path in an array is its last element's.
    if (value.length > 0) checkKeyPath(pathBytes + digits(elementCount(value, limits) - 1) + 2, limits);
    return { value, keys: undefined, next: 0, pathBytes, extra: 0 };
  }
  return { value, keys: Object.keys(value), next: 0, pathBytes, extra: 0 };
}

/** How many elements the array had in the document, counting each run's. */
function elementCount(items: unknown[], limits: FlattenLimits): number {
  let count = items.length;
  if (limits.runs.length > 0) for (const item of items) count += (runOf(item, limits.runs)?.count ?? 1) - 1;
  return count;
}

/** The text flatten builds: paragraphs of lines, counted against the parsed-text limit as they come. */
class FlatText {
  private readonly paragraphs: string[] = [];
  private lines: string[] = [];
  private bytes = 0;
  private readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** `ascii`: the text is known to be ASCII (numbers and booleans), one byte per character. */
  line(text: string, ascii = false): void {
    // The "\n" (or "\n\n" at a paragraph's start) before each line but the first, counted with it.
    const separator = this.lines.length > 0 ? 1 : this.paragraphs.length > 0 ? 2 : 0;
    this.bytes += (ascii ? text.length : utf8Bytes(text)) + separator;
    if (this.bytes > this.maxBytes) {
      throw limitExceeded("MAX_PARSED_TEXT_BYTES", this.maxBytes, "parsed text");
    }
    this.lines.push(text);
  }

  endParagraph(): void {
    if (this.lines.length > 0) this.paragraphs.push(this.lines.join("\n"));
    this.lines = [];
  }

  text(): string {
    this.endParagraph();
    return this.paragraphs.join("\n\n");
  }
}

/**
 * The array's next elements: a run of values as one line, then the element after it when it is a
 * non-empty array or object (returned as the frame to descend into).
 */
function flattenElements(
  top: Frame,
  items: unknown[],
  atTop: boolean,
  out: FlatText,
  limits: FlattenLimits,
): Frame | undefined {
  const size = items.length;
  // A run of values becomes one line, ", " between them. Found first, then joined at once: a
  // long array is mostly runs, and Array.join converts numbers far faster than a loop of
  // String() calls (a run's text is within a small multiple of its JSON, so it is counted once).
  const start = top.next;
  let i = start;
  let strings = false;
  let numberRuns = false;
  for (; i < size; i++) {
    const v = items[i];
    const t = typeof v;
    if (t === "string") {
      const numbers = runOf(v, limits.runs);
      if (numbers === undefined) strings = true;
      else if (numbers.kind === "empty") break;
      else {
        numberRuns = true;
        top.extra += numbers.count - 1;
      }
    } else if (t !== "number" && t !== "boolean") break;
  }
  if (i > start) {
    const run = start === 0 && i === size ? items : items.slice(start, i);
    // A number run's text is ASCII, as its numbers' would be.
    const text =
      strings || numberRuns
        ? run
            .map((v) => (typeof v === "string" ? stringText(v, limits.runs) : String(v)))
            .filter((v) => v.length > 0)
            .join(", ")
        : run.join(", ");
    if (atTop) out.endParagraph();
    if (text.length > 0) out.line(text, !strings);
  }
  top.next = i + 1;
  const element = items[i];
  // A run of empty arrays and objects: nothing to descend into, its elements counted.
  top.extra += (runOf(element, limits.runs)?.count ?? 1) - 1;
  if ((Array.isArray(element) && element.length > 0) || isRecord(element)) {
    if (atTop) out.endParagraph();
    return jsonFrame(element, top.pathBytes + digits(i + top.extra) + 2, limits);
  }
  return undefined;
}

/** A string in a run of values as text: a number run's marker as its numbers. */
function stringText(v: string, runs: ElementRun[]): string {
  const run = runOf(v, runs);
  return run?.kind === "numbers" ? run.text : oneLine(v);
}

/**
 * The object's next member: a scalar as a "key: value" line; a non-empty array or object as a
 * "key:" line, returned as the frame to descend into.
 */
function flattenMember(
  top: Frame,
  keys: string[],
  atTop: boolean,
  out: FlatText,
  limits: FlattenLimits,
): Frame | undefined {
  const i = top.next++;
  const key = keys[i] as string;
  const member = (top.value as JsonRecord)[key];
  if (atTop) out.endParagraph();
  const pathBytes = top.pathBytes + utf8Bytes(key) + (top.pathBytes === 0 ? 0 : 1);
  checkKeyPath(pathBytes, limits);
  const text = scalarText(member);
  if (text !== undefined) {
    if (text.length > 0) out.line(key === "" ? text : `${key}: ${text}`);
  } else if (Array.isArray(member) || isRecord(member)) {
    const child = jsonFrame(member, pathBytes, limits);
    if ((child.keys ?? (member as unknown[])).length === 0) return undefined;
    if (key !== "") out.line(`${key}:`);
    return child;
  }
  return undefined;
}
