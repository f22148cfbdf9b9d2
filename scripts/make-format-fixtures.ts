#!/usr/bin/env node
// `node scripts/make-format-fixtures.ts`: writes the PDF, DOCX and XLSX files the format tests
// ingest (test/fixtures/formats/), built here byte by byte so their content is known and free
// to use: the project made them. Run it again after changing it; the output is deterministic.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { crc32, deflateRawSync, deflateSync } from "node:zlib";
import { ROOT } from "./lib/wrangler.ts";

const OUT = path.join(ROOT, "test/fixtures/formats");

/** A PDF of the given objects (1-based, in order) with a valid xref table; `root` is the catalog. */
function pdf(objects: (string | { dict: string; data: Buffer })[], root: number): Buffer {
  const parts: Buffer[] = [Buffer.from("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "latin1")];
  const offsets: number[] = [];
  let size = parts[0]?.length ?? 0;
  const add = (b: Buffer) => {
    parts.push(b);
    size += b.length;
  };
  objects.forEach((o, i) => {
    offsets.push(size);
    if (typeof o === "string") add(Buffer.from(`${i + 1} 0 obj\n${o}\nendobj\n`, "latin1"));
    else {
      add(
        Buffer.from(
          `${i + 1} 0 obj\n${o.dict.replace(">>", ` /Length ${o.data.length} >>`)}\nstream\n`,
          "latin1",
        ),
      );
      add(o.data);
      add(Buffer.from("\nendstream\nendobj\n", "latin1"));
    }
  });
  const xref = size;
  const rows = offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("");
  add(
    Buffer.from(
      `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${rows}trailer\n<< /Size ${objects.length + 1} /Root ${root} 0 R >>\nstartxref\n${xref}\n%%EOF\n`,
      "latin1",
    ),
  );
  return Buffer.concat(parts);
}

/** A ToUnicode CMap for 2-byte codes: code 0x0100 + i is the i-th character of `alphabet`. */
function toUnicode(alphabet: string): string {
  const hex = (n: number, w: number) => n.toString(16).toUpperCase().padStart(w, "0");
  const chars = [...alphabet].map((ch, i) => `<${hex(0x100 + i, 4)}> <${hex(ch.charCodeAt(0), 4)}>`);
  return [
    "/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
    "1 begincodespacerange <0000> <FFFF> endcodespacerange",
    // The digits as one range, the rest one by one: both forms a ToUnicode CMap uses.
    `1 beginbfrange <0200> <0209> <0030> endbfrange`,
    `${chars.length} beginbfchar`,
    ...chars,
    "endbfchar endcmap CMapName currentdict /CMap defineresource pop end end",
  ].join("\n");
}

/** `text` as a hex string of the 2-byte codes toUnicode(alphabet) maps back. */
function encode(text: string, alphabet: string): string {
  return [...text]
    .map((ch) => {
      const digit = "0123456789".indexOf(ch);
      const code = digit >= 0 ? 0x200 + digit : 0x100 + alphabet.indexOf(ch);
      if (digit < 0 && alphabet.indexOf(ch) < 0) throw new Error(`"${ch}" is not in the alphabet`);
      return code.toString(16).padStart(4, "0");
    })
    .join("");
}

const ALPHABET = " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,:;-'";

/** Two pages, Flate-compressed content streams, a composite font with a ToUnicode CMap. */
function reportPdf(): Buffer {
  const page1 = [
    "Quarterly report of the northern observatory",
    "The dome opened on 212 nights this season.",
    "Cloud cover closed it on the remaining nights.",
  ];
  const page2 = [
    "Instrument notes",
    "The spectrograph recorded aurora telemetry every night.",
    "Calibration lamps were replaced in March.",
  ];
  const content = (lines: string[]) =>
    deflateSync(
      Buffer.from(
        `BT /F1 12 Tf 72 720 Td ${lines.map((l, i) => `${i === 0 ? "" : "0 -16 Td "}<${encode(l, ALPHABET)}> Tj`).join("\n")} ET`,
        "latin1",
      ),
    );
  return pdf(
    [
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /Resources << /Font << /F1 5 0 R >> >> >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 6 0 R >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 7 0 R >>",
      "<< /Type /Font /Subtype /Type0 /BaseFont /Observatory /Encoding /Identity-H /ToUnicode 8 0 R >>",
      { dict: "<< /Filter /FlateDecode >>", data: content(page1) },
      { dict: "<< /Filter /FlateDecode >>", data: content(page2) },
      { dict: "<< /Filter /FlateDecode >>", data: deflateSync(Buffer.from(toUnicode(ALPHABET), "latin1")) },
    ],
    1,
  );
}

/** One page, no compression, a standard font, literal strings with escapes and a TJ array. */
function plainPdf(): Buffer {
  const content = Buffer.from(
    [
      "BT /F1 11 Tf 1 0 0 1 72 700 Tm (Field guide \\(second edition\\)) Tj",
      "1 0 0 1 72 680 Tm [(Moss grows on the ) -300 (north side) 120 ( of old trees.)] TJ",
      "T* (Lichens need clean air.) Tj ET",
    ].join("\n"),
    "latin1",
  );
  return pdf(
    [
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
      { dict: "<< >>", data: content },
    ],
    1,
  );
}

/** A page whose content stream inflates to 48 MiB of spaces. */
function bombPdf(): Buffer {
  const data = deflateSync(Buffer.alloc(48 * 1024 * 1024, 0x20), { level: 9 });
  return pdf(
    [
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
      { dict: "<< /Filter /FlateDecode >>", data },
    ],
    1,
  );
}

/** A ZIP archive of deflated entries (APPNOTE.TXT 4.3), entries in the given order. */
function zip(entries: [string, Buffer][]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of entries) {
    const data = deflateRawSync(content);
    const nameBytes = Buffer.from(name, "utf8");
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(8, 8);
    header.writeUInt32LE(crc32(content), 14);
    header.writeUInt32LE(data.length, 18);
    header.writeUInt32LE(content.length, 22);
    header.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc32(content), 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(content.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(header, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += header.length + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';
const paragraph = (text: string, style?: string) =>
  `<w:p>${style ? `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>` : ""}<w:r><w:t xml:space="preserve">${text}</w:t></w:r></w:p>`;
const cell = (text: string) =>
  `<w:tc><w:tcPr><w:tcW w:w="2000" w:type="dxa"/></w:tcPr>${paragraph(text)}</w:tc>`;

function docx(body: string): Buffer {
  return zip([
    [
      "[Content_Types].xml",
      Buffer.from(
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
      ),
    ],
    [
      "word/document.xml",
      Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?><w:document ${W}><w:body>${body}</w:body></w:document>`,
      ),
    ],
  ]);
}

/** Headings 1 and 2, paragraphs with a tab and a break, entities, and a table. */
function handbookDocx(): Buffer {
  return docx(
    [
      paragraph("Volunteer handbook", "Title"),
      paragraph("Getting started", "Heading1"),
      paragraph("Sign in at the front desk &amp; collect a badge."),
      paragraph("Safety", "Heading2"),
      "<w:p><w:r><w:t>Wear gloves</w:t></w:r><w:r><w:tab/><w:t>near the compost heaps.</w:t><w:br/><w:t>Report injuries at once.</w:t></w:r></w:p>",
      paragraph("Rota", "Heading1"),
      `<w:tbl><w:tr>${cell("Day")}${cell("Task")}</w:tr><w:tr>${cell("Monday")}${cell("Seed sorting")}</w:tr><w:tr>${cell("Tuesday")}${cell("Greenhouse watering")}</w:tr></w:tbl>`,
    ].join(""),
  );
}

/** A DOCX whose document.xml inflates to 48 MiB. */
function bombDocx(): Buffer {
  return docx(`${paragraph("x")}${" ".repeat(48 * 1024 * 1024)}`);
}

/** A minimal spreadsheet package (refused locally before it is read). */
function sheetXlsx(): Buffer {
  return zip([
    [
      "xl/workbook.xml",
      Buffer.from('<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'),
    ],
  ]);
}

const files: [string, Buffer][] = [
  ["report.pdf", reportPdf()],
  ["plain.pdf", plainPdf()],
  ["bomb.pdf", bombPdf()],
  ["truncated.pdf", reportPdf().subarray(0, 100)],
  ["handbook.docx", handbookDocx()],
  ["bomb.docx", bombDocx()],
  ["sheet.xlsx", sheetXlsx()],
];
for (const [name, bytes] of files) {
  await writeFile(path.join(OUT, name), bytes);
  console.log(`${name}: ${bytes.length} bytes`);
}
