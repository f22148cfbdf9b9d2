// Documents: write one, write a batch, read status, delete; and delete a whole namespace.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { publishGenerations } from "../../../src/cache/generation";
import { AppError } from "../../../src/errors";
import { checkDocuments, deleteDocuments, submitDocuments } from "../../../src/ingest/submit";
import { reserveWrite } from "../../../src/quotas/enforce";
import type { Services } from "../../services";
import { requireNamespace, requires } from "../auth";
import {
  Accepted,
  AcceptedBatch,
  AcceptedDocument,
  BatchBody,
  DocumentParams,
  DocumentStatus,
  errorResponses,
  jsonBody,
  jsonResponse,
  NamespaceDeleteSchema,
  NamespaceParams,
  PutDocumentBody,
} from "../schemas";
import type { AppEnv } from "../types";

const NAMESPACE_DELETE_PAGE = 1000;
const NAMESPACE_DELETE_MAX = 5000;

/** Publishes the namespace's new generation, so the next search misses the result cache. */
function publishGeneration(services: Services, ns: string): Promise<void> {
  return publishGenerations(
    services.versions.coordinator,
    [ns],
    services.config.generationCacheTtlMs,
    services.logger,
  );
}

export function registerDocuments(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/namespaces/{ns}/documents/{id}",
      middleware: requires("write"),
      tags: ["documents"],
      summary: "Write a document (insert or replace); indexed asynchronously",
      request: { params: DocumentParams, body: jsonBody(PutDocumentBody) },
      responses: {
        202: jsonResponse(AcceptedDocument, "Accepted and queued for indexing"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const body = c.req.valid("json");
      const services = c.get("services");
      const doc = { id, ...body };
      checkDocuments([doc], services.config, () => "body");
      const release = await reserveWrite(services, c.get("principal"), ns, [doc], () => "body");
      await submitDocuments(services, ns, [doc]).finally(release);
      return c.json({ id, status: "queued" as const }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/documents",
      middleware: requires("write"),
      tags: ["documents"],
      summary: "Write up to 1,000 documents; all are validated before any is written",
      request: { params: NamespaceParams, body: jsonBody(BatchBody) },
      responses: { 202: jsonResponse(AcceptedBatch, "Accepted and queued for indexing"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { documents } = c.req.valid("json");
      const services = c.get("services");
      const field = (i: number) => `body.documents.${i}`;
      checkDocuments(documents, services.config, field);
      // All or nothing: a batch that does not fit its quotas is refused whole.
      const release = await reserveWrite(services, c.get("principal"), ns, documents, field);
      await submitDocuments(services, ns, documents).finally(release);
      return c.json({ accepted: documents.length, ids: documents.map((d) => d.id) }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/documents/{id}",
      middleware: requires("search"),
      tags: ["documents"],
      summary: "A document's indexing status",
      request: { params: DocumentParams },
      responses: { 200: jsonResponse(DocumentStatus, "The document's status"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const row = await c.get("services").store.get(ns, id);
      if (!row) throw new AppError("not_found", `document "${id}" does not exist in namespace "${ns}"`);
      return c.json(
        {
          id: row.id,
          status: row.status,
          chunks: row.status === "deleted" ? 0 : row.chunkCount,
          version: row.version,
          ...(row.title ? { title: row.title } : {}),
          ...(row.error && row.status !== "indexed" ? { error: row.error } : {}),
          updatedAt: new Date(row.updatedAt).toISOString(),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/namespaces/{ns}/documents/{id}",
      middleware: requires("write"),
      tags: ["documents"],
      summary: "Delete a document: it leaves search results at once, its vectors shortly after",
      request: { params: DocumentParams },
      responses: { 202: jsonResponse(Accepted, "Deleted"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const services = c.get("services");
      const row = await services.store.get(ns, id);
      if (!row) throw new AppError("not_found", `document "${id}" does not exist in namespace "${ns}"`);
      await deleteDocuments(services, ns, [id]);
      // Awaited: the next search must not be answered from a cache that still holds the document.
      await publishGeneration(services, ns);
      return c.json({ accepted: true }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/namespaces/{ns}",
      middleware: requires("write"),
      tags: ["namespaces"],
      summary: `Delete the namespace's documents, up to ${NAMESPACE_DELETE_MAX} per call (repeat while remaining)`,
      request: { params: NamespaceParams },
      responses: { 202: jsonResponse(NamespaceDeleteSchema, "Deleted"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const services = c.get("services");
      let accepted = 0;
      while (accepted < NAMESPACE_DELETE_MAX) {
        const ids = await services.store.listLiveIds(ns, NAMESPACE_DELETE_PAGE);
        if (ids.length === 0) break;
        await deleteDocuments(services, ns, ids);
        accepted += ids.length;
      }
      if (accepted > 0) await publishGeneration(services, ns);
      const remaining = (await services.store.listLiveIds(ns, 1)).length > 0;
      return c.json({ accepted, remaining }, 202);
    },
  );
}
