// The offline converter: PDF, DOCX and CSV in plain JavaScript (pdf.ts, docx.ts, csv.ts), the rest refused
// with a reason that says production converts them. Libraries did not fit the 1 MiB bundle
// budget (docs/platform-limits.md, "Document conversion").
import { AppError, errorMessage } from "../../errors";
import { InflateBudget } from "./bytes";
import type { ConvertedContentType, Converter } from "./converter";
import { csvToMarkdown } from "./csv";
import { docxToMarkdown } from "./docx";
import { pdfToMarkdown } from "./pdf";

/** One format's converter: the document's bytes to Markdown of at most `maxBytes`. */
export type FormatConverter = (bytes: Uint8Array, budget: InflateBudget, maxBytes: number) => Promise<string>;

const FORMATS: Partial<Record<ConvertedContentType, FormatConverter>> = {
  "application/pdf": pdfToMarkdown,
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": docxToMarkdown,
  "text/csv": async (bytes, _budget, maxBytes) => csvToMarkdown(bytes, maxBytes),
};

export class LocalConverter implements Converter {
  constructor(private readonly formats: Partial<Record<ConvertedContentType, FormatConverter>> = FORMATS) {}

  async toMarkdown(bytes: Uint8Array, contentType: ConvertedContentType, maxBytes: number): Promise<string> {
    const convert = this.formats[contentType];
    if (!convert) {
      throw new AppError(
        "unsupported_media_type",
        `${contentType} is converted by Workers AI toMarkdown, which local mode (BACKEND=local) does not have; local mode converts PDF, .docx and CSV only`,
        { retryable: false },
      );
    }
    let markdown: string;
    try {
      markdown = await convert(bytes, new InflateBudget(), maxBytes);
    } catch (err) {
      if (err instanceof AppError) throw err;
      // Anything else is the converter failing on this file (a bug a hostile file found): the
      // same file fails the same way on every delivery, so the document fails now, alone,
      // instead of being retried until its message is dead-lettered.
      throw new AppError(
        "unprocessable",
        `the ${contentType} document could not be converted: ${errorMessage(err)}`,
        {
          retryable: false,
          cause: err,
        },
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
