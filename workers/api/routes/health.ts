// Liveness (the Worker runs) and readiness (its dependencies answer).
import type { OpenAPIHono } from "@hono/zod-openapi";
import { errorMessage } from "../../../src/errors";
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

export function registerHealth(app: OpenAPIHono<AppEnv>) {
  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const s = c.get("services");
    const [d1, r2, kv, index] = await Promise.all([
      check(() => s.db.prepare("SELECT 1").first()),
      check(() => s.blobs.head("__readyz")),
      check(() => c.env.KV.get("__readyz")),
      check(() => s.index.describe()),
    ]);
    const checks = { d1, r2, kv, index };
    const ready = Object.values(checks).every((x) => x.ok);
    if (!ready) c.header("retry-after", "5");
    return c.json(
      { status: ready ? "ready" : "unavailable", backend: s.config.backend, checks },
      ready ? 200 : 503,
    );
  });
}
