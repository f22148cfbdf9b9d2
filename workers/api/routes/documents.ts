// Documents: write one, write a batch, read status, list by status, delete; and delete a whole
// namespace.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { PolicyStore } from "../../../src/backup/policy";
import { convertedType } from "../../../src/ingest/convert/converter";
import {
  type DeleteDeps,
  deleteDocument,
  deleteNamespaceDocuments,
  getDocument,
  NAMESPACE_DELETE_MAX,
  writeDocuments,
} from "../../../src/ingest/requests";
import { DOCUMENT_PAGE_LIMITS, DOCUMENT_STATUSES, listDocumentPage } from "../../../src/store/document-pages";
import type { DocumentRecord } from "../../../src/store/documents";
import type { Services } from "../../services";
import { requireNamespace, requires } from "../auth";
import {
  acceptedBatchExample,
  acceptedDocumentExample,
  batchExample,
  documentListExample,
  documentStatusExample,
  putDocumentExample,
} from "../examples";
import {
  Accepted,
  AcceptedBatch,
  AcceptedDocument,
  BatchBody,
  DocumentParams,
  DocumentStatus,
  documentBody,
  errorResponses,
  jsonBody,
  jsonResponse,
  NamespaceDeleteSchema,
  NamespaceParams,
  PutDocumentBody,
} from "../schemas";
import type { AppEnv } from "../types";

const writeDeps = ({ blobs, store, queue, config, db, pool }: Services) => ({
  blobs,
  store,
  queue,
  config,
  db,
  pool,
});

const deleteDeps = ({ blobs, store, queue, config, versions, logger }: Services): DeleteDeps => ({
  blobs,
  store,
  queue,
  config,
  publisher: versions.coordinator,
  logger,
});

const ListDocumentsQuery = z.object({
  status: z
    .enum(DOCUMENT_STATUSES)
    .optional()
    .openapi({ description: "Only documents in this status; all of them when absent.", example: "failed" }),
  cursor: z
    .string()
    .min(1)
    .max(DOCUMENT_PAGE_LIMITS.maxCursorChars)
    .optional()
    .openapi({ description: "The previous page's nextCursor, with the same status." }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(DOCUMENT_PAGE_LIMITS.maxLimit)
    .default(DOCUMENT_PAGE_LIMITS.defaultLimit)
    .openapi({ description: "Documents per page." }),
});

export const DocumentList = z
  .object({
    documents: z.array(DocumentStatus),
    nextCursor: z
      .string()
      .optional()
      .openapi({ description: "Where the next page starts; absent on the last page." }),
  })
  .openapi("DocumentList");

/** What GET /v1/namespaces/{ns}/documents/{id} answers for a document. */
export function documentStatus(row: DocumentRecord): typeof DocumentStatus._output {
  return {
    id: row.id,
    status: row.status,
    chunks: row.status === "deleted" ? 0 : row.chunkCount,
    version: row.version,
    ...(row.title ? { title: row.title } : {}),
    ...(row.error && row.status !== "indexed" ? { error: row.error } : {}),
    updatedAt: new Date(row.updatedAt).toISOString(),
    ...(row.expiresAt !== null ? { expiresAt: new Date(row.expiresAt).toISOString() } : {}),
    ...(Object.keys(row.redactions).length > 0 && row.status === "indexed"
      ? { redactions: row.redactions }
      : {}),
  };
}

export function registerDocuments(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/namespaces/{ns}/documents/{id}",
      operationId: "putDocument",
      middleware: requires("write"),
      tags: ["documents"],
      summary: "Write a document (insert or replace); indexed asynchronously",
      request: { params: DocumentParams, body: documentBody(PutDocumentBody, putDocumentExample) },
      responses: {
        202: jsonResponse(AcceptedDocument, "Accepted and queued for indexing", acceptedDocumentExample),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const file = convertedType(c.req.header("content-type") ?? "");
      // A file body is read as the bytes sent, within the request body limit the app enforces.
      const doc = file
        ? { id, text: "", data: new Uint8Array(await c.req.arrayBuffer()), contentType: file }
        : { id, ...c.req.valid("json") };
      await writeDocuments(writeDeps(c.get("services")), c.get("principal"), ns, [doc], () => "body");
      return c.json({ id, status: "queued" as const }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/documents",
      operationId: "putDocuments",
      middleware: requires("write"),
      tags: ["documents"],
      summary: "Write up to 1,000 documents; all are validated before any is written",
      request: { params: NamespaceParams, body: jsonBody(BatchBody, batchExample) },
      responses: {
        202: jsonResponse(AcceptedBatch, "Accepted and queued for indexing", acceptedBatchExample),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { documents } = c.req.valid("json");
      const field = (i: number) => `body.documents.${i}`;
      await writeDocuments(writeDeps(c.get("services")), c.get("principal"), ns, documents, field);
      return c.json({ accepted: documents.length, ids: documents.map((d) => d.id) }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/documents/{id}",
      operationId: "getDocument",
      middleware: requires("search"),
      tags: ["documents"],
      summary: "A document's indexing status",
      request: { params: DocumentParams },
      responses: {
        200: jsonResponse(DocumentStatus, "The document's status", documentStatusExample),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const row = await getDocument(c.get("services").store, ns, id);
      return c.json(documentStatus(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/documents",
      operationId: "listDocuments",
      middleware: requires("search"),
      tags: ["documents"],
      summary: "The namespace's documents in id order, of one status or all, with failure reasons",
      request: { params: NamespaceParams, query: ListDocumentsQuery },
      responses: {
        200: jsonResponse(DocumentList, "A page of documents", documentListExample),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const page = await listDocumentPage(c.get("services").store, ns, c.req.valid("query"));
      return c.json(
        {
          documents: page.documents.map(documentStatus),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/namespaces/{ns}/documents/{id}",
      operationId: "deleteDocument",
      middleware: requires("write"),
      tags: ["documents"],
      summary: "Delete a document: it leaves search results at once, its vectors shortly after",
      request: { params: DocumentParams },
      responses: { 202: jsonResponse(Accepted, "Deleted"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      await deleteDocument(deleteDeps(c.get("services")), ns, id);
      return c.json({ accepted: true }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/namespaces/{ns}",
      operationId: "deleteNamespace",
      middleware: requires("write"),
      tags: ["namespaces"],
      summary: `Delete the namespace's documents, up to ${NAMESPACE_DELETE_MAX} per call (repeat while remaining), and stop its scheduled backups`,
      description:
        "The first call also stops the namespace's scheduled backups: its backup policy is marked stopped, so no " +
        "new backup starts and GET …/backup-policy answers 404 (PUT …/backup-policy starts the schedule again). " +
        "Backups already taken are kept, and the policy's retention (keep.count, keep.maxAgeDays) goes on pruning " +
        "them, never the newest complete one, so the namespace can still be restored; DELETE …/backup-policy " +
        "removes the policy and ends the pruning too.",
      request: { params: NamespaceParams },
      responses: { 202: jsonResponse(NamespaceDeleteSchema, "Deleted"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      // Its scheduled backups stop; those taken stay until the policy's retention prunes them.
      if (await new PolicyStore(c.get("services").db).stop(ns)) {
        c.get("logger").info("backup.policy_stopped", { namespace: ns, reason: "namespace deleted" });
      }
      const { accepted, remaining } = await deleteNamespaceDocuments(deleteDeps(c.get("services")), ns);
      return c.json({ accepted, remaining }, 202);
    },
  );
}
