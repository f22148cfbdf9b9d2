// The local converters (src/ingest/convert/) on the generated fixtures (test/fixtures/formats/,
// scripts/make-format-fixtures.ts), hostile inputs, and the Workers AI converter against a fake
// binding's answers.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import { LocalConverter } from "../../src/ingest/convert/local";
import { WorkersAiConverter } from "../../src/ingest/convert/workers-ai";
import { parseDocument } from "../../src/ingest/parse";

const fixture = (name: string) =>
  new Uint8Array(readFileSync(path.join(import.meta.dirname, "../fixtures/formats", name)));
const MAX = 4 * 1024 * 1024;
const local = new LocalConverter();

async function failure(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).retryable).toBe(false);
  return err as AppError;
}

describe("local PDF conversion", () => {
  it("reads compressed pages through a ToUnicode CMap, in page order", async () => {
    const md = await local.toMarkdown(fixture("report.pdf"), "application/pdf", MAX);
    expect(md).toContain("Quarterly report of the northern observatory\n");
    expect(md).toContain("The dome opened on 212 nights this season.");
    expect(md.indexOf("northern observatory")).toBeLessThan(md.indexOf("aurora telemetry"));
    expect(md).toContain("The spectrograph recorded aurora telemetry every night.");
  });

  it("reads an uncompressed PDF: escapes, TJ gaps as spaces, lines by Tm and T*", async () => {
    const doc = await parseDocument(
      await local.toMarkdown(fixture("plain.pdf"), "application/pdf", MAX),
      "text/markdown",
    );
    expect(doc.sections[0]?.text).toBe(
      "Field guide (second edition)\nMoss grows on the north side of old trees.\nLichens need clean air.",
    );
  });

  it("fails a stream that inflates past MAX_INFLATED_BYTES", async () => {
    const err = await failure(local.toMarkdown(fixture("bomb.pdf"), "application/pdf", MAX));
    expect(err.message).toBe("inflated content exceeds MAX_INFLATED_BYTES (33554432)");
  });

  it("fails a truncated or garbage PDF with a reason", async () => {
    expect((await failure(local.toMarkdown(fixture("truncated.pdf"), "application/pdf", MAX))).message).toBe(
      "not a readable PDF: no pages found",
    );
    const garbage = new TextEncoder().encode("GIF89a not a pdf at all");
    expect((await failure(local.toMarkdown(garbage, "application/pdf", MAX))).message).toBe(
      "not a PDF: no %PDF- header",
    );
  });

  it("stops at the parsed-text bound", async () => {
    const err = await failure(local.toMarkdown(fixture("report.pdf"), "application/pdf", 50));
    expect(err.message).toBe("converted text exceeds MAX_PARSED_TEXT_BYTES (50)");
  });
});

describe("local DOCX conversion", () => {
  const DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

  it("turns heading styles into sections and a table into rows", async () => {
    const doc = await parseDocument(
      await local.toMarkdown(fixture("handbook.docx"), DOCX, MAX),
      "text/markdown",
    );
    expect(doc.sections.map((s) => s.headings)).toEqual([
      ["Getting started"],
      ["Getting started", "Safety"],
      ["Rota"],
    ]);
    expect(doc.sections[0]?.text).toBe("Sign in at the front desk & collect a badge.");
    expect(doc.sections[1]?.text).toBe("Wear gloves near the compost heaps.\nReport injuries at once.");
    expect(doc.sections[2]?.text).toContain("Tuesday | Greenhouse watering");
  });

  it("fails a ZIP bomb and a file that is no ZIP", async () => {
    expect((await failure(local.toMarkdown(fixture("bomb.docx"), DOCX, MAX))).message).toBe(
      "inflated content exceeds MAX_INFLATED_BYTES (33554432)",
    );
    expect((await failure(local.toMarkdown(fixture("report.pdf"), DOCX, MAX))).message).toBe(
      "not a readable ZIP archive: no end of central directory",
    );
  });

  it("refuses spreadsheets and images locally, naming Workers AI", async () => {
    const err = await failure(
      local.toMarkdown(
        fixture("sheet.xlsx"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        MAX,
      ),
    );
    expect(err.code).toBe("unsupported_media_type");
    expect(err.message).toContain("Workers AI toMarkdown");
  });
});

describe("local CSV conversion", () => {
  it("makes a table of quoted fields, escaped quotes and line breaks inside quotes", async () => {
    const csv = 'species,note\r\n"Puffin, Atlantic","nests in ""burrows""\non cliffs"\n\nGannet,dives\n';
    const md = await local.toMarkdown(new TextEncoder().encode(csv), "text/csv", MAX);
    const doc = await parseDocument(md, "text/markdown");
    expect(doc.sections[0]?.text).toBe(
      'species | note\nPuffin, Atlantic | nests in "burrows" on cliffs\nGannet | dives',
    );
  });
});

describe("Workers AI conversion", () => {
  const converter = (answer: () => unknown) =>
    new WorkersAiConverter({ toMarkdown: (async () => answer()) as unknown as Ai["toMarkdown"] });

  it("returns the Markdown toMarkdown converted", async () => {
    const md = await converter(() => ({
      id: "1",
      name: "document.pdf",
      mimeType: "application/pdf",
      format: "markdown",
      tokens: 3,
      data: "# Title\n\nBody",
    })).toMarkdown(fixture("plain.pdf"), "application/pdf", MAX);
    expect(md).toBe("# Title\n\nBody");
  });

  it("fails the document with toMarkdown's error, not retryable", async () => {
    const err = await failure(
      converter(() => ({
        id: "1",
        name: "document.pdf",
        mimeType: "application/pdf",
        format: "error",
        error: "bad xref",
      })).toMarkdown(fixture("plain.pdf"), "application/pdf", MAX),
    );
    expect(err.message).toBe("conversion of application/pdf failed: bad xref");
  });

  it("retries when the binding throws", async () => {
    const err = await converter(() => {
      throw new Error("network connection lost");
    })
      .toMarkdown(fixture("plain.pdf"), "application/pdf", MAX)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).retryable).toBe(true);
  });
});
