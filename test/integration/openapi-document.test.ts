// What the served /openapi.json describes: the error responses the /v1 operations share, written
// once under components/responses.
import { describe, expect, it } from "vitest";
import { type Json, servedDocument } from "../support/openapi";

type Response = { $ref?: string; description?: string; content?: Record<string, { schema?: unknown }> };
type Operation = { security?: unknown[]; responses: Record<string, Response> };

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
  const { doc } = await servedDocument();
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const all = Object.entries(paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, path, op })),
  );
  const responses = ((doc.components as Json).responses ?? {}) as Record<string, Response>;
  return { all, responses };
}

describe("the OpenAPI document", () => {
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
});
