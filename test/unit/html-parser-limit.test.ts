// HTML that HTMLRewriter refuses (past lol-html's memory limit) fails for good, not retried.
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import { parseDocument } from "../../src/ingest/parse";

describe("HTML past the parser's memory limit", () => {
  it("is refused permanently with the parser's reason, so the message is not retried", async () => {
    // 174 KB of unclosed <pre> elements: found by the ingest fuzz (npm run fuzz, seed 20261205, d-198).
    const err = await parseDocument("</h1><pre>".repeat(17_442), "text/html").then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: "unprocessable", retryable: false });
    expect((err as AppError).message).toMatch(/memory limit/);
  });
});
