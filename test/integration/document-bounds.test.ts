// What one document may expand into: a document over a bound (parsed text, JSON depth and key path,
// chunks) ends failed through the queue with a reason naming the setting and its value, never cut
// short; the API refuses JSON it can already tell will fail (too deep, not JSON).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type Config, loadConfig } from "../../src/config";
import { putMessage } from "../../src/ingest/messages";
import { processMessage } from "../../src/ingest/pipeline";
import { createLogger } from "../../src/observe/logger";
import { DocumentStore } from "../../src/store/documents";
import { workerEnv } from "../../workers/env";
import { buildServices } from "../../workers/services";
import { api, freshNamespace } from "../support";
import { deliverMessage } from "../support/queue";

/** Puts a document straight into R2 (as an upload would, without the API's checks). */
async function upload(ns: string, id: string, text: string, contentType: string) {
  const object = await env.DOCUMENTS.put(`${ns}/${id}`, text, { customMetadata: { contentType } });
  if (!object) throw new Error("R2 put returned no object");
  return putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/${id}`, object.size, object.etag);
}

/** Runs the consumer's per-message step with some settings changed. */
async function processWith(overrides: Partial<Config>, body: unknown) {
  const config = { ...loadConfig(env), ...overrides };
  const services = buildServices(workerEnv(env), config, createLogger("error"), {
    defer: () => undefined,
    path: "ingest",
    faults: null,
  });
  return processMessage(services, body, 1);
}

async function row(ns: string, id: string) {
  return new DocumentStore(env.DB).get(ns, id);
}

async function chunkRows(ns: string, id: string): Promise<number> {
  const r = await env.DB.prepare("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ? AND doc_id = ?")
    .bind(ns, id)
    .first<{ n: number }>();
  return r?.n ?? 0;
}

/** Objects nested `depth` deep around a value. */
function nested(depth: number, key: string, inner: string): string {
  return `${`{"${key}":`.repeat(depth)}${inner}${"}".repeat(depth)}`;
}

const prose = (paragraphs: number) =>
  Array.from(
    { length: paragraphs },
    (_, i) =>
      `Paragraph ${i}: storm petrels feed on plankton far out at sea and come ashore only at night to nest in burrows on remote islands, where they are safe from gulls.`,
  ).join("\n\n");

describe("ingest bounds", () => {
  it("fails a document whose parsed text is over MAX_PARSED_TEXT_BYTES", async () => {
    const ns = freshNamespace("lim");
    const message = await upload(ns, "big", prose(40), "text/plain");
    const decision = await processWith(
      { parseLimits: { ...loadConfig(env).parseLimits, maxParsedTextBytes: 2048 } },
      message,
    );
    expect(decision).toMatchObject({ type: "ack", outcome: "failed" });
    const r = await row(ns, "big");
    expect(r?.status).toBe("failed");
    expect(r?.error).toBe("parsed text exceeds MAX_PARSED_TEXT_BYTES (2048)");
    expect(await chunkRows(ns, "big")).toBe(0);
  });

  it("fails a document with more chunks than MAX_CHUNKS_PER_DOCUMENT", async () => {
    const ns = freshNamespace("lim");
    const message = await upload(ns, "long", prose(60), "text/plain");
    const decision = await processWith({ maxChunksPerDocument: 3 }, message);
    expect(decision).toMatchObject({ type: "ack", outcome: "failed" });
    const r = await row(ns, "long");
    expect(r?.status).toBe("failed");
    expect(r?.error).toBe("chunks of the document exceeds MAX_CHUNKS_PER_DOCUMENT (3)");
    expect(await chunkRows(ns, "long")).toBe(0);
  });

  it("fails JSON nested deeper than MAX_JSON_DEPTH, through the queue", async () => {
    const ns = freshNamespace("lim");
    const depth = loadConfig(env).parseLimits.maxJsonDepth;
    const result = await deliverMessage(
      await upload(ns, "deep", nested(depth + 1, "a", '"x"'), "application/json"),
    );
    expect(result.explicitAcks).toHaveLength(1);
    const r = await row(ns, "deep");
    expect(r?.status).toBe("failed");
    expect(r?.error).toBe(`JSON nesting depth exceeds MAX_JSON_DEPTH (${depth})`);

    // One level less is indexed.
    const ok = freshNamespace("lim");
    await deliverMessage(await upload(ok, "deep", nested(depth, "a", '"storm petrels"'), "application/json"));
    expect((await row(ok, "deep"))?.status).toBe("indexed");
  });

  it("fails JSON with a key path over MAX_JSON_KEY_PATH_BYTES, through the queue", async () => {
    const ns = freshNamespace("lim");
    const max = loadConfig(env).parseLimits.maxJsonKeyPathBytes;
    const key = "k".repeat(Math.ceil(max / 2));
    await deliverMessage(await upload(ns, "path", nested(2, key, '"storm petrels"'), "application/json"));
    const r = await row(ns, "path");
    expect(r?.status).toBe("failed");
    expect(r?.error).toBe(`JSON key path exceeds MAX_JSON_KEY_PATH_BYTES (${max})`);
  });

  it("fails invalid JSON uploaded straight to R2, without quoting it", async () => {
    const ns = freshNamespace("lim");
    await deliverMessage(await upload(ns, "broken", "{ this is not json", "application/json"));
    const r = await row(ns, "broken");
    expect(r?.status).toBe("failed");
    expect(r?.error).toMatch(/^invalid JSON/);
    expect(r?.error).not.toContain("this is not");
  });

  it("does not let 41 KB of nested JSON around a long array expand into thousands of chunks", async () => {
    const ns = freshNamespace("lim");
    const config = loadConfig(env);
    // Nesting within MAX_JSON_DEPTH, key paths within MAX_JSON_KEY_PATH_BYTES, 20,000 numbers
    // under 60 keys: flattening that repeated each key path would make them thousands of chunks.
    const body = nested(60, "level", `[${Array.from({ length: 20_000 }, (_, i) => i % 10).join(",")}]`);
    expect(body.length).toBeGreaterThan(40_000);
    expect(body.length).toBeLessThan(42_000);
    await deliverMessage(await upload(ns, "bomb", body, "application/json"));
    const r = await row(ns, "bomb");
    if (r?.status === "indexed") {
      expect(r.chunkCount).toBeLessThanOrEqual(config.maxChunksPerDocument);
    } else {
      expect(r?.status).toBe("failed");
      expect(r?.error).toMatch(/exceeds (MAX_PARSED_TEXT_BYTES|MAX_CHUNKS_PER_DOCUMENT) \(\d+\)$/);
    }
    expect(await chunkRows(ns, "bomb")).toBeLessThanOrEqual(config.maxChunksPerDocument);
  });
});

describe("bounds configuration", () => {
  it("defaults to bounds a 1 MiB document of prose fits in, and takes them from wrangler.toml vars", () => {
    const defaults = loadConfig({});
    expect(defaults.parseLimits).toEqual({
      maxParsedTextBytes: 4 * 1024 * 1024,
      maxJsonDepth: 64,
      maxJsonKeyPathBytes: 1024,
    });
    expect(defaults.maxChunksPerDocument).toBe(4000);
    const set = loadConfig({
      MAX_PARSED_TEXT_BYTES: "65536",
      MAX_JSON_DEPTH: "8",
      MAX_JSON_KEY_PATH_BYTES: "256",
      MAX_CHUNKS_PER_DOCUMENT: "50",
    });
    expect(set.parseLimits).toEqual({ maxParsedTextBytes: 65536, maxJsonDepth: 8, maxJsonKeyPathBytes: 256 });
    expect(set.maxChunksPerDocument).toBe(50);
  });

  it("refuses bounds that cannot work, naming the variable", () => {
    expect(() => loadConfig({ MAX_JSON_DEPTH: "0" })).toThrow(/MAX_JSON_DEPTH/);
    expect(() => loadConfig({ MAX_CHUNKS_PER_DOCUMENT: "many" })).toThrow(/MAX_CHUNKS_PER_DOCUMENT/);
    expect(() => loadConfig({ MAX_PARSED_TEXT_BYTES: "10" })).toThrow(/MAX_PARSED_TEXT_BYTES/);
    expect(() => loadConfig({ MAX_JSON_KEY_PATH_BYTES: "-1" })).toThrow(/MAX_JSON_KEY_PATH_BYTES/);
  });
});

describe("JSON documents at submission", () => {
  it("refuses JSON nested deeper than MAX_JSON_DEPTH with 413, naming the field and the bound", async () => {
    const ns = freshNamespace("lim");
    const depth = loadConfig(env).parseLimits.maxJsonDepth;
    const res = await api("PUT", `/v1/namespaces/${ns}/documents/deep`, {
      text: nested(depth + 1, "a", '"x"'),
      contentType: "application/json",
    });
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({
      code: "payload_too_large",
      field: "body.text",
      detail: `JSON nesting depth exceeds MAX_JSON_DEPTH (${depth})`,
      limit: "MAX_JSON_DEPTH",
      max: depth,
    });
    expect(await env.DOCUMENTS.head(`${ns}/deep`)).toBeNull();
  });

  it("refuses text that is not JSON with 422, naming the document in a batch", async () => {
    const ns = freshNamespace("lim");
    const res = await api("POST", `/v1/namespaces/${ns}/documents`, {
      documents: [
        { id: "fine", text: '{"text": "storm petrels"}', contentType: "application/json" },
        { id: "broken", text: "{ this is not json", contentType: "application/json; charset=utf-8" },
      ],
    });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: "unprocessable", field: "body.documents.1.text" });
    expect(String((res.body as { detail?: unknown }).detail)).not.toContain("this is not");
    // Nothing of the batch was written.
    expect(await env.DOCUMENTS.head(`${ns}/fine`)).toBeNull();
  });
});
