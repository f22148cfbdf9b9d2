// Liveness (the Worker runs) and readiness (its dependencies answer, their circuit breakers are
// closed, and the last index health check passed). Public: nothing here names a tenant.
import type { OpenAPIHono } from "@hono/zod-openapi";
import { cacheApiLabel } from "../../../src/cache/cache-api";
import { errorMessage } from "../../../src/errors";
import { readIndexTotals } from "../../../src/observe/index-health";
import { DEPENDENCIES } from "../../../src/resilience/faults";
import { withTimeout } from "../../../src/resilience/retry";
import type { AppEnv } from "../types";

const CHECK_TIMEOUT_MS = 2000;

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

  app.get("/readyz", async (c) => {
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
    if (!ready) c.header("retry-after", "5");
    return c.json(
      {
        status: !ready ? "unavailable" : degraded ? "degraded" : "ready",
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
    );
  });
}
