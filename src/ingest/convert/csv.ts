// CSV (RFC 4180: quoted fields with "" escapes and line breaks inside quotes) to a Markdown table,
// the first row its header; one pass over the text.
import { escapeMarkdown } from "./bytes";
import { TextSink } from "./sink";

export function csvToMarkdown(bytes: Uint8Array, maxBytes: number): string {
  const text = new TextDecoder().decode(bytes);
  const out = new TextSink(maxBytes);
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let rows = 0;
  const endRow = () => {
    row.push(field);
    field = "";
    if (row.some((cell) => cell.trim() !== "")) {
      out.add(`| ${row.map((cell) => escapeMarkdown(cell.replace(/\s+/g, " "))).join(" | ")} |\n`);
      if (rows++ === 0) out.add(`|${" --- |".repeat(row.length)}\n`);
    }
    row = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
    } else field += c;
  }
  if (field !== "" || row.length > 0) endRow();
  return out.text();
}
