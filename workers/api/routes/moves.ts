// Moving a namespace to another D1 database of the pool (admin role), online: the POST answers 202
// with the job, which runs on the ingest queue (src/moves/task.ts) while searches and writes go on;
// the GET reports its phase and progress. One running move per namespace.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../../../src/errors";
import { MOVE_PHASES, type MoveJob, MoveJobStore } from "../../../src/moves/jobs";
import { sendMoveStep } from "../../../src/moves/task";
import { CONTROL_DATABASE } from "../../../src/store/pool";
import { requireNamespace, requires } from "../auth";
import { moveExample } from "../examples";
import { errorResponses, jsonBody, jsonResponse, NamespaceParams } from "../schemas";
import type { AppEnv } from "../types";

const MoveBody = z
  .object({
    to: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]{0,63}$/)
      .openapi({ description: "The D1 binding to move to, one of the pool's", example: "DATA_DB_1" }),
  })
  .strict();

const MoveParams = NamespaceParams.extend({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const MoveJobResponse = z
  .object({
    id: z.string(),
    namespace: z.string(),
    from: z.string(),
    to: z.string(),
    state: z.enum(["running", "complete", "failed"]),
    phase: z.enum(MOVE_PHASES),
    progress: z.object({ copied: z.number().int(), repaired: z.number().int(), removed: z.number().int() }),
    error: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("MoveJob");

function view(job: MoveJob): z.infer<typeof MoveJobResponse> {
  return {
    id: job.id,
    namespace: job.namespace,
    from: job.source,
    to: job.target,
    state: job.state,
    phase: job.phase,
    progress: { copied: job.copied, repaired: job.repaired, removed: job.removed },
    error: job.error,
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
  };
}

export function registerMoves(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/namespaces/{ns}/move",
      operationId: "createMove",
      middleware: requires("admin"),
      tags: ["admin"],
      summary: "Move the namespace's documents to another D1 database of the pool, online (admin role)",
      request: { params: NamespaceParams, body: jsonBody(MoveBody, moveExample) },
      responses: { 202: jsonResponse(MoveJobResponse, "Move started"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { to } = c.req.valid("json");
      const services = c.get("services");
      if (!services.pool.names().includes(to)) {
        throw new AppError(
          "bad_request",
          `"${to}" is not a D1 database of the pool (${services.pool.names().join(", ")})`,
          {
            field: "body.to",
          },
        );
      }
      const pointer = await services.versions.coordinator(ns).writeTargets();
      const from = pointer.database ?? CONTROL_DATABASE;
      if (from === to)
        throw new AppError("conflict", `namespace "${ns}" is in ${to} already`, { field: "body.to" });
      if (pointer.moving) throw new AppError("conflict", `namespace "${ns}" is moving to ${pointer.moving}`);
      const jobs = new MoveJobStore(services.db);
      const job = await jobs.create({ id: crypto.randomUUID(), namespace: ns, source: from, target: to });
      try {
        await sendMoveStep(services.queue, job.id, 0);
      } catch (err) {
        await jobs.fail(job.id, "its first step could not be queued");
        throw new AppError("unavailable", "the move could not be queued; retry", { cause: err });
      }
      c.header("Location", `/v1/admin/namespaces/${ns}/move/${job.id}`);
      return c.json(view(job), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/namespaces/{ns}/move/{id}",
      operationId: "getMove",
      middleware: requires("admin"),
      tags: ["admin"],
      summary: "A move's state (running, complete or failed), phase and progress",
      request: { params: MoveParams },
      responses: { 200: jsonResponse(MoveJobResponse, "Move"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const job = await new MoveJobStore(c.get("services").db).get(ns, id);
      if (!job) throw new AppError("not_found", `namespace "${ns}" has no move ${id}`);
      return c.json(view(job), 200);
    },
  );
}
