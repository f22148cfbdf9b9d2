// R2 uploads: write documents as objects of the documents bucket (admin only), for the bucket's
// event notifications to ingest, as an object put there by any other means would be. What
// `npm run upload -- --r2` uses: unlike `wrangler r2 object put`, it carries title and
// metadata (R2 custom metadata), and offline it reaches the dev server's own bucket.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { putObjects } from "../../../src/ingest/objects";
import { checkDocuments } from "../../../src/ingest/submit";
import { requireNamespace, requires } from "../auth";
import { batchExample } from "../examples";
import {
  AcceptedBatch,
  BatchBody,
  errorResponses,
  jsonBody,
  jsonResponse,
  NamespaceParams,
} from "../schemas";
import type { AppEnv } from "../types";

export function registerObjects(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/objects",
      operationId: "putObjects",
      middleware: requires("admin"),
      tags: ["documents"],
      summary:
        "Write up to 1,000 documents as R2 objects; the bucket's event notifications ingest them (admin)",
      request: { params: NamespaceParams, body: jsonBody(BatchBody, batchExample) },
      responses: { 202: jsonResponse(AcceptedBatch, "Written to the documents bucket"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { documents } = c.req.valid("json");
      const services = c.get("services");
      checkDocuments(documents, services.config, (i) => `body.documents.${i}`);
      await putObjects(services, ns, documents);
      return c.json({ accepted: documents.length, ids: documents.map((d) => d.id) }, 202);
    },
  );
}
