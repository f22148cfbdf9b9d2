// Index versions of a namespace (admin role): create one (it builds in the background), follow
// its progress, activate it once built (index caught up, quality gate passed), roll back, retire.
// Golden queries, the gate's test set, are set per namespace.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { EMBEDDING_MODELS } from "../../../src/embed/embedder";
import {
  activateVersion,
  createVersion,
  getVersion,
  retireVersion,
  rollbackVersion,
} from "../../../src/migrations/lifecycle";
import { DocumentIdSchema } from "../../../src/validation";
import type { VersionRecord } from "../../../src/versions/model";
import { ChunkingSchema, VERSION_STATES } from "../../../src/versions/model";
import { QUALITY_RETENTION, readQuality, watchNamespace } from "../../../src/versions/quality";
import { QUALITY_LIMITS } from "../../../src/versions/quality-watch";
import type { Services } from "../../services";
import { requireNamespace, requires } from "../auth";
import { activateVersionExample, createVersionExample, goldenQueriesExample } from "../examples";
import { errorResponses, jsonBody, jsonResponse, MAX_QUERY_CHARS, NamespaceParams } from "../schemas";
import type { AppEnv } from "../types";

const MODELS = Object.keys(EMBEDDING_MODELS) as [string, ...string[]];
export const MAX_GOLDEN_QUERIES = 500;

const VersionParams = NamespaceParams.extend({
  id: z
    .string()
    .regex(/^v[0-9]{1,6}$/, 'a version id such as "v2"')
    .openapi({ param: { name: "id", in: "path" }, example: "v2" }),
});

const CreateVersionBody = z
  .strictObject({
    model: z.enum(MODELS).openapi({ description: "The embedding model of the new version" }),
    pooling: z.enum(["cls", "mean"]).optional().openapi({ description: "Defaults to the active version's" }),
    chunking: ChunkingSchema.refine((c) => c.overlapTokens < c.maxTokens, {
      message: "overlapTokens must be below maxTokens",
      path: ["overlapTokens"],
    })
      .optional()
      .openapi({ description: "Defaults to the active version's; a change re-chunks documents from R2" }),
    index: z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/)
      .optional()
      .openapi({
        description:
          "The vector index for the new version's vectors. Defaults to the active version's when the dimensions match; otherwise required on Cloudflare (an index listed in VECTORIZE_INDEXES)",
      }),
  })
  .openapi("CreateVersionRequest");

const ActivateBody = z
  .strictObject({
    force: z
      .boolean()
      .default(false)
      .openapi({ description: "Activate even if the quality gate fails or cannot run (no golden queries)" }),
    mode: z
      .enum(["vector", "hybrid", "keyword"])
      .default("vector")
      .openapi({ description: "The search mode the gate scores both versions with" }),
  })
  .openapi("ActivateVersionRequest");

export const GoldenQueriesBody = z
  .strictObject({
    queries: z
      .array(
        z.strictObject({
          query: z.string().trim().min(1).max(MAX_QUERY_CHARS),
          relevant: z.array(DocumentIdSchema).min(1).max(100),
        }),
      )
      .max(MAX_GOLDEN_QUERIES),
  })
  .openapi("GoldenQueries");

const iso = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

const GateSchema = z
  .object({
    queries: z.number().int(),
    ndcg: z.number(),
    activeNdcg: z.number().nullable(),
    minNdcg: z.number().nullable(),
    tolerance: z.number(),
    passed: z.boolean(),
    forced: z.boolean(),
    at: z.string(),
  })
  .openapi("QualityGate");

const VersionSchema = z
  .object({
    id: z.string(),
    state: z.enum(VERSION_STATES),
    model: z.string(),
    dimensions: z.number().int(),
    pooling: z.enum(["cls", "mean"]),
    chunking: z.object({ maxTokens: z.number().int(), overlapTokens: z.number().int() }),
    index: z.string(),
    createdAt: z.string(),
    activatedAt: z.string().nullable(),
    retireAt: z.string().nullable(),
    retiredAt: z.string().nullable(),
    purged: z.boolean(),
    build: z
      .object({
        phase: z.enum(["scan", "sweep", "done"]),
        total: z.number().int(),
        done: z.number().int(),
        failed: z.number().int(),
        failures: z.array(z.object({ id: z.string(), error: z.string() })),
        startedAt: z.string(),
        finishedAt: z.string().nullable(),
      })
      .nullable(),
    gate: GateSchema.nullable(),
  })
  .openapi("IndexVersion");

const VersionListSchema = z
  .object({
    namespace: z.string(),
    active: z.string(),
    versions: z.array(VersionSchema),
    goldenQueries: z.number().int(),
  })
  .openapi("IndexVersions");

function toVersion(r: VersionRecord): z.infer<typeof VersionSchema> {
  const b = r.backfill;
  return {
    id: r.id,
    state: r.state,
    model: r.model,
    dimensions: r.dimensions,
    pooling: r.pooling,
    chunking: r.chunking,
    index: r.index,
    createdAt: new Date(r.createdAt).toISOString(),
    activatedAt: iso(r.activatedAt),
    retireAt: iso(r.retireAt),
    retiredAt: iso(r.retiredAt),
    purged: r.purged,
    build: b
      ? {
          phase: b.phase,
          total: b.total,
          done: b.done,
          failed: b.failed,
          failures: b.failures,
          startedAt: new Date(b.startedAt).toISOString(),
          finishedAt: iso(b.finishedAt),
        }
      : null,
    gate: r.gate ? { ...r.gate, at: new Date(r.gate.at).toISOString() } : null,
  };
}

const QualityPointSchema = z.object({
  at: z.string(),
  ndcg: z.number(),
  queries: z.number().int().openapi({ description: "Golden queries the pass scored" }),
});

const QualitySchema = z
  .object({
    namespace: z.string(),
    tolerance: z.number().openapi({ description: "The drop below the activation value the alert allows" }),
    intervalSeconds: z
      .number()
      .int()
      .openapi({ description: "A version's next pass starts this long after its last" }),
    retention: z.object({ days: z.number().int(), pointsPerVersion: z.number().int() }),
    versions: z.array(
      z.object({
        version: z.string(),
        activation: z
          .object({
            ndcg: z.number(),
            source: z.enum(["gate", "replaced", "first_measurement"]),
            at: z.string().nullable(),
          })
          .nullable()
          .openapi({ description: "The value the version's measurements are held to; null until known" }),
        mode: z.enum(["vector", "hybrid", "keyword"]),
        alerting: z.boolean().openapi({ description: "Whether the quality drop alert is raised" }),
        alertedAt: z.string().nullable(),
        latest: QualityPointSchema.nullable(),
        pass: z
          .object({ scored: z.number().int(), startedAt: z.string() })
          .nullable()
          .openapi({ description: "A pass in progress (it may span several scheduled runs)" }),
        points: z.array(QualityPointSchema),
      }),
    ),
  })
  .openapi("VersionQuality");
export type VersionQualityBody = z.infer<typeof QualitySchema>;

/** What activating one of the namespace's versions needs (the gate searches both versions). */
export function activationDeps(services: Services, ns: string): Parameters<typeof activateVersion>[0] {
  const { versions, store, db, guard, config, queue, logger } = services;
  return {
    coordinator: versions.coordinator(ns),
    versions,
    search: { store, db, logger, guard },
    gate: config.qualityGate,
    graceMs: config.versionGraceMs,
    queue,
    logger,
    quality: db,
  };
}

export function registerVersions(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/versions",
      operationId: "listVersions",
      middleware: requires("admin"),
      tags: ["versions"],
      summary: "List the namespace's index versions with build progress (admin role)",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(VersionListSchema, "Versions"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const overview = await c.get("services").versions.coordinator(ns).overview();
      return c.json({ ...overview, versions: overview.versions.map(toVersion) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/versions",
      operationId: "createVersion",
      middleware: requires("admin"),
      tags: ["versions"],
      summary: "Create an index version; it is built in the background from the namespace's documents",
      request: { params: NamespaceParams, body: jsonBody(CreateVersionBody, createVersionExample) },
      responses: { 202: jsonResponse(VersionSchema, "Created; building"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { versions, store, config, queue, logger } = c.get("services");
      const coordinator = versions.coordinator(ns);
      const version = await createVersion(
        { coordinator, versions, store, config, queue, logger },
        c.req.valid("json"),
      );
      return c.json(toVersion(version), 202);
    },
  );

  // Before /versions/{id}, which would take "quality" for a version id.
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/versions/quality",
      operationId: "getVersionQuality",
      middleware: requires("admin"),
      tags: ["versions"],
      summary:
        "The nDCG@10 series the scheduled quality watch measured per version, with each version's activation value and alert",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(QualitySchema, "Series, oldest point first"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { db, config } = c.get("services");
      const point = (p: { at: number; ndcg: number; queries: number }) => ({
        ...p,
        at: new Date(p.at).toISOString(),
      });
      const versions = (await readQuality(db, ns)).map(({ row, points }) => {
        const last = points.at(-1);
        return {
          version: row.version,
          activation:
            row.activation_ndcg === null || row.activation_source === null
              ? null
              : { ndcg: row.activation_ndcg, source: row.activation_source, at: iso(row.activated_at) },
          mode: row.mode,
          alerting: row.alerting === 1,
          alertedAt: iso(row.alerted_at),
          latest: last ? point(last) : null,
          pass:
            row.pass_started_at === null
              ? null
              : { scored: row.next_query, startedAt: new Date(row.pass_started_at).toISOString() },
          points: points.map(point),
        };
      });
      return c.json(
        {
          namespace: ns,
          tolerance: config.qualityGate.tolerance,
          intervalSeconds: QUALITY_LIMITS.intervalMs / 1000,
          retention: {
            days: QUALITY_RETENTION.maxAgeMs / 86_400_000,
            pointsPerVersion: QUALITY_RETENTION.maxPoints,
          },
          versions,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/versions/{id}",
      operationId: "getVersion",
      middleware: requires("admin"),
      tags: ["versions"],
      summary: "One index version with its build progress and last quality gate",
      request: { params: VersionParams },
      responses: { 200: jsonResponse(VersionSchema, "The version"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const version = await getVersion(c.get("services").versions.coordinator(ns), id);
      return c.json(toVersion(version), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/versions/{id}/activate",
      operationId: "activateVersion",
      middleware: requires("admin"),
      tags: ["versions"],
      summary: "Make a built version the active one (index caught up, quality gate passed)",
      request: { params: VersionParams, body: jsonBody(ActivateBody, activateVersionExample) },
      responses: {
        200: jsonResponse(z.object({ version: VersionSchema, gate: GateSchema }), "Activated"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { version, gate } = await activateVersion(
        activationDeps(c.get("services"), ns),
        id,
        c.req.valid("json"),
      );
      return c.json(
        { version: toVersion(version), gate: { ...gate, at: new Date(gate.at).toISOString() } },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/versions/rollback",
      operationId: "rollbackVersion",
      middleware: requires("admin"),
      tags: ["versions"],
      summary: "Make the previous version active again (within its grace period)",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(VersionSchema, "The version now active"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { versions, logger } = c.get("services");
      const version = await rollbackVersion({ coordinator: versions.coordinator(ns), logger });
      return c.json(toVersion(version), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/versions/{id}/retire",
      operationId: "retireVersion",
      middleware: requires("admin"),
      tags: ["versions"],
      summary: "Retire a version that is not active: it stops receiving writes and its vectors are deleted",
      request: { params: VersionParams },
      responses: { 200: jsonResponse(VersionSchema, "Retired"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { versions, queue, logger } = c.get("services");
      const version = await retireVersion({ coordinator: versions.coordinator(ns), queue, logger }, id);
      return c.json(toVersion(version), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/namespaces/{ns}/golden-queries",
      operationId: "putGoldenQueries",
      middleware: requires("admin"),
      tags: ["versions"],
      summary: "Set the golden queries the quality gate scores versions with",
      request: { params: NamespaceParams, body: jsonBody(GoldenQueriesBody, goldenQueriesExample) },
      responses: { 200: jsonResponse(z.object({ count: z.number().int() }), "Stored"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { queries } = c.req.valid("json");
      const { versions, db } = c.get("services");
      const count = await versions.coordinator(ns).setGoldenQueries(queries);
      // The scheduled quality watch scores the namespace from now on (src/versions/quality-watch.ts).
      if (count > 0) await watchNamespace(db, ns).run();
      return c.json({ count }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/golden-queries",
      operationId: "getGoldenQueries",
      middleware: requires("admin"),
      tags: ["versions"],
      summary: "The golden queries of the namespace's quality gate",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(GoldenQueriesBody, "Golden queries"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const queries = await c.get("services").versions.coordinator(ns).goldenQueries();
      return c.json({ queries }, 200);
    },
  );
}
