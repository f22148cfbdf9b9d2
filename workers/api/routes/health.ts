// Liveness (the Worker runs) and readiness (its dependencies answer, their circuit breakers are
// closed, and the last index health check passed). Public, but only admin keys get readiness's
// details (which check failed and its error text); anyone else gets the status and HTTP code, from
// a result each isolate reuses for ANONYMOUS_READYZ_MS, so unauthenticated polling cannot make
// every request call every dependency.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { hasRole } from "../../../src/auth/scopes";
import { cacheApiLabel } from "../../../src/cache/cache-api";
import { errorMessage } from "../../../src/errors";
import { readIndexTotals } from "../../../src/observe/index-health";
import { DEPENDENCIES } from "../../../src/resilience/faults";
import { withTimeout } from "../../../src/resilience/retry";
import { authenticateRequest } from "../auth";
import { errorResponses, jsonResponse, ProblemSchema } from "../schemas";
import type { AppEnv } from "../types";
import { API_KEY_SCHEME } from "./docs";

const CHECK_TIMEOUT_MS = 2000;
/** How long an isolate answers anonymous readiness probes from its last result. */
export const ANONYMOUS_READYZ_MS = 5000;

const READY_STATUSES = ["ready", "degraded", "unavailable"] as const;
type ReadyStatus = (typeof READY_STATUSES)[number];

export const HealthSchema = z.object({ status: z.literal("ok") }).openapi("Health");

const CheckSchema = z.object({
  ok: z.boolean(),
  ms: z.number().int().openapi({ description: "How long the check took" }),
  error: z.string().optional().openapi({ description: "Why it failed" }),
});

/** GET /readyz's answer: `status` for everyone, the rest for admin keys only. */
export const ReadinessSchema = z
  .object({
    status: z.enum(READY_STATUSES).openapi({
      description:
        "ready; degraded (200: a circuit breaker is open or half-open, or the last index health check failed); unavailable (503: a check failed)",
    }),
    backend: z.enum(["cloudflare", "local"]).optional(),
    checks: z
      .object({ d1: CheckSchema, r2: CheckSchema, kv: CheckSchema, index: CheckSchema })
      .optional()
      .openapi({
        description: `Each dependency asked now, with a ${CHECK_TIMEOUT_MS / 1000}-second timeout`,
      }),
    breakers: z
      .record(z.enum(DEPENDENCIES), z.enum(["closed", "open", "half-open", "unknown"]))
      .optional()
      .openapi({ description: "Each dependency's circuit breaker; unknown when its object did not answer" }),
    cacheApi: z.object({ state: z.string(), reason: z.string().optional() }).optional().openapi({
      description:
        "The result cache's Cache API layer: active, or inactive:<reason> (*.workers.dev); not a readiness condition",
    }),
    indexHealth: z
      .object({ state: z.enum(["ok", "warn", "fail"]), problems: z.array(z.string()), checkedAt: z.string() })
      .nullable()
      .optional()
      .openapi({ description: "The last index health check's findings; null before the first" }),
  })
  .openapi("Readiness");

const RETRY_AFTER = {
  "retry-after": {
    description: "Seconds to wait before asking again (5)",
    schema: { type: "integer" as const },
  },
};

// Isolate-lifetime: the last readiness status and when it was taken; when a probe started
// refreshing it (others answer from the last result meanwhile, unless that probe seems lost).
let lastStatus: { status: ReadyStatus; code: 200 | 503; at: number } | undefined;
let refreshingSince = 0;

export function clearReadinessCache(): void {
  lastStatus = undefined;
  refreshingSince = 0;
}

/** Whether the caller sent an admin key; a key that does not authenticate is a 401, as on /v1. */
async function isAdmin(c: Context<AppEnv>): Promise<boolean> {
  if (c.req.header("authorization") === undefined) return false;
  return hasRole(await authenticateRequest(c), "admin");
}

async function check(fn: () => Promise<unknown>): Promise<{ ok: boolean; ms: number; error?: string }> {
  const t0 = performance.now();
  try {
    await withTimeout(CHECK_TIMEOUT_MS, "readiness check", fn);
    return { ok: true, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - t0), error: errorMessage(err) };
  }
}

async function attempt<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await withTimeout(CHECK_TIMEOUT_MS, "readiness check", fn);
  } catch {
    return null;
  }
}

export function registerHealth(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/healthz",
      operationId: "getHealth",
      tags: ["health"],
      summary: "Liveness: the Worker runs (no dependency is asked)",
      security: [],
      responses: {
        200: jsonResponse(HealthSchema, "Alive", { status: "ok" }),
        500: errorResponses[500],
      },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  );

  // The full report: every dependency is asked now.
  const readiness = async (c: Context<AppEnv>) => {
    const s = c.get("services");
    const [d1, r2, kv, index, snapshots, indexHealth] = await Promise.all([
      check(() => s.db.prepare("SELECT 1").first()),
      check(() => s.blobs.head("__readyz")),
      check(() => c.env.KV.get("__readyz")),
      check(() => s.index.describe()),
      Promise.all(DEPENDENCIES.map((dep) => attempt(() => s.guard.backend.snapshot(dep)))),
      attempt(() => readIndexTotals(c.env.DB)),
    ]);
    const checks = { d1, r2, kv, index };
    // A breaker whose object did not answer is "unknown": the object is off every request's path.
    const breakers = Object.fromEntries(
      DEPENDENCIES.map((dep, i) => [dep, snapshots[i]?.state ?? "unknown"]),
    );
    const ready = Object.values(checks).every((x) => x.ok);
    // Degraded: the service answers, some answers are partial (an open breaker's dependency is
    // skipped) or some documents are not searchable (the last index health check failed).
    const degraded =
      Object.values(breakers).some((state) => state === "open" || state === "half-open") ||
      indexHealth?.state === "fail";
    const status: ReadyStatus = !ready ? "unavailable" : degraded ? "degraded" : "ready";
    return [
      {
        status,
        backend: s.config.backend,
        checks,
        breakers,
        // The result cache's Cache API layer: inactive on *.workers.dev (answers are cached in
        // the isolate only there). Not a readiness condition.
        cacheApi:
          s.cacheApi.state === "active"
            ? { state: cacheApiLabel(s.cacheApi) }
            : { state: cacheApiLabel(s.cacheApi), reason: s.cacheApi.detail },
        indexHealth: indexHealth
          ? { state: indexHealth.state, problems: indexHealth.problems, checkedAt: indexHealth.checkedAt }
          : null,
      },
      ready ? 200 : 503,
    ] as const;
  };

  app.openapi(
    createRoute({
      method: "get",
      path: "/readyz",
      operationId: "getReadiness",
      tags: ["health"],
      summary: "Readiness: D1, R2, KV and the vector index answer",
      description:
        "No key needed. Without one, or with a key lacking the admin role, the answer is the status " +
        `alone, from a result each isolate reuses for ${ANONYMOUS_READYZ_MS / 1000} seconds; an admin key ` +
        "gets every check, breaker and error, asked now. A key that does not authenticate is a 401.",
      // Anonymous, or an API key (admin keys see the details).
      security: [{}, { [API_KEY_SCHEME]: [] }],
      responses: {
        200: jsonResponse(ReadinessSchema, "Ready or degraded", { status: "ready" }),
        401: errorResponses[401],
        429: errorResponses[429],
        500: errorResponses[500],
        503: {
          description:
            "Unavailable: a check failed (application/json), or the key given could not be looked up (application/problem+json)",
          headers: RETRY_AFTER,
          content: {
            "application/json": { schema: ReadinessSchema, example: { status: "unavailable" } },
            "application/problem+json": { schema: ProblemSchema },
          },
        },
      },
    }),
    async (c) => {
      const admin = await isAdmin(c);
      const now = Date.now();
      const fresh = lastStatus !== undefined && now - lastStatus.at < ANONYMOUS_READYZ_MS;
      const busy = now - refreshingSince < CHECK_TIMEOUT_MS * 2;
      if (!admin && lastStatus && (fresh || busy)) {
        if (lastStatus.code !== 200) c.header("retry-after", "5");
        return c.json({ status: lastStatus.status }, lastStatus.code);
      }
      refreshingSince = now;
      const [body, code] = await readiness(c).finally(() => {
        refreshingSince = 0;
      });
      lastStatus = { status: body.status, code, at: Date.now() };
      if (code !== 200) c.header("retry-after", "5");
      return admin ? c.json(body, code) : c.json({ status: body.status }, code);
    },
  );
}
