// Backups of a namespace (admin role): export its active version to the backups bucket as NDJSON
// parts with a signed manifest, and restore one (whose signature verifies) into an empty
// namespace. Both run as jobs on the ingest queue, a page of documents per step (src/backup/): the
// POST answers 202 with the job, which the GET routes report on (state, progress, error). One
// running backup or restore per namespace.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { canAccessNamespace } from "../../../src/auth/scopes";
import { BackupIdSchema, manifestKey } from "../../../src/backup/format";
import { type Job, jobView } from "../../../src/backup/jobs";
import { findJob, listBackups, listJobs, requestBackup, requestRestore } from "../../../src/backup/requests";
import { ErasureJobStore } from "../../../src/erasure/jobs";
import { AppError } from "../../../src/errors";
import { NamespaceSchema } from "../../../src/validation";
import { requireNamespace, requires } from "../auth";
import { restoreExample } from "../examples";
import { errorResponses, jsonBody, jsonResponse, NamespaceParams } from "../schemas";
import type { AppEnv } from "../types";

const MAX_LISTED = 1000;

const JobParams = NamespaceParams.extend({
  id: BackupIdSchema.openapi({ param: { name: "id", in: "path" }, example: "20260101T120000Z-0a1b2c3d" }),
});

const VersionResponse = z.object({
  id: z.string(),
  model: z.string(),
  dimensions: z.number().int(),
  pooling: z.enum(["cls", "mean"]),
  chunking: z.object({ maxTokens: z.number().int(), overlapTokens: z.number().int() }),
  index: z.string(),
});

export const JobResponse = z
  .object({
    id: z.string().openapi({ description: "The backup id (backups) or the restore's id" }),
    kind: z.enum(["backup", "restore"]),
    namespace: z.string(),
    state: z.enum(["running", "complete", "failed"]),
    phase: z.enum(["pages", "manifest", "verify", "write", "settle"]),
    progress: z.object({
      steps: z.number().int(),
      documents: z.number().int(),
      chunks: z.number().int(),
      vectors: z.number().int(),
      expected: z
        .object({ documents: z.number().int(), chunks: z.number().int() })
        .nullable()
        .openapi({ description: "The namespace's counts when the backup started, or the backup's" }),
      parts: z
        .object({ verified: z.number().int(), total: z.number().int() })
        .nullable()
        .openapi({ description: "Restores: parts checked against the manifest" }),
    }),
    error: z.string().nullable(),
    version: VersionResponse,
    from: z.object({ namespace: z.string(), backupId: z.string() }).nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().nullable(),
    manifest: z
      .string()
      .nullable()
      .openapi({ description: "Complete backups: the manifest's key in the backups bucket" }),
    containsErasedData: z.boolean().openapi({
      description:
        "Backups: an erasure by filter of the namespace started after this backup did, so it may hold documents that were erased (docs/runbooks/purge-backups-after-erasure.md)",
    }),
    erasedAt: z.string().nullable().openapi({
      description: "When the latest such erasure started; null when none did",
    }),
  })
  .openapi("BackupJob");

const JobList = z.object({ namespace: z.string(), jobs: z.array(JobResponse) }).openapi("BackupJobList");

const BackupList = z
  .object({
    namespace: z.string(),
    jobs: z.array(
      JobResponse.extend({
        bytes: z.number().int().openapi({
          description: "Bytes of the backup's parts in the backups bucket (so far, while running)",
        }),
        ageSeconds: z.number().int().openapi({ description: "Seconds since the backup started" }),
      }),
    ),
  })
  .openapi("BackupList");

const RestoreBody = z
  .strictObject({
    from: z.strictObject({
      namespace: NamespaceSchema.openapi({ description: "The namespace the backup was taken of" }),
      backupId: BackupIdSchema,
    }),
  })
  .openapi("RestoreRequest");

/** `erasures`: when each of the namespace's erasures started (ErasureJobStore.startTimes). */
function view(job: Job, erasures: readonly number[] = []): z.infer<typeof JobResponse> {
  const later = job.kind === "backup" ? erasures.filter((t) => t > job.createdAt) : [];
  const latest = later.length > 0 ? Math.max(...later) : null;
  return {
    ...jobView(job),
    manifest: job.kind === "backup" && job.state === "complete" ? manifestKey(job.namespace, job.id) : null,
    containsErasedData: latest !== null,
    erasedAt: latest === null ? null : new Date(latest).toISOString(),
  };
}

const location = (job: Job) =>
  `/v1/namespaces/${job.namespace}/${job.kind === "backup" ? "backups" : "restore"}/${job.id}`;

export function registerBackup(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/backups",
      operationId: "createBackup",
      middleware: requires("admin"),
      tags: ["backups"],
      summary:
        "Start a backup of the namespace's active version to R2, run on the queue a page of documents at a time (admin role; 409 while a backup or restore of the namespace runs)",
      request: { params: NamespaceParams },
      responses: { 202: jsonResponse(JobResponse, "Backup started"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { versions, db, pool, queue, config, logger } = c.get("services");
      const coordinator = versions.coordinator(ns);
      const job = await requestBackup({ coordinator, db, pool, queue, config, logger });
      c.header("Location", location(job));
      return c.json(view(job), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/backups",
      operationId: "listBackups",
      middleware: requires("admin"),
      tags: ["backups"],
      summary:
        "List the namespace's backups (running, complete and failed), newest first, with their size and age",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(BackupList, "Backups"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { db } = c.get("services");
      const [jobs, erasures] = await Promise.all([
        listBackups(db, ns, MAX_LISTED),
        new ErasureJobStore(db).startTimes(ns),
      ]);
      return c.json(
        {
          namespace: ns,
          jobs: jobs.map((job) => ({ ...view(job, erasures), bytes: job.bytes, ageSeconds: job.ageSeconds })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/backups/{id}",
      operationId: "getBackup",
      middleware: requires("admin"),
      tags: ["backups"],
      summary: "A backup's state (running, complete or failed), progress and error",
      request: { params: JobParams },
      responses: { 200: jsonResponse(JobResponse, "Backup"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { db } = c.get("services");
      const job = await findJob(db, ns, "backup", id);
      return c.json(view(job, await new ErasureJobStore(db).startTimes(ns)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/restore",
      operationId: "createRestore",
      middleware: requires("admin"),
      tags: ["backups"],
      summary:
        "Start restoring a backup into this namespace, which must be empty; run on the queue (admin role on it and on the backup's namespace)",
      request: { params: NamespaceParams, body: jsonBody(RestoreBody, restoreExample) },
      responses: { 202: jsonResponse(JobResponse, "Restore started"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      const principal = c.get("principal");
      requireNamespace(principal, ns);
      const { from } = c.req.valid("json");
      // The path's namespace is checked by the middleware; the backup's comes from the body.
      if (!canAccessNamespace(principal, from.namespace)) {
        throw new AppError("forbidden", "this key does not grant access to the backup's namespace");
      }
      const { versions, db, pool, queue, backups, config, logger } = c.get("services");
      const coordinator = versions.coordinator(ns);
      const job = await requestRestore({ coordinator, db, pool, queue, backups, config, logger }, from);
      c.header("Location", location(job));
      return c.json(view(job), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/restore",
      operationId: "listRestores",
      middleware: requires("admin"),
      tags: ["backups"],
      summary: "List the restores into the namespace (running, complete and failed), newest first",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(JobList, "Restores"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const jobs = await listJobs(c.get("services").db, ns, "restore", MAX_LISTED);
      return c.json({ namespace: ns, jobs: jobs.map((job) => view(job)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/restore/{id}",
      operationId: "getRestore",
      middleware: requires("admin"),
      tags: ["backups"],
      summary: "A restore's state (running, complete or failed), progress and error",
      request: { params: JobParams },
      responses: { 200: jsonResponse(JobResponse, "Restore"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const job = await findJob(c.get("services").db, ns, "restore", id);
      return c.json(view(job), 200);
    },
  );
}
