// Fault injection for resilience tests and local drills: errors, 429s and latency at configured
// rates, per dependency (and optionally per method). Only honoured when the configuration allows
// it, which is refused for the Cloudflare backend (see src/config.ts).
import { z } from "zod";
import { AppError } from "../errors";

export const DEPENDENCIES = ["workers-ai", "vectorize", "d1", "kv", "r2"] as const;
export type Dependency = (typeof DEPENDENCIES)[number];

const rate = z.number().min(0).max(1);
export const FaultSpecSchema = z.strictObject({
  /** Share of calls failing with a 5xx-like error. */
  error: rate.optional(),
  /** Share of calls answered 429. */
  rateLimited: rate.optional(),
  /** Added latency in ms, for the share of calls in latencyRate (default all). */
  latencyMs: z.number().int().min(0).max(60_000).optional(),
  latencyRate: rate.optional(),
  /** Only these methods (e.g. ["commitIndexed"]); all when absent. */
  methods: z.array(z.string().max(64)).max(32).optional(),
});
export type FaultSpec = z.infer<typeof FaultSpecSchema>;

export const FaultPlanSchema = z.strictObject({
  "workers-ai": FaultSpecSchema.optional(),
  vectorize: FaultSpecSchema.optional(),
  d1: FaultSpecSchema.optional(),
  kv: FaultSpecSchema.optional(),
  r2: FaultSpecSchema.optional(),
  /** Gives the calls made under this plan their own set of circuit breakers (isolated drills). */
  scope: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/)
    .optional(),
});
export type FaultPlan = z.infer<typeof FaultPlanSchema>;

export function parseFaultPlan(raw: string | undefined | null): FaultPlan | null {
  if (!raw) return null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new AppError("validation_failed", "fault plan is not JSON", { field: "faults" });
  }
  const parsed = FaultPlanSchema.safeParse(json);
  if (!parsed.success) {
    throw new AppError("validation_failed", `invalid fault plan: ${parsed.error.issues[0]?.message}`, {
      field: "faults",
    });
  }
  return parsed.data;
}

export class FaultInjector {
  constructor(
    private readonly plan: FaultPlan,
    private readonly random: () => number = Math.random,
  ) {}

  get scope(): string | undefined {
    return this.plan.scope;
  }

  /** Delays and/or throws as the plan says for this call; returns normally otherwise. */
  async before(dep: Dependency, method: string): Promise<void> {
    const spec = this.plan[dep];
    if (!spec || (spec.methods && !spec.methods.includes(method))) return;
    if (spec.latencyMs && this.random() < (spec.latencyRate ?? 1)) {
      await new Promise((r) => setTimeout(r, spec.latencyMs));
    }
    if (spec.rateLimited && this.random() < spec.rateLimited) {
      throw new AppError("rate_limited", `${dep}.${method}: 429 (injected fault)`, { retryable: true });
    }
    if (spec.error && this.random() < spec.error) {
      throw new AppError("upstream_failed", `${dep}.${method}: 503 (injected fault)`, { retryable: true });
    }
  }
}
