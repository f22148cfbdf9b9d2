// PDF to text without a library, for the local stand-in: objects found by scanning (no xref
// table needed, so damaged files still read), object streams unpacked, the page tree walked
// for page order, content streams inflated (FlateDecode) and their text operators read (Tj, TJ,
// ', ", with Td/TD/T*/Tm as line breaks), fonts with a ToUnicode CMap (bfchar, bfrange) decoded
// through it. ISO 32000-1: §7.3 objects, §7.5.7 object streams, §7.7.3 page tree, §9.4 text
// operators, §9.10.3 ToUnicode CMaps. Every scan moves forward only; every output is bounded.
import { AppError } from "../../errors";
import { byteString, type InflateBudget, inflate, stringBytes } from "./bytes";
import { contentText, type Decoder, LATIN1 } from "./pdf-text";
import { TextSink } from "./sink";

/** Objects read from one file (direct and in object streams). */
export const MAX_PDF_OBJECTS = 100_000;
/** Characters one ToUnicode CMap maps (codes are at most 2 bytes here). */
const MAX_CMAP_ENTRIES = 65_536;
const MAX_DICT_CHARS = 65_536;

interface PdfObject {
  dict: string;
  /** The stream's raw bytes in the file, as [start, end). */
  stream?: [number, number];
  /** An object read from an object stream: its text, already inflated. */
  inStream?: boolean;
}

function fail(message: string): AppError {
  return new AppError("unprocessable", message, { retryable: false });
}

const REF = /(\d{1,10})\s{1,10}\d{1,5}\s{1,10}R/;

/** The object number `key` refers to in `dict` (/Key N G R), or undefined. */
function refOf(dict: string, key: string): number | undefined {
  const m = new RegExp(`/${key}\\s{0,10}${REF.source}`).exec(dict);
  return m ? Number(m[1]) : undefined;
}

/** The object numbers of an array of references /Key [N G R ...], or of a single reference. */
function refsOf(dict: string, key: string): number[] {
  const array = new RegExp(`/${key}\\s{0,10}\\[([^\\]]{0,${MAX_DICT_CHARS}})\\]`).exec(dict);
  if (!array) {
    const one = refOf(dict, key);
    return one === undefined ? [] : [one];
  }
  return [...(array[1] ?? "").matchAll(new RegExp(REF.source, "g"))].map((m) => Number(m[1]));
}

/** The inline dictionary /Key << ... >> in `dict` (balanced), or undefined. */
function inlineDictOf(dict: string, key: string): string | undefined {
  const m = new RegExp(`/${key}\\s{0,10}<<`).exec(dict);
  if (!m) return undefined;
  let depth = 0;
  for (let i = m.index + m[0].length - 2; i < dict.length - 1; i++) {
    if (dict[i] === "<" && dict[i + 1] === "<") {
      depth++;
      i++;
    } else if (dict[i] === ">" && dict[i + 1] === ">") {
      depth--;
      i++;
      if (depth === 0) return dict.slice(m.index + m[0].length, i - 1);
    }
  }
  return undefined;
}

/** Finds the next occurrence of a keyword at or after a position that only moves forward. */
class Finder {
  private at = -2;
  constructor(
    private readonly s: string,
    private readonly word: string,
  ) {}
  next(from: number): number {
    if (this.at === -1 || this.at >= from) return this.at;
    this.at = this.s.indexOf(this.word, from);
    return this.at;
  }
}

/** Every object of the file by number; a later definition replaces an earlier one (updates). */
function scanObjects(s: string): Map<number, PdfObject> {
  const objects = new Map<number, PdfObject>();
  const header = /(\d{1,10})\s{1,10}\d{1,5}\s{1,10}obj\b/g;
  const streams = new Finder(s, "stream");
  const endstreams = new Finder(s, "endstream");
  const endobjs = new Finder(s, "endobj");
  for (let m = header.exec(s); m !== null; m = header.exec(s)) {
    if (objects.size >= MAX_PDF_OBJECTS) throw fail(`PDF has more than ${MAX_PDF_OBJECTS} objects`);
    const body = header.lastIndex;
    const endobj = endobjs.next(body);
    const stream = streams.next(body);
    const limit = endobj < 0 ? s.length : endobj;
    if (stream >= 0 && stream < limit) {
      let start = stream + 6;
      if (s[start] === "\r") start++;
      if (s[start] === "\n") start++;
      const dict = s.slice(body, stream);
      const length = /\/Length\s{0,10}(\d{1,10})(?!\d|\s{1,10}\d{1,5}\s{1,10}R)/.exec(dict);
      let end = endstreams.next(start);
      const declared = length ? start + Number(length[1]) : -1;
      if (
        declared >= start &&
        declared <= s.length &&
        /^\s{0,4}endstream/.test(s.slice(declared, declared + 14))
      )
        end = declared;
      if (end < 0) end = s.length;
      objects.set(Number(m[1]), { dict: dict.slice(0, MAX_DICT_CHARS), stream: [start, end] });
      header.lastIndex = Math.max(header.lastIndex, end);
    } else {
      objects.set(Number(m[1]), { dict: s.slice(body, Math.min(limit, body + MAX_DICT_CHARS)) });
      header.lastIndex = limit < 0 ? s.length : limit;
    }
  }
  return objects;
}

/** A stream's decoded bytes as a byte string; null for filters other than FlateDecode. */
async function streamText(
  s: string,
  obj: PdfObject | undefined,
  budget: InflateBudget,
): Promise<string | null> {
  if (!obj?.stream) return null;
  const raw = stringBytes(s, obj.stream[0], obj.stream[1]);
  const filter = /\/Filter\s{0,10}\[?\s{0,10}\/(\w{1,32})/.exec(obj.dict)?.[1];
  if (filter === undefined) return byteString(raw);
  if (filter !== "FlateDecode" && filter !== "Fl") return null;
  return byteString(await inflate(raw, "deflate", budget, true));
}

/** Adds the objects packed in object streams (PDF 1.5) that no direct object defines. */
async function unpackObjectStreams(s: string, objects: Map<number, PdfObject>, budget: InflateBudget) {
  for (const obj of [...objects.values()]) {
    if (!/\/Type\s{0,10}\/ObjStm\b/.test(obj.dict)) continue;
    const text = await streamText(s, obj, budget);
    const first = Number(/\/First\s{0,10}(\d{1,10})/.exec(obj.dict)?.[1] ?? Number.NaN);
    if (text === null || !Number.isFinite(first)) continue;
    const pairs = text.slice(0, first).match(/\d{1,10}/g) ?? [];
    for (let k = 0; k + 1 < pairs.length; k += 2) {
      if (objects.size >= MAX_PDF_OBJECTS) throw fail(`PDF has more than ${MAX_PDF_OBJECTS} objects`);
      const num = Number(pairs[k]);
      const from = first + Number(pairs[k + 1]);
      const to = k + 3 < pairs.length ? first + Number(pairs[k + 3]) : text.length;
      if (!objects.has(num))
        objects.set(num, { dict: text.slice(from, Math.min(to, from + MAX_DICT_CHARS)), inStream: true });
    }
  }
}

interface Page {
  dict: string;
  resources: string;
}

/** The pages in order: the page tree from the catalog, or else every /Type /Page in number order. */
function pagesOf(s: string, objects: Map<number, PdfObject>): Page[] {
  const resourcesOf = (dict: string, inherited: string): string => {
    const ref = refOf(dict, "Resources");
    return (ref === undefined ? inlineDictOf(dict, "Resources") : objects.get(ref)?.dict) ?? inherited;
  };
  const roots = [...s.matchAll(new RegExp(`/Root\\s{0,10}${REF.source}`, "g"))];
  const catalog = objects.get(Number(roots[roots.length - 1]?.[1]));
  const top = catalog ? refOf(catalog.dict, "Pages") : undefined;
  const pages: Page[] = [];
  const seen = new Set<number>();
  const stack: { num: number; resources: string }[] = top === undefined ? [] : [{ num: top, resources: "" }];
  while (stack.length > 0) {
    const { num, resources } = stack.pop() as { num: number; resources: string };
    const node = objects.get(num);
    if (!node || seen.has(num)) continue;
    seen.add(num);
    const own = resourcesOf(node.dict, resources);
    const kids = refsOf(node.dict, "Kids");
    if (/\/Type\s{0,10}\/Pages\b/.test(node.dict) || kids.length > 0) {
      for (let k = kids.length - 1; k >= 0; k--) stack.push({ num: kids[k] as number, resources: own });
    } else pages.push({ dict: node.dict, resources: own });
  }
  if (pages.length > 0) return pages;
  return [...objects.entries()]
    .sort((a, b) => a[0] - b[0])
    .filter(([, o]) => /\/Type\s{0,10}\/Page(?![s\w])/.test(o.dict))
    .map(([, o]) => ({ dict: o.dict, resources: resourcesOf(o.dict, "") }));
}

/** The code-to-Unicode map of a ToUnicode CMap, as a decoder of byte strings. */
export function cmapDecoder(cmap: string): Decoder {
  const map = new Map<number, string>();
  const hex = (h: string) => h.replace(/[^0-9a-fA-F]/g, "");
  const utf16 = (h: string) => {
    const clean = hex(h);
    let out = "";
    for (let i = 0; i + 3 < clean.length; i += 4)
      out += String.fromCharCode(Number.parseInt(clean.slice(i, i + 4), 16));
    return out;
  };
  const space = /begincodespacerange\s{0,10}<([0-9a-fA-F\s]{1,16})>/.exec(cmap);
  let width = space ? Math.ceil(hex(space[1] ?? "").length / 2) : 0;
  let work = 0;
  for (let at = cmap.indexOf("beginbf"); at >= 0; at = cmap.indexOf("beginbf", at)) {
    const end = cmap.indexOf("endbf", at);
    if (end < 0) break;
    const kind = cmap.startsWith("beginbfchar", at) ? "char" : "range";
    const body = cmap.slice(at + 11, end);
    at = end + 5;
    // bfchar: <src> <dst> pairs; bfrange: <lo> <hi> <dst> or <lo> <hi> [<dst> ...].
    const entries =
      kind === "char"
        ? body.matchAll(/<([0-9a-fA-F\s]{1,16})>()\s{0,10}(<[0-9a-fA-F\s]{0,512}>)/g)
        : body.matchAll(
            /<([0-9a-fA-F\s]{1,16})>\s{0,10}<([0-9a-fA-F\s]{1,16})>\s{0,10}(<[0-9a-fA-F\s]{0,512}>|\[[^\]]{0,65536}\])/g,
          );
    for (const e of entries) {
      const lo = Number.parseInt(hex(e[1] ?? ""), 16);
      if (width === 0) width = Math.ceil(hex(e[1] ?? "").length / 2);
      const dst = e[3] ?? "";
      if (kind === "char" || !e[2]) {
        if (map.size < MAX_CMAP_ENTRIES) map.set(lo, utf16(dst));
        continue;
      }
      const hi = Math.min(Number.parseInt(hex(e[2]), 16), lo + MAX_CMAP_ENTRIES);
      const list = dst.startsWith("[")
        ? [...dst.matchAll(/<([0-9a-fA-F\s]{0,512})>/g)].map((x) => utf16(x[1] ?? ""))
        : null;
      const base = list ? "" : utf16(dst);
      for (let c = lo; c <= hi && map.size < MAX_CMAP_ENTRIES && work++ < 4 * MAX_CMAP_ENTRIES; c++) {
        if (list) map.set(c, list[c - lo] ?? "");
        else map.set(c, base.slice(0, -1) + String.fromCharCode(base.charCodeAt(base.length - 1) + (c - lo)));
      }
    }
  }
  const step = width === 2 ? 2 : 1;
  return (bytes) => {
    let out = "";
    for (let i = 0; i + step - 1 < bytes.length; i += step) {
      const code = step === 2 ? (bytes.charCodeAt(i) << 8) | bytes.charCodeAt(i + 1) : bytes.charCodeAt(i);
      out += map.get(code) ?? (step === 1 ? bytes[i] : "");
    }
    return out;
  };
}

/** The page's fonts by resource name, each as its decoder. */
async function fontsOf(
  s: string,
  page: Page,
  objects: Map<number, PdfObject>,
  budget: InflateBudget,
  cache: Map<number, Decoder>,
) {
  const fontRef = refOf(page.resources, "Font");
  const fontDict =
    (fontRef === undefined ? inlineDictOf(page.resources, "Font") : objects.get(fontRef)?.dict) ?? "";
  const fonts = new Map<string, Decoder>();
  for (const m of fontDict.matchAll(new RegExp(`/([^\\s/<>\\[\\]()]{1,64})\\s{0,10}${REF.source}`, "g"))) {
    const num = Number(m[2]);
    let decoder = cache.get(num);
    if (!decoder) {
      const font = objects.get(num);
      const toUnicode = font ? refOf(font.dict, "ToUnicode") : undefined;
      const cmap = toUnicode === undefined ? null : await streamText(s, objects.get(toUnicode), budget);
      decoder = cmap === null ? LATIN1 : cmapDecoder(cmap);
      cache.set(num, decoder);
    }
    fonts.set(m[1] ?? "", decoder);
  }
  return fonts;
}

/** The text of a PDF as Markdown paragraphs, a page per paragraph group, bounded by `maxBytes`. */
export async function pdfToMarkdown(
  bytes: Uint8Array,
  budget: InflateBudget,
  maxBytes: number,
): Promise<string> {
  const s = byteString(bytes);
  if (!s.slice(0, 1024).includes("%PDF-")) throw fail("not a PDF: no %PDF- header");
  const objects = scanObjects(s);
  if (/\/Encrypt\s{0,10}(?:\d|<<)/.test(s)) throw fail("the PDF is encrypted");
  await unpackObjectStreams(s, objects, budget);
  const pages = pagesOf(s, objects);
  if (pages.length === 0) throw fail("not a readable PDF: no pages found");
  const sink = new TextSink(maxBytes);
  const fontCache = new Map<number, Decoder>();
  for (const page of pages) {
    const fonts = await fontsOf(s, page, objects, budget, fontCache);
    for (const num of refsOf(page.dict, "Contents")) {
      const cs = await streamText(s, objects.get(num), budget);
      if (cs !== null) contentText(cs, fonts, sink);
    }
    sink.add("\n");
  }
  return sink.text();
}
