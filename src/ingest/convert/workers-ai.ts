// Conversion through Workers AI's toMarkdown (env.AI.toMarkdown({ name, blob })): one document per
// call; its answer is { name, mimeType, format: "markdown" | "error", data | error, tokens }
// (https://developers.cloudflare.com/workers-ai/features/markdown-conversion/usage/binding/, and
// ConversionResponse in @cloudflare/workers-types). An "error" answer is the document's own
// fault and fails it; a thrown call is the service's and is retried.
import { z } from "zod";
import { AppError, errorMessage } from "../../errors";
import { limitExceeded } from "../limits";
import { CONVERTED_CONTENT_TYPES, type ConvertedContentType, type Converter } from "./converter";

const ConversionSchema = z.union([
  z.object({ format: z.literal("error"), error: z.string() }),
  z.object({ format: z.enum(["markdown", "text"]), data: z.string() }),
]);

export class WorkersAiConverter implements Converter {
  constructor(private readonly ai: Pick<Ai, "toMarkdown">) {}

  async toMarkdown(bytes: Uint8Array, contentType: ConvertedContentType, maxBytes: number): Promise<string> {
    // toMarkdown picks the converter by the name's extension.
    const name = `document.${CONVERTED_CONTENT_TYPES[contentType]}`;
    let answer: unknown;
    try {
      answer = await this.ai.toMarkdown({ name, blob: new Blob([bytes], { type: contentType }) });
    } catch (err) {
      throw new AppError("upstream_failed", `Workers AI toMarkdown failed: ${errorMessage(err)}`, {
        retryable: true,
        cause: err,
      });
    }
    const result = ConversionSchema.safeParse(answer);
    if (!result.success) {
      throw new AppError("upstream_failed", "Workers AI toMarkdown answered in an unexpected shape", {
        retryable: true,
      });
    }
    if (result.data.format === "error") {
      throw new AppError("unprocessable", `conversion of ${contentType} failed: ${result.data.error}`, {
        retryable: false,
      });
    }
    if (result.data.data.length > maxBytes) {
      throw limitExceeded("MAX_PARSED_TEXT_BYTES", maxBytes, "converted text");
    }
    return result.data.data;
  }
}
