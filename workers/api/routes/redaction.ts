// A namespace's personal data redaction (admin role): which kinds its documents have replaced by a
// token at ingest. A change applies to documents indexed after it; those already indexed keep
// their text until written again.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { REDACTION_TOKENS, REDACTION_TYPES, type RedactionType } from "../../../src/redaction/scan";
import { RedactionStore } from "../../../src/redaction/settings";
import { requireNamespace, requires } from "../auth";
import { setRedactionExample } from "../examples";
import { errorResponses, jsonBody, jsonResponse, NamespaceParams } from "../schemas";
import type { AppEnv } from "../types";

const WHAT: Record<RedactionType, string> = {
  email: "email addresses",
  phone: "phone numbers (international with +, or national of 10 or 11 digits in groups)",
  card: "payment card numbers (13 to 19 digits passing the Luhn check)",
  iban: "IBANs (passing the ISO 13616 mod-97 check)",
  ip: "IP addresses (v4 and v6)",
};

const describe = (t: RedactionType) => `Replace ${WHAT[t]} by ${REDACTION_TOKENS[t]}`;

const SetRedactionBody = z
  .strictObject(
    Object.fromEntries(
      REDACTION_TYPES.map((t) => [
        t,
        z
          .boolean()
          .optional()
          .openapi({ description: `${describe(t)}; absent: unchanged.` }),
      ]),
    ) as Record<RedactionType, z.ZodOptional<z.ZodBoolean>>,
  )
  .openapi("SetRedactionRequest");

export const RedactionSettingsSchema = z
  .object(
    Object.fromEntries(
      REDACTION_TYPES.map((t) => [t, z.boolean().openapi({ description: describe(t) })]),
    ) as Record<RedactionType, z.ZodBoolean>,
  )
  .openapi("RedactionSettings");

export const RedactionResponseSchema = z
  .object({ namespace: z.string(), redaction: RedactionSettingsSchema })
  .openapi("Redaction");
export type RedactionResponse = z.infer<typeof RedactionResponseSchema>;

export function registerRedaction(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/redaction",
      operationId: "getRedaction",
      middleware: requires("admin"),
      tags: ["namespaces"],
      summary: "Which kinds of personal data a namespace redacts at ingest (admin role)",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(RedactionResponseSchema, "Redaction settings"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const redaction = await new RedactionStore(c.get("services").db).get(ns);
      return c.json({ namespace: ns, redaction }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/namespaces/{ns}/redaction",
      operationId: "putRedaction",
      middleware: requires("admin"),
      tags: ["namespaces"],
      summary:
        "Switch personal data redaction at ingest per kind (admin role); applies to documents indexed next",
      request: { params: NamespaceParams, body: jsonBody(SetRedactionBody, setRedactionExample) },
      responses: {
        200: jsonResponse(RedactionResponseSchema, "Redaction settings now in force"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      const principal = c.get("principal");
      requireNamespace(principal, ns);
      const body = c.req.valid("json");
      const store = new RedactionStore(c.get("services").db);
      const redaction = { ...(await store.get(ns)) };
      for (const t of REDACTION_TYPES) {
        const value = body[t];
        if (value !== undefined) redaction[t] = value;
      }
      await store.set(ns, redaction, principal.keyId);
      c.get("logger").info("redaction.set", { namespace: ns, redaction });
      return c.json({ namespace: ns, redaction }, 200);
    },
  );
}
