// What one Worker invocation may spend on Cloudflare (D1 queries, subrequests), counted as it
// goes, so local runs and tests see a limit the platform would enforce before production does.
// CPU time and memory are not counted here: inside workerd the clocks stand still during
// synchronous work and the isolate's heap is not visible (`npm run bench -- ingest-worst` measures
// them from outside the process).

export type Plan = "paid" | "free";

export interface PlanLimits {
  plan: Plan;
  /**
   * D1 "Queries per Worker invocation": 1000 (Workers Paid) / 50 (Free).
   * https://developers.cloudflare.com/d1/platform/limits/
   */
  d1Queries: number;
  /**
   * Subrequests to Cloudflare services (D1, KV, R2, Queues, Durable Objects, Workers AI,
   * Vectorize): Paid 10,000 per invocation by default (one pool with fetch); Free 1,000.
   * https://developers.cloudflare.com/changelog/post/2026-02-11-subrequests-limit/
   */
  serviceSubrequests: number;
  /** fetch() to the Internet: Paid shares the 10,000; Free allows 50 ("external subrequests"). */
  externalSubrequests: number;
  /** Every subrequest together: 10,000 on Paid; Free's two pools are separate (1,000 + 50). */
  subrequests: number;
  /**
   * CPU time per invocation: 30 s by default on Paid, up to 300,000 ms with [limits] cpu_ms;
   * 10 ms on Free. Not counted in the isolate (see the module comment).
   * https://developers.cloudflare.com/changelog/post/2025-03-25-higher-cpu-limits/
   */
  cpuMs: number;
  /** Memory per isolate, 128 MB on both plans. https://developers.cloudflare.com/workers/platform/limits/#memory */
  memoryBytes: number;
}

export const PLAN_LIMITS: Record<Plan, PlanLimits> = {
  paid: {
    plan: "paid",
    d1Queries: 1000,
    serviceSubrequests: 10_000,
    externalSubrequests: 10_000,
    subrequests: 10_000,
    cpuMs: 30_000,
    memoryBytes: 128 * 1024 * 1024,
  },
  free: {
    plan: "free",
    d1Queries: 50,
    serviceSubrequests: 1000,
    externalSubrequests: 50,
    subrequests: 1050,
    cpuMs: 10,
    memoryBytes: 128 * 1024 * 1024,
  },
};

export type BudgetLimit = "d1Queries" | "serviceSubrequests" | "externalSubrequests" | "subrequests";

const LIMIT_NAMES: Record<BudgetLimit, string> = {
  d1Queries: "D1 queries per Worker invocation",
  serviceSubrequests: "subrequests to Cloudflare services per invocation",
  externalSubrequests: "external subrequests (fetch) per invocation",
  subrequests: "subrequests per invocation",
};

export interface BudgetCounts {
  d1Queries: number;
  serviceSubrequests: number;
  externalSubrequests: number;
  subrequests: number;
}

export interface BudgetReport {
  /** "fetch", "queue <name>", "scheduled". */
  handler: string;
  plan: Plan;
  counts: BudgetCounts;
  /** The first limit crossed, if any. */
  exceeded: InvocationLimitError | null;
}

/** Thrown where an invocation crosses a limit, and again when the invocation ends (mode "throw"). */
export class InvocationLimitError extends Error {
  constructor(
    readonly limit: BudgetLimit,
    readonly count: number,
    readonly max: number,
    readonly plan: Plan,
  ) {
    // The platform's own words first (workerd: "Too many API requests by single worker invocation."
    // for bindings, "Too many subrequests." for fetch), then what was counted.
    const words =
      limit === "externalSubrequests"
        ? "Too many subrequests"
        : "Too many API requests by single worker invocation";
    super(
      `${words}: ${count} ${LIMIT_NAMES[limit]}, over the Workers ${plan === "paid" ? "Paid" : "Free"} limit of ${max}`,
    );
    this.name = "InvocationLimitError";
  }
}

/**
 * One invocation's counts against a plan's limits. "throw" refuses the call that crosses a limit
 * (as the platform does) and the invocation itself; "warn" reports each limit once and goes on.
 */
export class InvocationBudget {
  readonly counts: BudgetCounts = {
    d1Queries: 0,
    serviceSubrequests: 0,
    externalSubrequests: 0,
    subrequests: 0,
  };
  private first: InvocationLimitError | null = null;
  private readonly warned = new Set<BudgetLimit>();

  constructor(
    readonly handler: string,
    readonly limits: PlanLimits,
    readonly mode: "throw" | "warn",
    private readonly warn: (error: InvocationLimitError) => void,
  ) {}

  /** A D1 call: `statements` queries (each statement of a batch counts) in one subrequest. */
  d1(statements: number): void {
    this.counts.d1Queries += statements;
    this.service(["d1Queries"]);
  }

  /** A call to another Cloudflare service binding (KV, R2, Queues, a Durable Object, ...). */
  service(also: BudgetLimit[] = []): void {
    this.counts.serviceSubrequests += 1;
    this.counts.subrequests += 1;
    this.check([...also, "serviceSubrequests", "subrequests"]);
  }

  /** A fetch() to the Internet. */
  external(): void {
    this.counts.externalSubrequests += 1;
    this.counts.subrequests += 1;
    this.check(["externalSubrequests", "subrequests"]);
  }

  report(): BudgetReport {
    return {
      handler: this.handler,
      plan: this.limits.plan,
      counts: { ...this.counts },
      exceeded: this.first,
    };
  }

  /** At the end of the invocation: in "throw" mode, the first limit crossed fails it. */
  finish(): BudgetReport {
    if (this.first && this.mode === "throw") throw this.first;
    return this.report();
  }

  private check(limits: BudgetLimit[]): void {
    for (const limit of limits) {
      const count = this.counts[limit];
      const max = this.limits[limit];
      if (count <= max) continue;
      const error = new InvocationLimitError(limit, count, max, this.limits.plan);
      this.first ??= error;
      if (this.mode === "throw") throw error;
      if (!this.warned.has(limit)) {
        this.warned.add(limit);
        this.warn(error);
      }
    }
  }
}
