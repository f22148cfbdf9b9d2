// What the served /openapi.json describes: every route the Worker serves (health probes included),
// with the statuses and bodies it really answers, and the error responses the /v1 operations share
// written once under components/responses.
import { beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../workers/api/app";
import { clearReadinessCache } from "../../workers/api/routes/health";
import { api } from "../support";
import { type Json, servedDocument, toZod } from "../support/openapi";

type Response = { $ref?: string; description?: string; content?: Record<string, { schema?: unknown }> };
type Operation = { security?: unknown[]; responses: Record<string, Response> };

/** Served but not API operations: the document itself, its page, and MCP (JSON-RPC, README "MCP"). */
const UNDOCUMENTED = ["GET /openapi.json", "GET /docs", "GET /mcp", "POST /mcp", "DELETE /mcp"];

/** The error responses every /v1 operation lists, as the component each refers to. */
const SHARED = {
  "400": "BadRequest",
  "401": "Unauthorized",
  "403": "Forbidden",
  "413": "PayloadTooLarge",
  "415": "UnsupportedMediaType",
  "429": "RateLimited",
  "500": "InternalError",
  "503": "Unavailable",
};

async function operations() {
  const { doc, components } = await servedDocument();
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const all = Object.entries(paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, path, op })),
  );
  const responses = ((doc.components as Json).responses ?? {}) as Record<string, Response>;
  return { all, paths, components, responses };
}

/** The documented schema of an operation's answer with `status` in `type`. */
function documentedSchema(op: Operation, status: number, type: string, responses: Record<string, Response>) {
  const declared = op.responses[String(status)];
  const response = declared?.$ref ? responses[declared.$ref.split("/").pop() ?? ""] : declared;
  const schema = response?.content?.[type]?.schema;
  expect(schema, `a ${type} schema for ${status}`).toBeDefined();
  return schema;
}

describe("the OpenAPI document", () => {
  beforeEach(() => clearReadinessCache());

  it("describes every route the Worker serves", async () => {
    const served = [
      ...new Set(
        createApp()
          .routes.filter((r) => r.method !== "ALL")
          .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
      ),
    ];
    const { all } = await operations();
    const documented = all.map((o) => o.name);
    expect(served).toContain("GET /healthz");
    expect(served).toContain("GET /readyz");
    expect(served.filter((r) => !UNDOCUMENTED.includes(r)).sort()).toEqual([...documented].sort());
  });

  it("documents /healthz and /readyz as public, with the statuses they answer", async () => {
    const { paths } = await operations();
    const health = paths["/healthz"]?.get;
    const ready = paths["/readyz"]?.get;
    expect(health?.security).toEqual([]);
    expect(Object.keys(health?.responses ?? {}).sort()).toEqual(["200", "500"]);
    // No key, or any key (only admin keys get the details).
    expect(ready?.security).toContainEqual({});
    expect(Object.keys(ready?.responses ?? {}).sort()).toEqual(["200", "401", "429", "500", "503"]);
    expect(Object.keys(ready?.responses["503"]?.content ?? {})).toContain("application/json");
  });

  it("what /healthz and /readyz answer, ready or not, is what the document says", async () => {
    const { paths, components, responses } = await operations();
    const health = paths["/healthz"]?.get as Operation;
    const ready = paths["/readyz"]?.get as Operation;
    const broken = { "x-edgesearch-faults": JSON.stringify({ r2: { error: 1 }, scope: "openapi-readyz" }) };
    const answers = [
      { op: health, res: await api("GET", "/healthz", undefined, { authorization: "" }) },
      { op: ready, res: await api("GET", "/readyz") },
      { op: ready, res: await api("GET", "/readyz", undefined, broken) },
      { op: ready, res: await api("GET", "/readyz", undefined, { authorization: "" }) },
    ];
    expect(answers.map((a) => a.res.status)).toEqual([200, 200, 503, 503]);
    expect(answers[2]?.res.body).toMatchObject({ status: "unavailable", checks: { r2: { ok: false } } });
    for (const { op, res } of answers) {
      const schema = documentedSchema(op, res.status, "application/json", responses);
      const parsed = toZod(schema, components).safeParse(res.body);
      expect(parsed.error?.issues ?? [], JSON.stringify(res.body)).toEqual([]);
    }
  });

  it("refers to the shared error responses instead of repeating them", async () => {
    const { all, responses } = await operations();
    const v1 = all.filter((o) => o.path.startsWith("/v1/"));
    expect(v1.length).toBeGreaterThan(40);
    for (const { name, op } of v1) {
      for (const [status, component] of Object.entries(SHARED)) {
        expect(op.responses[status], `${name} ${status}`).toEqual({
          $ref: `#/components/responses/${component}`,
        });
      }
    }
    for (const [status, component] of Object.entries(SHARED)) {
      const media = responses[component]?.content?.["application/problem+json"] as Json | undefined;
      expect(media?.schema, component).toEqual({ $ref: "#/components/schemas/Problem" });
      // Each example is the problem of the status that refers to it.
      if (media?.example !== undefined) expect((media.example as Json).status).toBe(Number(status));
    }
    // None is still written out in full anywhere.
    const inline = all.flatMap(({ op }) => Object.values(op.responses).filter((r) => !r.$ref));
    for (const shared of Object.values(responses)) {
      expect(inline.map((r) => JSON.stringify(r))).not.toContain(JSON.stringify(shared));
    }
  });

  it("says that deleting a namespace stops its scheduled backups and keeps those taken", async () => {
    const { paths } = await operations();
    const op = paths["/v1/namespaces/{ns}"]?.delete as Operation & { summary: string; description: string };
    expect(op.summary).toMatch(/stop its scheduled backups/);
    expect(op.description).toMatch(/marked stopped/);
    expect(op.description).toMatch(/Backups already taken are kept/);
    expect(op.description).toMatch(/retention \(keep\.count, keep\.maxAgeDays\) goes on pruning/);
  });
});
