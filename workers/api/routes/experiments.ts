// Online experiments on a namespace's index versions (admin role): start one against a ready or
// previous version, change its shares, stop it, promote its candidate (the versions' activation,
// gate included), and read its report. Feedback on search answers (search role) feeds the
// report's click metrics.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../../../src/errors";
import type { ExperimentRecord } from "../../../src/experiments/model";
import { EXPERIMENT_STATES } from "../../../src/experiments/model";
import { buildReport } from "../../../src/experiments/report";
import { checkPosition, openSearchId, searchIdKey } from "../../../src/experiments/search-id";
import { readCounters, recordClick } from "../../../src/experiments/store";
import { activateVersion } from "../../../src/migrations/lifecycle";
import { DocumentIdSchema } from "../../../src/validation";
import { requireNamespace, requires } from "../auth";
import {
  experimentReportExample,
  feedbackExample,
  startExperimentExample,
  updateExperimentExample,
} from "../examples";
import { errorResponses, jsonBody, jsonResponse, NamespaceParams } from "../schemas";
import type { AppEnv } from "../types";
import { activationDeps } from "./versions";

/** Searches per arm before a verdict, unless the experiment sets its own. */
export const DEFAULT_MIN_SAMPLES = 1000;

const ExperimentParams = NamespaceParams.extend({
  id: z
    .string()
    .regex(/^e[0-9]{1,6}$/, 'an experiment id such as "e1"')
    .openapi({ param: { name: "id", in: "path" }, example: "e1" }),
});

const Share = z.number().min(0).max(1);

const StartBody = z
  .strictObject({
    candidateVersion: z
      .string()
      .regex(/^v[0-9]{1,6}$/)
      .openapi({ description: "A ready or previous version" }),
    share: Share.openapi({ description: "Share of searches (0..1) the candidate answers" }),
    shadowShare: Share.default(0).openapi({
      description: "Share of the control arm's searches (0..1) the candidate also answers in the background",
    }),
    minSamples: z.number().int().min(1).max(10_000_000).default(DEFAULT_MIN_SAMPLES).openapi({
      description: "Searches each arm needs before the report gives a verdict (fixed at the start)",
    }),
  })
  .openapi("StartExperimentRequest");

const UpdateBody = z
  .strictObject({ share: Share.optional(), shadowShare: Share.optional() })
  .refine((b) => b.share !== undefined || b.shadowShare !== undefined, "give share or shadowShare")
  .openapi("UpdateExperimentRequest");

const IntervalSchema = z.object({ value: z.number(), low: z.number(), high: z.number() });
const Quantiles = z.object({ p50: z.number().nullable(), p95: z.number().nullable() });

const ArmSchema = z.object({
  version: z.string(),
  searches: z.number().int(),
  empty: z.number().int(),
  degraded: z.number().int(),
  clicks: z.number().int(),
  ctr: IntervalSchema,
  mrr: IntervalSchema,
  latencyMs: Quantiles.extend({ p99: z.number().nullable() }),
});

const ExperimentSchema = z
  .object({
    id: z.string(),
    namespace: z.string(),
    state: z.enum(EXPERIMENT_STATES),
    control: z.string(),
    candidate: z.string(),
    share: z.number(),
    shadowShare: z.number(),
    minSamples: z.number().int(),
    startedAt: z.string(),
    endedAt: z.string().nullable(),
    endReason: z.string().nullable(),
  })
  .openapi("Experiment");

const ReportSchema = ExperimentSchema.extend({
  arms: z.object({ control: ArmSchema, candidate: ArmSchema }),
  shadow: z.object({
    samples: z.number().int(),
    failed: z.number().int(),
    overlapAt10: z.number().nullable(),
    rbo: z.number().nullable(),
    controlEmpty: z.number().int(),
    candidateEmpty: z.number().int(),
    controlDegraded: z.number().int(),
    candidateDegraded: z.number().int(),
    latencyMs: z.object({ control: Quantiles, candidate: Quantiles }),
  }),
  verdict: z.enum(["keep running", "candidate better", "candidate worse", "no difference"]),
  mrrDifference: IntervalSchema.nullable(),
  method: z.string(),
}).openapi("ExperimentReport");

const FeedbackBody = z
  .strictObject({
    searchId: z.string().min(1).max(1024).openapi({ description: "The searchId of the answer" }),
    documentId: DocumentIdSchema,
    position: z.number().int().min(1).max(10_000).openapi({
      description: "The result's 1-based rank in the ranking (a second page of 10 starts at 11)",
    }),
    kind: z.enum(["click"]).default("click"),
  })
  .openapi("Feedback");

const FeedbackResponse = z
  .object({
    recorded: z.boolean().openapi({
      description:
        "false when the search is in no experiment, or already had a click (a search's first click counts)",
    }),
    experiment: z.string().nullable(),
    arm: z.enum(["control", "candidate"]).nullable(),
  })
  .openapi("FeedbackResult");

function toExperiment(namespace: string, r: ExperimentRecord): z.infer<typeof ExperimentSchema> {
  return {
    id: r.id,
    namespace,
    state: r.state,
    control: r.control,
    candidate: r.candidate,
    share: r.share,
    shadowShare: r.shadowShare,
    minSamples: r.minSamples,
    startedAt: new Date(r.startedAt).toISOString(),
    endedAt: r.endedAt === null ? null : new Date(r.endedAt).toISOString(),
    endReason: r.endReason,
  };
}

async function found(record: Promise<ExperimentRecord | null>, what: string): Promise<ExperimentRecord> {
  const r = await record;
  if (!r) throw new AppError("not_found", what);
  return r;
}

export function registerExperiments(app: OpenAPIHono<AppEnv>) {
  const tags = ["experiments"];
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/experiments",
      operationId: "startExperiment",
      middleware: requires("admin"),
      tags,
      summary: "Start an experiment: a share of searches is answered by a candidate version",
      request: { params: NamespaceParams, body: jsonBody(StartBody, startExperimentExample) },
      responses: { 201: jsonResponse(ExperimentSchema, "Started"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const { candidateVersion, ...settings } = c.req.valid("json");
      const record = await c
        .get("services")
        .versions.coordinator(ns)
        .startExperiment({ candidate: candidateVersion, ...settings });
      return c.json(toExperiment(ns, record), 201);
    },
  );

  // Before /{id}: "latest" is no experiment id.
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/experiments/latest",
      operationId: "getLatestExperiment",
      middleware: requires("admin"),
      tags,
      summary: "The namespace's latest experiment (running or not)",
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse(ExperimentSchema, "The latest experiment"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const record = await found(
        c.get("services").versions.coordinator(ns).experiment(null),
        `namespace ${ns} has had no experiment`,
      );
      return c.json(toExperiment(ns, record), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/namespaces/{ns}/experiments/{id}",
      operationId: "getExperiment",
      middleware: requires("admin"),
      tags,
      summary: "An experiment and its report: per-arm searches, latency, clicks, shadow overlap, verdict",
      request: { params: ExperimentParams },
      responses: {
        200: jsonResponse(ReportSchema, "The report", experimentReportExample),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const services = c.get("services");
      const record = await found(
        services.versions.coordinator(ns).experiment(id),
        `experiment ${id} does not exist`,
      );
      const counters = await readCounters(services.db, ns, id);
      return c.json({ ...toExperiment(ns, record), ...buildReport(record, counters) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/namespaces/{ns}/experiments/{id}",
      operationId: "updateExperiment",
      middleware: requires("admin"),
      tags,
      summary: "Change a running experiment's share or shadow share",
      request: { params: ExperimentParams, body: jsonBody(UpdateBody, updateExperimentExample) },
      responses: { 200: jsonResponse(ExperimentSchema, "Updated"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const record = await c
        .get("services")
        .versions.coordinator(ns)
        .updateExperiment(id, c.req.valid("json"));
      return c.json(toExperiment(ns, record), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/experiments/{id}/stop",
      operationId: "stopExperiment",
      middleware: requires("admin"),
      tags,
      summary: "Stop an experiment: every search goes to the active version again",
      request: { params: ExperimentParams },
      responses: { 200: jsonResponse(ExperimentSchema, "Stopped"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const record = await c.get("services").versions.coordinator(ns).stopExperiment(id);
      return c.json(toExperiment(ns, record), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/experiments/{id}/promote",
      operationId: "promoteExperiment",
      middleware: requires("admin"),
      tags,
      summary:
        "Activate the experiment's candidate (the versions' activation, quality gate included); ends it",
      request: { params: ExperimentParams },
      responses: { 200: jsonResponse(ExperimentSchema, "Promoted"), ...errorResponses },
    }),
    async (c) => {
      const { ns, id } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const coordinator = c.get("services").versions.coordinator(ns);
      const record = await found(coordinator.experiment(id), `experiment ${id} does not exist`);
      if (record.state !== "running") throw new AppError("conflict", `experiment ${id} is ${record.state}`);
      await activateVersion(activationDeps(c.get("services"), ns), record.candidate, {
        force: false,
        mode: "vector",
      });
      // The coordinator ended the experiment as promoted when the candidate became active.
      const ended = await found(coordinator.experiment(id), `experiment ${id} does not exist`);
      return c.json(toExperiment(ns, ended), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/namespaces/{ns}/feedback",
      operationId: "sendFeedback",
      middleware: requires("search"),
      tags,
      summary: "Report a click on a search result (the answer's searchId, the document and its position)",
      request: { params: NamespaceParams, body: jsonBody(FeedbackBody, feedbackExample) },
      responses: { 202: jsonResponse(FeedbackResponse, "Accepted"), ...errorResponses },
    }),
    async (c) => {
      const { ns } = c.req.valid("param");
      requireNamespace(c.get("principal"), ns);
      const services = c.get("services");
      const body = c.req.valid("json");
      const key = await searchIdKey(services.config.adminApiKey);
      if (!key) throw new AppError("conflict", "this deployment issues no searchId (ADMIN_API_KEY is unset)");
      const now = Date.now();
      const search = await openSearchId(key, body.searchId, now);
      if (search.namespace !== ns) {
        throw new AppError("validation_failed", "searchId belongs to another namespace's search", {
          field: "body.searchId",
          retryable: false,
        });
      }
      checkPosition(search, body.documentId, body.position);
      if (!search.experiment || !search.arm) {
        return c.json({ recorded: false, experiment: null, arm: null }, 202);
      }
      const recorded = await recordClick(services.db, {
        namespace: ns,
        experiment: search.experiment,
        search: search.signature,
        arm: search.arm,
        rank: body.position,
        document: body.documentId,
        at: now,
      });
      return c.json({ recorded, experiment: search.experiment, arm: search.arm }, 202);
    },
  );
}
