// The OpenAPI document the Worker serves, and its schemas as zod schemas to check values against.
import { expect } from "vitest";
import { z } from "zod";
import { api } from "./index";

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** A zod schema from one of the document's schemas, its $refs resolved against its components. */
export function toZod(schema: unknown, components: Json): z.ZodType {
  const text = JSON.stringify({
    $schema: "https://json-schema.org/draft/2020-12/schema",
    ...(isObject(schema) ? schema : {}),
    $defs: components,
  }).replaceAll('"#/components/schemas/', '"#/$defs/');
  return z.fromJSONSchema(JSON.parse(text));
}

/** GET /openapi.json, and its component schemas. */
export async function servedDocument() {
  const res = await api<Json>("GET", "/openapi.json");
  expect(res.status).toBe(200);
  const components = (res.body.components as { schemas?: Json } | undefined)?.schemas ?? {};
  return { doc: res.body, components };
}
