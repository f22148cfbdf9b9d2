// Turns the Worker's OpenAPI 3.1 document into the TypeScript types of client/src/api.ts: one type
// per component schema and one entry per operation (path and query parameters, body, answer). It
// covers the JSON Schema the route schemas produce (object, array, enum, anyOf, allOf, $ref, type
// lists with null); anything else fails loudly rather than widening to unknown unnoticed.

type Schema = Record<string, unknown>;

type Parameter = { name: string; in: string; required?: boolean; description?: string; schema?: Schema };

type Operation = {
  summary?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
};

export type OpenApiDocument = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
};

const METHODS = ["get", "put", "post", "delete", "patch"];

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

const key = (name: string) => (IDENTIFIER.test(name) ? name : JSON.stringify(name));

function doc(text: unknown, indent: string): string {
  if (typeof text !== "string" || text === "") return "";
  return `${indent}/** ${text.replaceAll("*/", "*\\/").replaceAll("\n", " ")} */\n`;
}

function literal(value: unknown): string {
  if (value === null || ["string", "number", "boolean"].includes(typeof value)) return JSON.stringify(value);
  throw new Error(`enum value ${JSON.stringify(value)} is not a literal`);
}

const union = (parts: string[]) => {
  const unique = [...new Set(parts)];
  return unique.length === 1
    ? (unique[0] ?? "never")
    : unique.map((p) => (p.includes("&") ? `(${p})` : p)).join(" | ");
};

/** The TypeScript type of a JSON Schema, indented for nesting at `indent`. */
export function schemaType(schema: Schema, indent = ""): string {
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.replace(/^#\/components\/schemas\//, "");
    if (name === schema.$ref) throw new Error(`unsupported $ref ${schema.$ref}`);
    return name;
  }
  if (Array.isArray(schema.enum)) return union(schema.enum.map(literal));
  if ("const" in schema) return literal(schema.const);
  if (Array.isArray(schema.anyOf)) return union((schema.anyOf as Schema[]).map((s) => schemaType(s, indent)));
  if (Array.isArray(schema.oneOf)) return union((schema.oneOf as Schema[]).map((s) => schemaType(s, indent)));
  if (Array.isArray(schema.allOf)) {
    return (schema.allOf as Schema[]).map((s) => schemaType(s, indent)).join(" & ");
  }
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type];
  return union(types.map((type) => singleType(type, schema, indent)));
}

function singleType(type: unknown, schema: Schema, indent: string): string {
  switch (type) {
    case "string":
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array":
      return `Array<${schemaType((schema.items as Schema | undefined) ?? {}, indent)}>`;
    case "object":
      return objectType(schema, indent);
    default:
      throw new Error(`unsupported schema ${JSON.stringify(schema).slice(0, 200)}`);
  }
}

function objectType(schema: Schema, indent: string): string {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required ?? []) as string[]);
  const inner = `${indent}  `;
  const lines = Object.entries(properties).map(
    ([name, property]) =>
      `${doc(property.description, inner)}${inner}${key(name)}${required.has(name) ? "" : "?"}: ${schemaType(property, inner)};\n`,
  );
  const extra = schema.additionalProperties;
  if (extra !== undefined && extra !== false && typeof extra === "object") {
    const values = schemaType(extra as Schema, inner);
    if (lines.length === 0) return `{ [key: string]: ${values} }`;
    return `{\n${lines.join("")}${indent}} & { [key: string]: ${values} }`;
  }
  if (lines.length === 0) return extra === true || extra === undefined ? "{ [key: string]: unknown }" : "{}";
  return `{\n${lines.join("")}${indent}}`;
}

function parametersType(parameters: Parameter[], where: string, indent: string): string | undefined {
  const chosen = parameters.filter((p) => p.in === where);
  if (chosen.length === 0) return undefined;
  const inner = `${indent}  `;
  const lines = chosen.map(
    (p) =>
      `${doc(p.description, inner)}${inner}${key(p.name)}${p.required ? "" : "?"}: ${schemaType(p.schema ?? {}, inner)};\n`,
  );
  return `{\n${lines.join("")}${indent}}`;
}

/** The success answer: the JSON (or text) of the first 2xx response; null when it has no body. */
function responseType(operation: Operation, indent: string): { type: string; kind: "json" | "text" } {
  const success = Object.entries(operation.responses ?? {}).find(([code]) => /^2\d\d$/.test(code));
  const content = success?.[1].content;
  if (!content) return { type: "null", kind: "json" };
  const json = content["application/json"];
  if (json) return { type: schemaType(json.schema ?? {}, indent), kind: "json" };
  const text = Object.entries(content).find(([type]) => type.startsWith("text/"));
  if (text) return { type: "string", kind: "text" };
  throw new Error(`unsupported response content ${Object.keys(content).join(", ")}`);
}

/** The module text of client/src/api.ts for the document. */
export function generateApiTypes(document: OpenApiDocument): string {
  const out: string[] = [
    "// Generated by `npm run client:types` from the OpenAPI document the Worker serves at /openapi.json",
    "// (workers/api/schemas.ts and the routes' schemas). Do not edit: change the schemas and regenerate.",
    "",
  ];
  for (const [name, schema] of Object.entries(document.components?.schemas ?? {})) {
    if (!IDENTIFIER.test(name)) throw new Error(`schema name ${name} is not an identifier`);
    out.push(`${doc(schema.description, "")}export type ${name} = ${schemaType(schema, "")};`, "");
  }
  const operations: string[] = [];
  const kinds: string[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const name = `${method.toUpperCase()} ${path}`;
      const indent = "    ";
      const parts: string[] = [];
      const pathParams = parametersType(operation.parameters ?? [], "path", indent);
      if (pathParams) parts.push(`${indent}path: ${pathParams};\n`);
      const query = parametersType(operation.parameters ?? [], "query", indent);
      if (query) parts.push(`${indent}query?: ${query};\n`);
      const body = operation.requestBody?.content?.["application/json"]?.schema;
      if (body)
        parts.push(
          `${indent}body${operation.requestBody?.required ? "" : "?"}: ${schemaType(body, indent)};\n`,
        );
      const response = responseType(operation, indent);
      parts.push(`${indent}response: ${response.type};\n`);
      operations.push(`${doc(operation.summary, "  ")}  ${JSON.stringify(name)}: {\n${parts.join("")}  };\n`);
      kinds.push(`  ${JSON.stringify(name)}: ${JSON.stringify(response.kind)},\n`);
    }
  }
  out.push(
    "/** Every operation of the API by method and path: its parameters, request body and success answer. */",
    `export interface Operations {\n${operations.join("")}}`,
    "",
    "/** How each operation's success answer is read: JSON, or text (an HTML page). */",
    `export const RESPONSE_KINDS: { [K in keyof Operations]: "json" | "text" } = {\n${kinds.join("")}};`,
    "",
  );
  return out.join("\n");
}
