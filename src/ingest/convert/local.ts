// The offline converter: PDF, DOCX and CSV in plain JavaScript (pdf.ts, docx.ts, csv.ts), the rest refused
// with a reason that says production converts them. Libraries did not fit the 1 MiB bundle
// budget (docs/platform-limits.md, "Document conversion").
import { AppError } from "../../errors";
import { InflateBudget } from "./bytes";
import type { ConvertedContentType, Converter } from "./converter";
import { csvToMarkdown } from "./csv";
import { docxToMarkdown } from "./docx";
import { pdfToMarkdown } from "./pdf";

export class LocalConverter implements Converter {
  async toMarkdown(bytes: Uint8Array, contentType: ConvertedContentType, maxBytes: number): Promise<string> {
    const budget = new InflateBudget();
    let markdown: string;
    if (contentType === "application/pdf") markdown = await pdfToMarkdown(bytes, budget, maxBytes);
    else if (contentType.endsWith("wordprocessingml.document"))
      markdown = await docxToMarkdown(bytes, budget, maxBytes);
    else if (contentType === "text/csv") markdown = csvToMarkdown(bytes, maxBytes);
    else {
      throw new AppError(
        "unsupported_media_type",
        `${contentType} is converted by Workers AI toMarkdown, which local mode (BACKEND=local) does not have; local mode converts PDF, .docx and CSV only`,
        { retryable: false },
      );
    }
    if (markdown.trim().length === 0) {
      throw new AppError("unprocessable", "no text found in the document (a scanned PDF has none)", {
        retryable: false,
      });
    }
    return markdown;
  }
}
