// Whatever a client sends, the answer is a 4xx problem+json that names the problem, and nothing
// is written.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, freshNamespace } from "../support";

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  requestId: string;
  code: string;
  field?: string;
}

function expectProblem(
  res: { status: number; headers: Headers; body: unknown },
  status: number,
  match?: RegExp,
) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = res.body as Problem;
  expect(body.status).toBe(status);
  expect(body.requestId).toBe(res.headers.get("x-request-id"));
  expect(body.type).toMatch(/^https:\/\//);
  if (match) expect(`${body.detail} ${body.field ?? ""}`).toMatch(match);
  return body;
}

describe("bad input", () => {
  const ns = freshNamespace("bad");
  const doc = { text: "hello world" };

  it.each([
    ["uppercase", "Docs"],
    ["leading dash", "-docs"],
    ["too long", "a".repeat(64)],
    ["dot", "a.b"],
  ])("rejects an invalid namespace (%s)", async (_, bad) => {
    const res = await api("PUT", `/v1/namespaces/${bad}/documents/x`, doc);
    expectProblem(res, 400, /namespace/);
  });

  it("rejects a document over the size limit with 413 naming the field", async () => {
    const res = await api("PUT", `/v1/namespaces/${ns}/documents/big`, { text: "a".repeat(1024 * 1024 + 1) });
    const p = expectProblem(res, 413, /limit/);
    expect(p.field).toBe("body.text");
    expect(await env.DOCUMENTS.head(`${ns}/big`)).toBeNull();
  });

  it("rejects a request body over the request limit", async () => {
    const documents = Array.from({ length: 9 }, (_, i) => ({
      id: `d${i}`,
      text: "x".repeat(1024 * 1024 - 100),
    }));
    const res = await api("POST", `/v1/namespaces/${ns}/documents`, { documents });
    expectProblem(res, 413);
  });

  it("rejects malformed JSON", async () => {
    const res = await api("POST", `/v1/namespaces/${ns}/search`, '{"query": "x",');
    expectProblem(res, 400, /json/i);
  });

  it("rejects a body that is not JSON with 415", async () => {
    const res = await api("POST", `/v1/namespaces/${ns}/search`, "query=x", { "content-type": "text/plain" });
    expectProblem(res, 415);
  });

  it("rejects an unsupported document content type with 415", async () => {
    const res = await api("PUT", `/v1/namespaces/${ns}/documents/pdf`, {
      text: "%PDF-1.4",
      contentType: "application/pdf",
    });
    const p = expectProblem(res, 415, /application\/pdf/);
    expect(p.field).toBe("body.contentType");
    expect(await env.DOCUMENTS.head(`${ns}/pdf`)).toBeNull();
  });

  it("rejects unknown filter operators, unfilterable fields and oversized filters", async () => {
    const bad = [
      { category: { $regex: "a.*" } },
      { category: { $in: [] } },
      { secret_field: "x" },
      { category: { $in: Array.from({ length: 300 }, (_, i) => `value-${i}`) } },
    ];
    for (const filter of bad) {
      const res = await api("POST", `/v1/namespaces/${ns}/search`, { query: "x", filter });
      expectProblem(res, 400);
    }
  });

  it("refuses a filter value over the 64 bytes Vectorize filters strings on, naming where it is", async () => {
    const long = "x".repeat(65);
    const cases: [Record<string, unknown>, string][] = [
      [{ source: long }, "body.filter.source"],
      [{ source: { $ne: long } }, "body.filter.source.$ne"],
      [{ category: { $in: ["guide", "é".repeat(33)] } }, "body.filter.category.$in"],
      [{ lang: { $gte: long } }, "body.filter.lang.$gte"],
    ];
    for (const [filter, field] of cases) {
      const res = await api("POST", `/v1/namespaces/${ns}/search`, { query: "x", filter });
      const p = expectProblem(res, 400, /64 bytes/);
      expect(p.code).toBe("invalid_filter");
      expect(p.field).toBe(field);
    }
    const fits = await api("POST", `/v1/namespaces/${ns}/search`, {
      query: "x",
      filter: { source: "x".repeat(64), category: { $in: ["é".repeat(32)] } },
    });
    expect(fits.status).toBe(200);
  });

  it("refuses a document whose filterable string metadata is over 64 bytes, and writes nothing", async () => {
    const source = `https://example.com/${"a".repeat(60)}`;
    const one = await api("PUT", `/v1/namespaces/${ns}/documents/long-source`, {
      text: "hello",
      metadata: { source },
    });
    const p = expectProblem(one, 400, /filterable/);
    expect(p.field).toBe("body.metadata.source");
    expect(await env.DOCUMENTS.head(`${ns}/long-source`)).toBeNull();
    const batch = await api("POST", `/v1/namespaces/${ns}/documents`, {
      documents: [
        { id: "fine", text: "hello", metadata: { source: "x".repeat(64) } },
        { id: "long", text: "hello", metadata: { lang: "é".repeat(33) } },
      ],
    });
    expect(expectProblem(batch, 400).field).toBe("body.documents.1.metadata.lang");
    expect(await env.DOCUMENTS.head(`${ns}/fine`)).toBeNull();
    // A field nobody filters on may be longer.
    const other = await api("PUT", `/v1/namespaces/${freshNamespace("note")}/documents/long-note`, {
      text: "hello",
      metadata: { note: source },
    });
    expect(other.status).toBe(202);
  });

  it.each([
    [{ query: "x", topK: 101 }, /topK/],
    [{ query: "x", topK: 0 }, /topK/],
    [{ query: "" }, /query/],
    [{ query: "x".repeat(2001) }, /query/],
    [{ query: "x", mode: "fuzzy" }, /mode/],
    [{ query: "x", unexpected: true }, /unexpected|unrecognized/i],
    [{ topK: 3 }, /query/],
  ])("rejects an invalid search request %j", async (body, match) => {
    const res = await api("POST", `/v1/namespaces/${ns}/search`, body);
    expectProblem(res, 400, match);
  });

  it("rejects invalid documents in a batch without writing any of them", async () => {
    const cases: [unknown, RegExp][] = [
      [{ documents: [] }, /documents/],
      [{ documents: Array.from({ length: 1001 }, (_, i) => ({ id: `d${i}`, text: "t" })) }, /documents/],
      [
        {
          documents: [
            { id: "ok", text: "fine" },
            { id: "ok", text: "dup" },
          ],
        },
        /duplicate/,
      ],
      [
        {
          documents: [
            { id: "ok", text: "fine" },
            { id: "", text: "no id" },
          ],
        },
        /id/,
      ],
      [
        {
          documents: [
            { id: "ok", text: "fine" },
            { id: "x".repeat(513), text: "long id" },
          ],
        },
        /id/,
      ],
      [
        {
          documents: [
            { id: "ok", text: "fine" },
            { id: "m", text: "t", metadata: { nested: { a: 1 } } },
          ],
        },
        /metadata/,
      ],
      [
        {
          documents: [
            { id: "ok", text: "fine" },
            { id: "e", text: "   " },
          ],
        },
        /empty/,
      ],
    ];
    for (const [body, match] of cases) {
      const res = await api("POST", `/v1/namespaces/${ns}/documents`, body);
      expectProblem(res, 400, match);
    }
    expect(await env.DOCUMENTS.head(`${ns}/ok`)).toBeNull();
    const stats = await api("GET", `/v1/namespaces/${ns}`);
    expect(stats.body).toMatchObject({ documents: 0, pending: 0, failed: 0 });
  });

  it("answers unknown routes with a 404 problem", async () => {
    expectProblem(await api("GET", "/v2/anything"), 404);
  });
});

describe("service endpoints", () => {
  it("answers health, readiness, the OpenAPI document and the docs page", async () => {
    expect((await api("GET", "/healthz")).body).toEqual({ status: "ok" });
    const ready = await api<{ status: string; checks: Record<string, { ok: boolean }> }>("GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(Object.values(ready.body.checks).every((c) => c.ok)).toBe(true);
    const spec = await api<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
      "GET",
      "/openapi.json",
    );
    expect(spec.body.openapi).toBe("3.1.0");
    expect(Object.keys(spec.body.paths)).toEqual(
      expect.arrayContaining([
        "/v1/namespaces/{ns}/documents/{id}",
        "/v1/namespaces/{ns}/documents",
        "/v1/namespaces/{ns}/search",
        "/v1/namespaces/{ns}",
      ]),
    );
    expect(Object.keys(spec.body.paths["/v1/namespaces/{ns}/documents/{id}"] ?? {})).toEqual(
      expect.arrayContaining(["put", "get", "delete"]),
    );
    const docs = await api<string>("GET", "/docs");
    expect(docs.headers.get("content-type")).toMatch(/text\/html/);
    expect(docs.body).toContain("/openapi.json");
  });
});
