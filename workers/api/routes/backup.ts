// Backups of a namespace (admin role): export its active version to R2 as NDJSON parts with a
// manifest, list them, and restore one into an empty namespace. Both run within the request, so
// a backup is bounded (MAX_BACKUP_DOCUMENTS, MAX_BACKUP_CHUNKS; above them: 413).
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { canAccessNamespace } from "../../../src/auth/scopes";
import { createBackup } from "../../../src/backup/export";
import { BACKUP_PREFIX, BackupIdSchema, type Manifest } from "../../../src/backup/format";
import { readManifest, restoreBackup, restoreConflict } from "../../../src/backup/restore";
import { BackupStore } from "../../../src/backup/store";
import { publishGenerations } from "../../../src/cache/generation";
import { AppError } from "../../../src/errors";
import { r2 } from "../../../src/store/r2";
import { NamespaceSchema } from "../../../src/validation";
import { requireNamespace } from "../auth";
import { errorResponses, jsonBody, jsonResponse, NamespaceParams } from "../schemas";
import type { AppEnv } from "../types";

const MAX_LISTED = 1000;

const ManifestResponse = z
  .object({
    format: z.number().int(),
    namespace: z.string(),
    backupId: z.string(),
    createdAt: z.string(),
    version: z.object({
      id: z.string(),
      model: z.string(),
      dimensions: z.number().int(),
      pooling: z.enum(["cls", "mean"]),
      chunking: z.object({ maxTokens: z.number().int(), overlapTokens: z.number().int() }),
      index: z.string(),
    }),
    counts: z.object({ documents: z.number().int(), chunks: z.number().int(), vectors: z.number().int() }),
    files: z.array(
      z.object({
        kind: z.enum(["documents", "chunks", "vectors"]),
        name: z.string(),
        sha256: z.string(),
        lines: z.number().int(),
        bytes: z.number().int(),
      }),
    ),
  })
  .openapi("BackupManifest");

const BackupCreated = z.object({ backupId: z.string(), manifest: ManifestResponse }).openapi("BackupCreated");

const BackupList = z
  .object({
    namespace: z.string(),
    backups: z.array(
      z.object({
        backupId: z.string(),
        createdAt: z.string(),
        documents: z.number().int().nullable(),
        chunks: z.number().int().nullable(),
        model: z.string().nullable(),
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

const RestoreResponse = z
  .object({
    namespace: z.string(),
    from: z.object({ namespace: z.string(), backupId: z.string() }),
    documents: z.number().int(),
    chunks: z.number().int(),
    vectors: z.number().int(),
  })
  .openapi("RestoreResult");

const count = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : null);

export function registerBackup(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/backups",
      tags: ["backups"],
      summary: "Back up the namespace's active version to R2 (admin role; at most 500 documents)",
      request: { params: NamespaceParams },
      responses: { 201: jsonResponse(BackupCreated, "Backup written"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const services = c.get("services");
      const { active } = await services.versions.coordinator(ns).writeTargets();
      const manifest: Manifest = await createBackup(
        {
          blobs: services.blobs,
          store: new BackupStore(services.db),
          index: services.versions.index(active),
        },
        ns,
        active,
      );
      services.logger.info("backup.created", {
        namespace: ns,
        backupId: manifest.backupId,
        documents: manifest.counts.documents,
        chunks: manifest.counts.chunks,
      });
      return c.json({ backupId: manifest.backupId, manifest }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/backups",
      tags: ["backups"],
      summary: "List the namespace's backups, newest first",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(BackupList, "Backups"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const blobs = c.get("services").blobs;
      const prefix = `${BACKUP_PREFIX}/${ns}/`;
      const backups: z.infer<typeof BackupList>["backups"] = [];
      let cursor: string | undefined;
      do {
        const page = await r2("list backups", () =>
          blobs.list({ prefix, cursor, include: ["customMetadata"], limit: 1000 }),
        );
        for (const o of page.objects) {
          const id = o.key.slice(prefix.length).replace(/\/manifest\.json$/, "");
          if (!o.key.endsWith("/manifest.json") || !BackupIdSchema.safeParse(id).success) continue;
          const meta = o.customMetadata ?? {};
          backups.push({
            backupId: id,
            createdAt: meta.createdAt ?? o.uploaded.toISOString(),
            documents: count(meta.documents),
            chunks: count(meta.chunks),
            model: meta.model ?? null,
          });
        }
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor !== undefined && backups.length < MAX_LISTED);
      backups.sort((a, b) => (a.backupId < b.backupId ? 1 : -1));
      return c.json({ namespace: ns, backups }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/restore",
      tags: ["backups"],
      summary:
        "Restore a backup into this namespace, which must be empty (admin role on it and on the backup's namespace)",
      request: { params: NamespaceParams, body: jsonBody(RestoreBody) },
      responses: { 200: jsonResponse(RestoreResponse, "Restored"), ...errorResponses },
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
      const services = c.get("services");
      const store = new BackupStore(services.db);
      const manifest = await readManifest(services.blobs, from.namespace, from.backupId);
      const { active, live } = await services.versions.coordinator(ns).writeTargets();
      const target = { namespace: ns, active, live, index: services.versions.index(active) };
      const deps = { blobs: services.blobs, store };
      const conflict = await restoreConflict(deps, manifest, target);
      if (conflict !== null) throw new AppError("conflict", conflict);
      const result = await restoreBackup(deps, manifest, target);
      await publishGenerations(services.db, services.kv, [ns], services.logger);
      services.logger.info("backup.restored", {
        namespace: ns,
        from: from.namespace,
        backupId: from.backupId,
        ...result,
      });
      return c.json({ namespace: ns, from, ...result }, 200);
    },
  );
}
