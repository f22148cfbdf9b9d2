// Index versions of a namespace (admin role): create one (it builds in the background), follow
// its progress, activate it once built (index caught up, quality gate passed), roll back, retire.
// Golden queries, the gate's test set, are set per namespace.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { namespaceEmbedder } from "../../../src/cache/embedding-cache";
import { EMBEDDING_MODELS } from "../../../src/embed/embedder";
import { AppError } from "../../../src/errors";
import { gateReport, meanNdcg } from "../../../src/migrations/gate";
import type { SearchMode } from "../../../src/search/search";
import { DocumentIdSchema } from "../../../src/validation";
import type { IndexInfo } from "../../../src/vectors/vector-index";
import type { VersionRecord, VersionSpec } from "../../../src/versions/model";
import { ChunkingSchema, VERSION_STATES } from "../../../src/versions/model";
import { clearPointerCache } from "../../../src/versions/pointer";
import type { Services } from "../../services";
import { requireNamespace } from "../auth";
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

/** The index a new version's vectors go to; checked to exist and to have the model's dimensions. */
async function chooseIndex(services: Services, active: VersionSpec, dimensions: number, requested?: string) {
  const config = services.config;
  let index = requested;
  if (index === undefined) {
    if (dimensions === active.dimensions) index = active.index;
    else if (config.backend === "local") index = `edgesearch-local-${dimensions}`;
    else {
      const candidates = [...config.vectorizeIndexes.keys()].join(", ");
      throw new AppError(
        "validation_failed",
        `the model has ${dimensions} dimensions and the active version's index ${active.dimensions}: name an index with ${dimensions} dimensions (bound ones: ${candidates})`,
        { field: "body.index" },
      );
    }
  }
  const spec = { ...active, index, dimensions };
  let info: IndexInfo;
  try {
    info = await services.versions.index(spec).describe();
  } catch (err) {
    if (err instanceof AppError && !err.retryable) {
      throw new AppError("validation_failed", err.message, { field: "body.index" });
    }
    throw err;
  }
  // A local index has no dimensions until its first write.
  if (info.dimensions !== 0 && info.dimensions !== dimensions) {
    throw new AppError(
      "validation_failed",
      `index "${index}" has ${info.dimensions} dimensions; the model needs ${dimensions}`,
      { field: "body.index" },
    );
  }
  return index;
}

export function registerVersions(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/versions",
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
      tags: ["versions"],
      summary: "Create an index version; it is built in the background from the namespace's documents",
      request: { params: NamespaceParams, body: jsonBody(CreateVersionBody) },
      responses: { 202: jsonResponse(VersionSchema, "Created; building"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const body = c.req.valid("json");
      const services = c.get("services");
      const coordinator = services.versions.coordinator(ns);
      const { active } = await coordinator.writeTargets();
      const dimensions = EMBEDDING_MODELS[body.model]?.dimensions ?? 0;
      const index = await chooseIndex(services, active, dimensions, body.index);
      const total = await services.store.countIndexed(ns);
      const { version, task } = await coordinator.createVersion(
        {
          model: body.model,
          dimensions,
          pooling: body.pooling ?? active.pooling,
          chunking: body.chunking ?? active.chunking,
          index,
        },
        total,
      );
      // A lost send is not lost work: the coordinator re-sends a build task that makes no progress.
      await services.queue.send(task, { contentType: "json" }).catch((err: unknown) => {
        services.logger.warn("versions.send_failed", {
          namespace: ns,
          version: version.id,
          error: String(err),
        });
      });
      services.logger.info("versions.created", { namespace: ns, version: version.id, model: version.model });
      return c.json(toVersion(version), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/versions/{id}",
      tags: ["versions"],
      summary: "One index version with its build progress and last quality gate",
      request: { params: VersionParams },
      responses: { 200: jsonResponse(VersionSchema, "The version"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const version = await c.get("services").versions.coordinator(ns).version(id);
      if (!version) throw new AppError("not_found", `version ${id} does not exist`);
      return c.json(toVersion(version), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/versions/{id}/activate",
      tags: ["versions"],
      summary: "Make a built version the active one (index caught up, quality gate passed)",
      request: { params: VersionParams, body: jsonBody(ActivateBody) },
      responses: {
        200: jsonResponse(z.object({ version: VersionSchema, gate: GateSchema }), "Activated"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const body = c.req.valid("json");
      const services = c.get("services");
      const coordinator = services.versions.coordinator(ns);
      const candidate = await coordinator.version(id);
      if (!candidate) throw new AppError("not_found", `version ${id} does not exist`);
      if (candidate.state !== "ready") {
        throw new AppError(
          "conflict",
          `version ${id} is ${candidate.state}; only a ready version can be activated`,
        );
      }
      const [golden, { active }] = await Promise.all([
        coordinator.goldenQueries(),
        coordinator.writeTargets(),
      ]);
      const score = (spec: VersionSpec) =>
        meanNdcg(
          {
            ...services,
            embedder: namespaceEmbedder(services.versions.embedder(spec), ns),
            index: services.versions.index(spec),
            version: spec.id,
            reranker: undefined,
          },
          ns,
          golden,
          body.mode as SearchMode,
        );
      const [ndcg, activeNdcg] =
        golden.length === 0 ? [0, null] : await Promise.all([score(candidate), score(active)]);
      const gate = gateReport(golden.length, ndcg, activeNdcg, services.config.qualityGate, body.force);
      const evidence = await services.versions.index(candidate).describe();
      const { version, purge } = await coordinator.activate(
        id,
        {
          processedUpToMutation: evidence.processedUpToMutation,
          processedUpToDatetime: evidence.processedUpToDatetime,
        },
        gate,
        services.config.versionGraceMs,
      );
      if (purge) await services.queue.send(purge, { contentType: "json" });
      clearPointerCache(ns);
      services.logger.info("versions.activated", {
        namespace: ns,
        version: id,
        ndcg,
        activeNdcg,
        forced: body.force,
      });
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
      tags: ["versions"],
      summary: "Make the previous version active again (within its grace period)",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(VersionSchema, "The version now active"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const services = c.get("services");
      const version = await services.versions.coordinator(ns).rollback();
      clearPointerCache(ns);
      services.logger.info("versions.rolled_back", { namespace: ns, version: version.id });
      return c.json(toVersion(version), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/versions/{id}/retire",
      tags: ["versions"],
      summary: "Retire a version that is not active: it stops receiving writes and its vectors are deleted",
      request: { params: VersionParams },
      responses: { 200: jsonResponse(VersionSchema, "Retired"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const services = c.get("services");
      const { version, purge } = await services.versions.coordinator(ns).retire(id);
      if (purge) await services.queue.send(purge, { contentType: "json" });
      services.logger.info("versions.retired", { namespace: ns, version: id });
      return c.json(toVersion(version), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/namespaces/{ns}/golden-queries",
      tags: ["versions"],
      summary: "Set the golden queries the quality gate scores versions with",
      request: { params: NamespaceParams, body: jsonBody(GoldenQueriesBody) },
      responses: { 200: jsonResponse(z.object({ count: z.number().int() }), "Stored"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { queries } = c.req.valid("json");
      const count = await c.get("services").versions.coordinator(ns).setGoldenQueries(queries);
      return c.json({ count }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/golden-queries",
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
