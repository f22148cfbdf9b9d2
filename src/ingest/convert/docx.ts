// Word documents (.docx, Office Open XML, ECMA-376 Part 1 §17) to Markdown without a library:
// word/document.xml read in one pass over its tags. Paragraphs (w:p) of text runs (w:t, w:tab,
// w:br), headings from the paragraph style (Title, Heading1..6), tables (w:tbl) as Markdown tables.
import { AppError } from "../../errors";
import { decodeXmlText, escapeMarkdown, type InflateBudget } from "./bytes";
import { TextSink } from "./sink";
import { readZipEntry } from "./zip";

export async function docxToMarkdown(
  bytes: Uint8Array,
  budget: InflateBudget,
  maxBytes: number,
): Promise<string> {
  const xml = await readZipEntry(bytes, "word/document.xml", budget);
  if (xml === null) {
    throw new AppError("unprocessable", "not a Word document: no word/document.xml", { retryable: false });
  }
  return documentXmlToMarkdown(new TextDecoder().decode(xml), maxBytes);
}

const HEADING_STYLE = /^(?:Heading|heading ?)([1-6])$/;

/** word/document.xml as Markdown; linear in its length (each tag is found by indexOf once). */
export function documentXmlToMarkdown(xml: string, maxBytes: number): string {
  const out = new TextSink(maxBytes);
  let paragraph = "";
  let heading = 0;
  let inText = false;
  let tableDepth = 0;
  let row: string[] = [];
  let cell: string[] = [];
  let rows = 0;
  let i = 0;
  for (;;) {
    const open = xml.indexOf("<", i);
    if (open < 0) break;
    if (inText && open > i) paragraph += decodeXmlText(xml.slice(i, open));
    const close = xml.indexOf(">", open);
    if (close < 0) break;
    i = close + 1;
    const tag = xml.slice(open + 1, close);
    const end = tag[0] === "/";
    const name = /^\/?([\w:.-]{1,64})/.exec(tag)?.[1];
    switch (name) {
      case "w:t":
        inText = !end && !tag.endsWith("/");
        break;
      case "w:tab":
        if (!end) paragraph += " ";
        break;
      case "w:br":
      case "w:cr":
        if (!end) paragraph += "\n";
        break;
      case "w:pStyle": {
        const level = HEADING_STYLE.exec(/w:val="([^"]{0,64})"/.exec(tag)?.[1] ?? "")?.[1];
        heading = level ? Number(level) : /w:val="Title"/.test(tag) ? 1 : heading;
        break;
      }
      case "w:p":
        if (!end) {
          paragraph = "";
          heading = 0;
        } else if (tableDepth > 0) {
          if (paragraph.trim()) cell.push(paragraph);
        } else if (paragraph.trim()) {
          const lines = paragraph.split("\n").map(escapeMarkdown);
          out.add(heading > 0 ? `${"#".repeat(heading)} ${lines.join(" ")}\n\n` : `${lines.join("\n")}\n\n`);
        }
        if (end) paragraph = "";
        break;
      case "w:tbl":
        tableDepth += end ? -1 : tag.endsWith("/") ? 0 : 1;
        if (end && tableDepth === 0) {
          out.add("\n");
          rows = 0;
        }
        break;
      case "w:tc":
        if (end) row.push(cell.map((p) => escapeMarkdown(p.replace(/\s+/g, " "))).join(" "));
        cell = [];
        break;
      case "w:tr":
        if (!end) row = [];
        else if (tableDepth === 1 && row.length > 0) {
          out.add(`| ${row.join(" | ")} |\n`);
          if (rows++ === 0) out.add(`|${" --- |".repeat(row.length)}\n`);
        }
        break;
    }
  }
  return out.text();
}
