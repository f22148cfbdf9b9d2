// The examples of the served /openapi.json (what /docs shows) hold against their own schemas, and
// every operation that takes a body shows one.
import { describe, expect, it } from "vitest";
import { isObject, type Json, servedDocument, toZod } from "../support/openapi";

interface Example {
  where: string;
  schema: unknown;
  value: unknown;
}

/**
 * Every example in the document with the schema it illustrates: a media type's or parameter's
 * `example`/`examples` against its `schema`, and a schema's own `example`/`examples` against it.
 */
function collectExamples(node: unknown, where: string, out: Example[]): Example[] {
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) collectExamples(item, `${where}/${i}`, out);
    return out;
  }
  if (!isObject(node)) return out;
  const { example, examples, schema, ...rest } = node;
  // A media type or parameter carries its schema; a schema is its own.
  const target = isObject(schema) ? schema : { ...rest };
  if (example !== undefined) out.push({ where: `${where}/example`, schema: target, value: example });
  if (Array.isArray(examples)) {
    for (const [i, value] of examples.entries()) {
      out.push({ where: `${where}/examples/${i}`, schema: target, value });
    }
  } else if (isObject(examples)) {
    for (const [name, named] of Object.entries(examples)) {
      if (isObject(named) && "value" in named) {
        out.push({ where: `${where}/examples/${name}`, schema: target, value: named.value });
      }
    }
  }
  for (const [key, child] of Object.entries(node)) {
    if (key !== "example" && key !== "examples") collectExamples(child, `${where}/${key}`, out);
  }
  return out;
}

describe("examples in /openapi.json", () => {
  it("each example is valid against the schema it illustrates", async () => {
    const { doc, components } = await servedDocument();
    const examples = collectExamples(doc, "#", []);
    expect(examples.length).toBeGreaterThan(20);
    const invalid = examples.flatMap(({ where, schema, value }) => {
      const result = toZod(schema, components).safeParse(value);
      return result.success ? [] : [`${where}: ${result.error.issues.map((i) => i.message).join("; ")}`];
    });
    expect(invalid).toEqual([]);
  });

  it("each operation that takes a body shows a request example", async () => {
    const { doc } = await servedDocument();
    const bodies: string[] = [];
    const missing: string[] = [];
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      for (const [method, operation] of Object.entries(item)) {
        const content = (operation as { requestBody?: { content?: Record<string, Json> } }).requestBody
          ?.content;
        for (const [type, media] of Object.entries(content ?? {})) {
          bodies.push(`${method} ${path}`);
          if (media.example === undefined && media.examples === undefined)
            missing.push(`${method} ${path} ${type}`);
        }
      }
    }
    expect(bodies).toContain("post /v1/namespaces/{ns}/search");
    expect(missing).toEqual([]);
  });

  it("the check refuses an example its schema does not allow", async () => {
    const { doc, components } = await servedDocument();
    const search = doc.paths as Record<string, { post: { requestBody: { content: Record<string, Json> } } }>;
    const media = search["/v1/namespaces/{ns}/search"]?.post.requestBody.content["application/json"];
    const schema = toZod(media?.schema, components);
    const example = media?.example as Json;
    expect(schema.safeParse(example).success).toBe(true);
    expect(schema.safeParse({ ...example, topK: 0 }).success).toBe(false);
    expect(schema.safeParse({ ...example, mode: "fuzzy" }).success).toBe(false);
    expect(schema.safeParse({ ...example, unknownField: 1 }).success).toBe(false);
  });
});
