// A namespace's backup policy (admin role): how often the scheduled handler backs it up and which
// backups it keeps (src/backup/schedule.ts). PUT sets it, GET reads it with its schedule's state,
// DELETE stops the schedule (backups already taken stay).
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { BackupPolicySchema, PolicyStore, type StoredPolicy } from "../../../src/backup/policy";
import { AppError } from "../../../src/errors";
import { requireNamespace, requires } from "../auth";
import { backupPolicyExample } from "../examples";
import { errorResponses, jsonBody, jsonResponse, NamespaceParams } from "../schemas";
import type { AppEnv } from "../types";

const PolicyBody = BackupPolicySchema.openapi("BackupPolicyRequest", {
  description:
    "intervalHours: hours between scheduled backups (at least 1). keep: complete backups past the newest `count` or older than `maxAgeDays` are deleted, and failed ones older than `maxAgeDays`; the newest complete backup is always kept.",
});

export const BackupPolicyResponse = z
  .object({
    namespace: z.string(),
    intervalHours: z.number().int(),
    keep: z.object({ count: z.number().int(), maxAgeDays: z.number().int() }),
    nextDueAt: z.string().openapi({ description: "When the scheduled handler next starts a backup" }),
    lastStartedAt: z.string().nullable(),
    lastBackupId: z.string().nullable().openapi({ description: "The backup the schedule last started" }),
    lastSkipReason: z
      .string()
      .nullable()
      .openapi({ description: "Why the last due backup did not start (a running job, an error)" }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("BackupPolicy");

function view(p: StoredPolicy): z.infer<typeof BackupPolicyResponse> {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    namespace: p.namespace,
    intervalHours: p.intervalHours,
    keep: p.keep,
    nextDueAt: new Date(p.nextDueAt).toISOString(),
    lastStartedAt: iso(p.lastStartedAt),
    lastBackupId: p.lastBackupId,
    lastSkipReason: p.lastSkipReason,
    createdAt: new Date(p.createdAt).toISOString(),
    updatedAt: new Date(p.updatedAt).toISOString(),
  };
}

const noPolicy = (ns: string) => new AppError("not_found", `namespace "${ns}" has no backup policy`);

export function registerBackupPolicy(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/namespaces/{ns}/backup-policy",
      operationId: "putBackupPolicy",
      middleware: requires("admin"),
      tags: ["backups"],
      summary:
        "Back the namespace up on a schedule and prune old backups (admin role); a new policy's first backup starts at the next scheduled run",
      request: { params: NamespaceParams, body: jsonBody(PolicyBody, backupPolicyExample) },
      responses: { 200: jsonResponse(BackupPolicyResponse, "Policy now in force"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const policy = await new PolicyStore(c.get("services").db).put(ns, c.req.valid("json"));
      c.get("logger").info("backup.policy_set", {
        namespace: ns,
        intervalHours: policy.intervalHours,
        keep: policy.keep,
      });
      return c.json(view(policy), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/backup-policy",
      operationId: "getBackupPolicy",
      middleware: requires("admin"),
      tags: ["backups"],
      summary: "The namespace's backup policy and its schedule's state (404 when it has none)",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(BackupPolicyResponse, "Policy"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const policy = await new PolicyStore(c.get("services").db).get(ns);
      if (!policy) throw noPolicy(ns);
      return c.json(view(policy), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/namespaces/{ns}/backup-policy",
      operationId: "deleteBackupPolicy",
      middleware: requires("admin"),
      tags: ["backups"],
      summary: "Stop the namespace's scheduled backups and pruning; its backups stay (admin role)",
      request: { params: NamespaceParams },
      responses: {
        200: jsonResponse(z.object({ deleted: z.boolean() }), "Policy removed"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      if (!(await new PolicyStore(c.get("services").db).delete(ns))) throw noPolicy(ns);
      c.get("logger").info("backup.policy_deleted", { namespace: ns });
      return c.json({ deleted: true }, 200);
    },
  );
}
