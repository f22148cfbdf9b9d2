// Liveness (the Worker runs) and readiness (its dependencies answer, their circuit breakers are
// closed, and the last index health check passed). Public, but only admin keys get readiness's
// details (which check failed and its error text); anyone else gets the status and HTTP code, from
// a result each isolate reuses for ANONYMOUS_READYZ_MS, so unauthenticated polling cannot make
// every request call every dependency.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { hasRole } from "../../../src/auth/scopes";
import { cacheApiLabel } from "../../../src/cache/cache-api";
import { errorMessage } from "../../../src/errors";
import { readIndexTotals } from "../../../src/observe/index-health";
import { DEPENDENCIES } from "../../../src/resilience/faults";
import { withTimeout } from "../../../src/resilience/retry";
import { authenticateRequest } from "../auth";
import type { AppEnv } from "../types";

const CHECK_TIMEOUT_MS = 2000;
/** How long an isolate answers anonymous readiness probes from its last result. */
export const ANONYMOUS_READYZ_MS = 5000;

type ReadyStatus = "ready" | "degraded" | "unavailable";

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
  app.get("/healthz", (c) => c.json({ status: "ok" }));

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

  app.get("/readyz", async (c) => {
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
  });
}
