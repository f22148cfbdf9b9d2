// Erasure by metadata filter (write role): the POST marks the matching documents expired (out of
// every search at once) and answers 202 with the job, which deletes them a page per queue message
// (src/erasure/task.ts); the GET reports its progress.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { type ErasureJob, ErasureJobStore } from "../../../src/erasure/jobs";
import { checkErasureFilter, startErasure } from "../../../src/erasure/task";
import { AppError } from "../../../src/errors";
import { validateFilter } from "../../../src/vectors/filter";
import { requireNamespace, requires } from "../auth";
import { erasureExample } from "../examples";
import { errorResponses, FilterSchema, jsonBody, jsonResponse, NamespaceParams } from "../schemas";
import type { AppEnv } from "../types";

const EraseBody = z
  .strictObject({
    // Search's filter language, on any metadata field: matched in D1 on whole values, so not only
    // the filterable fields (the route's description says so).
    filter: FilterSchema.optional(),
    all: z.literal(true).optional().openapi({
      description: "Erase every document of the namespace; instead of a filter (an empty filter is refused).",
    }),
  })
  .openapi("EraseDocumentsRequest");

const ErasureParams = NamespaceParams.extend({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const ErasureJobResponse = z
  .object({
    id: z.string(),
    namespace: z.string(),
    // null: every document.
    filter: FilterSchema.nullable(),
    state: z.enum(["running", "complete", "failed"]),
    matched: z.number().int().openapi({
      description: "Documents that matched when the erasure started (the snapshot it deletes).",
    }),
    deleted: z.number().int().openapi({ description: "Of those, how many are deleted so far." }),
    startedAt: z.string().openapi({
      description: "The snapshot's time: documents written after it are not erased, even when they match.",
    }),
    error: z.string().nullable(),
    updatedAt: z.string(),
  })
  .openapi("ErasureJob");

function view(job: ErasureJob): z.infer<typeof ErasureJobResponse> {
  return {
    id: job.id,
    namespace: job.namespace,
    filter: job.filter,
    state: job.state,
    matched: job.matched,
    deleted: job.deleted,
    startedAt: new Date(job.startedAt).toISOString(),
    error: job.error,
    updatedAt: new Date(job.updatedAt).toISOString(),
  };
}

/** The body's filter, validated as search validates one; null for `all`. */
function erasureFilter(body: z.infer<typeof EraseBody>) {
  if (body.all && body.filter !== undefined) {
    throw new AppError("validation_failed", "give either a filter or all: true, not both", { field: "body" });
  }
  if (body.all) return null;
  if (body.filter === undefined || Object.keys(body.filter).length === 0) {
    throw new AppError(
      "invalid_filter",
      "an erasure needs a filter with at least one field; send all: true to erase every document",
      { field: "body.filter" },
    );
  }
  const filter = validateFilter(body.filter);
  checkErasureFilter(filter);
  return filter;
}

export function registerErasures(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/documents/delete",
      operationId: "eraseDocuments",
      middleware: requires("write"),
      tags: ["documents"],
      summary:
        "Erase the documents matching a metadata filter: out of search at once, then deleted by a job (202, Location)",
      description:
        "The filter is search's filter language on any metadata field (compared on whole values, not only the filterable fields); " +
        "an empty filter is refused, all: true erases every document. The documents matching when the request is answered are " +
        "erased (a snapshot): documents written afterwards stay, even when they match. Backups taken before are flagged " +
        "(containsErasedData) and still hold the erased documents.",
      request: { params: NamespaceParams, body: jsonBody(EraseBody, erasureExample) },
      responses: { 202: jsonResponse(ErasureJobResponse, "Erasure started"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      const principal = c.get("principal");
      requireNamespace(principal, ns);
      const filter = erasureFilter(c.req.valid("json"));
      const services = c.get("services");
      const job = await startErasure(
        { ...services, publisher: services.versions.coordinator, logger: c.get("logger") },
        { namespace: ns, filter, createdBy: principal.keyId },
      );
      c.get("logger").info("erasure.started", { namespace: ns, job: job.id, matched: job.matched });
      c.header("Location", `/v1/namespaces/${ns}/erasures/${job.id}`);
      return c.json(view(job), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/erasures/{id}",
      operationId: "getErasure",
      middleware: requires("write"),
      tags: ["documents"],
      summary: "An erasure's state (running, complete or failed) and progress",
      request: { params: ErasureParams },
      responses: { 200: jsonResponse(ErasureJobResponse, "Erasure"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const job = await new ErasureJobStore(c.get("services").db).get(ns, id);
      if (!job) throw new AppError("not_found", `namespace "${ns}" has no erasure ${id}`);
      return c.json(view(job), 200);
    },
  );
}
