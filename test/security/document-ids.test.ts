// Document ids that would change how logs, terminals and pages show the text around them: C1
// controls, line and paragraph separators, bidirectional overrides and isolates. Refused with a
// 400 naming the id through the API, and failed with a reason (never indexed, never a crash) when
// uploaded straight to R2.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { putMessage } from "../../src/ingest/messages";
import worker from "../../workers/index";
import { adminKey, freshNamespace } from "../support";
import { percentEncode } from "./fuzz-values";
import { bearer, expectProblem, send } from "./support";

const REFUSED: [string, string, RegExp][] = [
  ["a C1 control (U+0085)", "next\u0085line", /control characters/],
  ["a C1 control (U+009B, CSI)", "\u009b31mred", /control characters/],
  ["U+0080", "\u0080", /control characters/],
  ["U+009F", "end\u009f", /control characters/],
  ["a line separator", "one\u2028two", /line or paragraph separators/],
  ["a paragraph separator", "one\u2029two", /line or paragraph separators/],
  ["a right-to-left override", "report\u202efdp.exe", /bidirectional/],
  ["a left-to-right embedding", "\u202aabc", /bidirectional/],
  ["a pop directional formatting", "abc\u202c", /bidirectional/],
  ["a first-strong isolate", "a\u2068b", /bidirectional/],
  ["a left-to-right isolate", "\u2066x\u2069", /bidirectional/],
  ["a pop directional isolate", "x\u2069", /bidirectional/],
];

const ACCEPTED: [string, string][] = [
  ["a no-break space (U+00A0)", "a\u00a0b"],
  ["an RTL mark", "\u200fmark"],
  ["Arabic text", "مستند"],
  ["U+00A1", "\u00a1hola"],
  ["U+2027", "a\u2027b"],
  ["U+206A", "a\u206ab"],
];

const json = { ...bearer(adminKey()), "content-type": "application/json" };

describe("document ids through the API", () => {
  const ns = freshNamespace("ids");

  for (const [label, id, message] of REFUSED) {
    it(`refuses an id with ${label}: 400 naming the id`, async () => {
      const put = await send({
        method: "PUT",
        path: `/v1/namespaces/${ns}/documents/${percentEncode(id)}`,
        headers: json,
        body: JSON.stringify({ text: "spoofing" }),
      });
      expect(expectProblem(put, 400).detail).toMatch(message);
      expect(put.json).toMatchObject({ field: "param.id" });
      const batch = await send({
        method: "POST",
        path: `/v1/namespaces/${ns}/documents`,
        headers: json,
        body: JSON.stringify({
          documents: [
            { id: "fine", text: "ok" },
            { id, text: "spoofing" },
          ],
        }),
      });
      expect(expectProblem(batch, 400).detail).toMatch(message);
      expect(batch.json).toMatchObject({ field: "body.documents.1.id" });
    });
  }

  it("writes nothing for a refused id", async () => {
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?")
      .bind(ns)
      .first<{ n: number }>();
    expect(rows?.n).toBe(0);
    expect((await env.DOCUMENTS.list({ prefix: `${ns}/` })).objects).toEqual([]);
  });

  for (const [label, id] of ACCEPTED) {
    it(`accepts an id with ${label}`, async () => {
      const put = await send({
        method: "PUT",
        path: `/v1/namespaces/${ns}-ok/documents/${percentEncode(id)}`,
        headers: json,
        body: JSON.stringify({ text: "fine" }),
      });
      expect(put.status, put.text).toBe(202);
    });
  }
});

describe("document ids of objects uploaded straight to R2", () => {
  it("fails such an object with the reason, escaped, instead of indexing it", async () => {
    const ns = freshNamespace("ids-r2");
    const key = `${ns}/invoice\u202efdp.exe`;
    const object = await env.DOCUMENTS.put(key, "uploaded without the API");
    const body = putMessage(env.DOCUMENTS_BUCKET_NAME, key, object?.size ?? 0, object?.etag ?? "");
    const batch = createMessageBatch("edgesearch-ingest", [
      { id: `ids-${Date.now()}`, timestamp: new Date(), attempts: 1, body },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toHaveLength(1);
    const recorded = await env.DB.prepare("SELECT error FROM dead_letters WHERE body = ?")
      .bind(JSON.stringify(body))
      .first<{ error: string }>();
    expect(recorded?.error).toContain("bidirectional overrides or isolates");
    expect(recorded?.error).toContain("invoice\\u202efdp.exe");
    expect(recorded?.error).not.toContain("\u202e");
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?")
      .bind(ns)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
  });
});
