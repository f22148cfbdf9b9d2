// Files through the documents API: a PDF or Word document is stored as sent, converted in the
// queue consumer (locally by the pure-JavaScript converter) and then searched like any text; a
// file that cannot be converted fails on its own with a reason. Fixtures come from
// scripts/make-format-fixtures.ts.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { emptyManifest, type FileAccess, runUpload } from "../../scripts/lib/upload-core.ts";
import { createFetchApiSender } from "../../scripts/lib/upload-senders.ts";
import { putMessage } from "../../src/ingest/messages";
import bombDocx from "../fixtures/formats/bomb.docx?inline";
import bombPdf from "../fixtures/formats/bomb.pdf?inline";
import handbookDocx from "../fixtures/formats/handbook.docx?inline";
import reportPdf from "../fixtures/formats/report.pdf?inline";
import sheetXlsx from "../fixtures/formats/sheet.xlsx?inline";
import truncatedPdf from "../fixtures/formats/truncated.pdf?inline";
import { adminKey, api, freshNamespace, TEST_ORIGIN, waitFor, waitForStatus } from "../support";
import { bytesOf, DOCX, PDF, putFile, XLSX } from "../support/files";
import { deliverMessage } from "../support/queue";
import { searchUncached } from "../support/search";

describe("document formats", () => {
  it("finds a phrase that is only on page 2 of a compressed PDF", async () => {
    const ns = freshNamespace("fmt");
    expect((await putFile(ns, "report.pdf", bytesOf(reportPdf), PDF)).status).toBe(202);
    await waitForStatus(ns, "report.pdf", "indexed");
    for (const mode of ["keyword", "hybrid"]) {
      const res = await searchUncached(ns, "spectrograph aurora telemetry", mode);
      expect(res.status).toBe(200);
      expect(res.body.results[0]?.id, mode).toBe("report.pdf");
      expect(res.body.results[0]?.text, mode).toContain("aurora telemetry");
    }
  });

  it("makes a Word document's heading styles its sections", async () => {
    const ns = freshNamespace("fmt");
    expect((await putFile(ns, "handbook.docx", bytesOf(handbookDocx), DOCX)).status).toBe(202);
    await waitForStatus(ns, "handbook.docx", "indexed");
    const res = await searchUncached(ns, "gloves compost heaps", "keyword");
    expect(res.body.results[0]).toMatchObject({
      id: "handbook.docx",
      headings: ["Getting started", "Safety"],
    });
    const rota = await searchUncached(ns, "greenhouse watering", "keyword");
    expect(rota.body.results[0]?.headings).toEqual(["Rota"]);
  });

  it("fails a ZIP bomb, an inflating PDF stream and a truncated PDF each on its own", async () => {
    const ns = freshNamespace("fmt");
    expect((await putFile(ns, "bomb.docx", bytesOf(bombDocx), DOCX)).status).toBe(202);
    expect((await putFile(ns, "bomb.pdf", bytesOf(bombPdf), PDF)).status).toBe(202);
    expect((await putFile(ns, "truncated.pdf", bytesOf(truncatedPdf), PDF)).status).toBe(202);
    expect((await putFile(ns, "report.pdf", bytesOf(reportPdf), PDF)).status).toBe(202);
    const inflated = "inflated content exceeds MAX_INFLATED_BYTES (33554432)";
    expect(await waitForStatus(ns, "bomb.docx", "failed")).toMatchObject({ error: inflated });
    expect(await waitForStatus(ns, "bomb.pdf", "failed")).toMatchObject({ error: inflated });
    expect(await waitForStatus(ns, "truncated.pdf", "failed")).toMatchObject({
      error: "not a readable PDF: no pages found",
    });
    await waitForStatus(ns, "report.pdf", "indexed");
    const res = await searchUncached(ns, "northern observatory", "keyword");
    expect(res.body.results.map((r) => r.id)).toEqual(["report.pdf"]);
  });

  it("fails a spreadsheet locally, saying production converts it", async () => {
    const ns = freshNamespace("fmt");
    expect((await putFile(ns, "sheet.xlsx", bytesOf(sheetXlsx), XLSX)).status).toBe(202);
    const status = await waitForStatus(ns, "sheet.xlsx", "failed");
    expect(status.error).toBe(
      `${XLSX} is converted by Workers AI toMarkdown, which local mode (BACKEND=local) does not have; local mode converts PDF, .docx and CSV only`,
    );
  });

  it("indexes a PDF uploaded straight to R2 without a content type, by its name", async () => {
    const ns = freshNamespace("fmt");
    const key = `${ns}/reports/report.pdf`;
    const object = await env.DOCUMENTS.put(key, bytesOf(reportPdf), {
      httpMetadata: { contentType: "application/octet-stream" },
    });
    const result = await deliverMessage(putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag));
    expect(result.explicitAcks).toHaveLength(1);
    await waitForStatus(ns, "reports/report.pdf", "indexed");
    const res = await searchUncached(ns, "calibration lamps", "keyword");
    expect(res.body.results[0]?.id).toBe("reports/report.pdf");
  });

  it("refuses other binary types, an empty file, an oversized one and a file named in JSON", async () => {
    const ns = freshNamespace("fmt");
    const word97 = await putFile(ns, "a.doc", new Uint8Array([0xd0, 0xcf, 0x11, 0xe0]), "application/msword");
    expect(word97.status).toBe(415);
    expect(word97.body.detail).toContain("a file of one of these types: application/pdf");
    const empty = await putFile(ns, "empty.pdf", new Uint8Array(0), PDF);
    expect(empty).toMatchObject({ status: 400, body: { detail: "document body is empty" } });
    const big = await putFile(ns, "big.pdf", new Uint8Array(1024 * 1024 + 1), PDF);
    expect(big.status).toBe(413);
    expect(big.body.detail).toBe("document body is 1048577 bytes; the limit is 1048576 (MAX_DOCUMENT_BYTES)");
    const named = await api("PUT", `/v1/namespaces/${ns}/documents/x`, {
      text: "%PDF-1.7",
      contentType: PDF,
    });
    expect(named.status).toBe(415);
    expect((named.body as { detail: string }).detail).toContain("PUT the file itself");
    const missing = await api("GET", `/v1/namespaces/${ns}/documents/big.pdf`);
    expect(missing.status).toBe(404);
  });

  it("uploads a folder of PDF and Word files with npm run upload, once", async () => {
    const ns = freshNamespace("fmt");
    const files = new Map<string, Uint8Array>([
      ["corpus/report.pdf", bytesOf(reportPdf)],
      ["corpus/guides/handbook.docx", bytesOf(handbookDocx)],
    ]);
    const fs: FileAccess = {
      stat: async (p) =>
        files.has(p) ? "file" : [...files.keys()].some((k) => k.startsWith(`${p}/`)) ? "directory" : null,
      readdir: async (p) => [
        ...new Set(
          [...files.keys()]
            .filter((k) => k.startsWith(`${p}/`))
            .map((k) => k.slice(p.length + 1).split("/")[0] ?? ""),
        ),
      ],
      readFile: async (p) => files.get(p) ?? new Uint8Array(0),
    };
    const requests: string[] = [];
    const fetch = async (input: string, init?: RequestInit) => {
      const request = new Request(input, init);
      requests.push(
        `${request.method} ${decodeURIComponent(new URL(request.url).pathname)} ${request.headers.get("content-type")}`,
      );
      return exports.default.fetch(request);
    };
    const run = (manifest = emptyManifest(ns)) =>
      runUpload({
        fs,
        inputs: ["corpus"],
        target: "api",
        manifest,
        sender: createFetchApiSender({ fetch, baseUrl: TEST_ORIGIN, apiKey: adminKey(), namespace: ns }),
      });
    const first = await run();
    expect(first.outcomes.map((o) => `${o.id} ${o.status}`).sort()).toEqual([
      "guides/handbook.docx uploaded",
      "report.pdf uploaded",
    ]);
    expect(requests.sort()).toEqual([
      `PUT /v1/namespaces/${ns}/documents/guides/handbook.docx ${DOCX}`,
      `PUT /v1/namespaces/${ns}/documents/report.pdf ${PDF}`,
    ]);
    await waitForStatus(ns, "report.pdf", "indexed");
    await waitForStatus(ns, "guides/handbook.docx", "indexed");
    const again = await run(first.manifest);
    expect(again.outcomes.map((o) => o.status)).toEqual(["skipped", "skipped"]);
  });

  it("converts a PDF again when a version with other chunking is built", async () => {
    const ns = freshNamespace("fmt");
    expect((await putFile(ns, "report.pdf", bytesOf(reportPdf), PDF)).status).toBe(202);
    await waitForStatus(ns, "report.pdf", "indexed");
    const chunking = { maxTokens: 128, overlapTokens: 16 };
    const created = await api("POST", `/v1/namespaces/${ns}/versions`, {
      model: "@cf/baai/bge-small-en-v1.5",
      chunking,
    });
    expect(created.status).toBe(202);
    const ready = await waitFor("v2 to be built", async () => {
      const v = await api<{ state: string; build: { failed: number; done: number } | null }>(
        "GET",
        `/v1/namespaces/${ns}/versions/v2`,
      );
      return v.body.state === "ready" ? v.body : undefined;
    });
    expect(ready.build).toMatchObject({ failed: 0, done: 1 });
    const text = await env.DB.prepare("SELECT text FROM chunks WHERE namespace = ?1 AND version = 'v2'")
      .bind(ns)
      .all<{ text: string }>();
    expect(text.results.map((r) => r.text).join("\n")).toContain("aurora telemetry");
  });
});
