// /docs renders the OpenAPI document in the browser: its script, run against a document, shows
// each operation's responses, those given as a $ref to components/responses as well.
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { DOCS_PAGE } from "../../workers/api/routes/docs";

/** The page's #ops element after its script rendered `spec`. */
async function render(spec: unknown): Promise<string> {
  const script = /<script>([\s\S]*)<\/script>/.exec(DOCS_PAGE)?.[1];
  expect(script).toBeDefined();
  const elements = new Map<string, { textContent: string; innerHTML: string }>();
  const document = {
    getElementById: (id: string) => {
      const element = elements.get(id) ?? { textContent: "", innerHTML: "" };
      elements.set(id, element);
      return element;
    },
  };
  const fetch = async () => ({ json: async () => spec });
  runInNewContext(script ?? "", { document, fetch });
  await new Promise((resolve) => setTimeout(resolve, 0));
  return elements.get("ops")?.innerHTML ?? "";
}

const UNAUTHORIZED = {
  description: "Missing or invalid API key",
  content: {
    "application/problem+json": {
      schema: { $ref: "#/components/schemas/Problem" },
      example: { status: 401, code: "unauthorized" },
    },
  },
};

describe("/docs", () => {
  it("shows a response given by $ref as the component it refers to", async () => {
    const html = await render({
      info: { description: "test" },
      paths: {
        "/v1/things": {
          get: {
            summary: "List things",
            responses: {
              200: { description: "Things", content: { "application/json": { schema: { type: "object" } } } },
              401: { $ref: "#/components/responses/Unauthorized" },
              403: { ...UNAUTHORIZED, description: "Forbidden" },
            },
          },
        },
      },
      components: { schemas: { Problem: { type: "object" } }, responses: { Unauthorized: UNAUTHORIZED } },
    });
    expect(html).toContain("List things");
    expect(html).toContain("<b>401</b> Missing or invalid API key<pre>");
    expect(html).toContain("&quot;code&quot;: &quot;unauthorized&quot;");
    expect(html).toContain("<b>403</b> Forbidden<pre>");
  });
});
