// Observability settings: a zod schema over the env vars and secrets this part reads, parsed once
// per env object. Kept apart from the service's Config: none of it changes how searches answer.
import { z } from "zod";

const Schema = z.object({
  /**
   * A document queued longer than this is reported stuck by the index health check, and
   * re-enqueued (src/observe/repair.ts).
   */
  HEALTH_STUCK_QUEUED_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .default(900),
  /** Reading Analytics Engine back (the dashboard with BACKEND=cloudflare). */
  ANALYTICS_ACCOUNT_ID: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional()
    .or(z.literal("")),
  ANALYTICS_API_TOKEN: z.string().min(1).optional(),
  ANALYTICS_DATASET: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/)
    .default("edgesearch_events"),
  SENTRY_DSN: z.string().optional(),
  SENTRY_ENVIRONMENT: z.string().max(64).optional(),
});

export interface ObserveConfig {
  stuckQueuedMs: number;
  analytics: { accountId: string; apiToken: string; dataset: string } | null;
  dataset: string;
  sentryDsn: string | undefined;
  sentryEnvironment: string | undefined;
}

// Isolate-lifetime: one parse per env object.
const parsed = new WeakMap<object, ObserveConfig>();

export function observeConfig(env: object): ObserveConfig {
  const hit = parsed.get(env);
  if (hit) return hit;
  const raw = Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === "string" && v !== ""));
  const result = Schema.safeParse(raw);
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid observability configuration: ${detail}`);
  }
  const c = result.data;
  const config: ObserveConfig = {
    stuckQueuedMs: c.HEALTH_STUCK_QUEUED_SECONDS * 1000,
    analytics:
      c.ANALYTICS_ACCOUNT_ID && c.ANALYTICS_API_TOKEN
        ? { accountId: c.ANALYTICS_ACCOUNT_ID, apiToken: c.ANALYTICS_API_TOKEN, dataset: c.ANALYTICS_DATASET }
        : null,
    dataset: c.ANALYTICS_DATASET,
    sentryDsn: c.SENTRY_DSN || undefined,
    sentryEnvironment: c.SENTRY_ENVIRONMENT,
  };
  parsed.set(env, config);
  return config;
}
