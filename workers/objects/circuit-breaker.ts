// One circuit breaker per dependency (idFromName("workers-ai"), ...): closed -> open when the
// failure rate over a sliding window passes the threshold with a minimum volume; open ->
// half-open after a cool-down; half-open -> closed after enough successful probes, or back to
// open on a failed one. Isolates report outcomes in batches (waitUntil) and cache the state for a
// few seconds, so this object is never on a request's path.
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { createLogger } from "../../src/observe/logger";
import {
  BREAKER_SETTINGS,
  type BreakerSettings,
  type BreakerSnapshot,
  type BreakerState,
  type OutcomeCounts,
} from "../../src/resilience/breaker";

const StoredSchema = z.object({
  state: z.enum(["closed", "open", "half-open"]),
  openedAt: z.number().nullable(),
  probeSuccesses: z.number(),
  transitions: z.number(),
  opens: z.number(),
});
type Stored = z.infer<typeof StoredSchema>;

const BUCKET_MS = 1000;

export class CircuitBreaker extends DurableObject<Env> {
  private stored: Stored = { state: "closed", openedAt: null, probeSuccesses: 0, transitions: 0, opens: 0 };
  /** Outcome counts per second, for the sliding window (lost on eviction: a fresh window). */
  private readonly buckets = new Map<number, { ok: number; fail: number }>();
  private readonly log = createLogger("info", { component: "circuit-breaker" });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      const raw = await ctx.storage.get("breaker");
      const parsed = StoredSchema.safeParse(raw);
      if (parsed.success) this.stored = parsed.data;
    });
  }

  async snapshot(dependency: string, settings: BreakerSettings = BREAKER_SETTINGS): Promise<BreakerSnapshot> {
    await this.advance(dependency, settings, Date.now());
    return this.view(settings, Date.now());
  }

  async report(dependency: string, counts: OutcomeCounts, settings: BreakerSettings = BREAKER_SETTINGS) {
    const now = Date.now();
    await this.advance(dependency, settings, now);
    if (this.stored.state === "half-open") {
      if (counts.fail > 0) await this.transition(dependency, "open", now, `${counts.fail} failed probe(s)`);
      else {
        this.stored.probeSuccesses += counts.ok;
        if (this.stored.probeSuccesses >= settings.halfOpenSuccesses) {
          await this.transition(dependency, "closed", now, `${this.stored.probeSuccesses} successful probes`);
        } else await this.save();
      }
      return this.view(settings, now);
    }
    const second = Math.floor(now / BUCKET_MS);
    const bucket = this.buckets.get(second) ?? { ok: 0, fail: 0 };
    bucket.ok += counts.ok;
    bucket.fail += counts.fail;
    this.buckets.set(second, bucket);
    if (this.stored.state === "closed") {
      const { ok, fail } = this.window(settings, now);
      const total = ok + fail;
      if (total >= settings.minimumVolume && fail / total >= settings.failureRate) {
        await this.transition(
          dependency,
          "open",
          now,
          `${fail} of ${total} calls failed in ${settings.windowMs} ms`,
        );
      }
    }
    return this.view(settings, now);
  }

  /** Back to closed with an empty window (operators; tests). */
  async reset(): Promise<void> {
    this.buckets.clear();
    this.stored = { ...this.stored, state: "closed", openedAt: null, probeSuccesses: 0 };
    await this.save();
  }

  private window(settings: BreakerSettings, now: number): OutcomeCounts {
    const oldest = Math.floor((now - settings.windowMs) / BUCKET_MS);
    let ok = 0;
    let fail = 0;
    for (const [second, b] of this.buckets) {
      if (second <= oldest) this.buckets.delete(second);
      else {
        ok += b.ok;
        fail += b.fail;
      }
    }
    return { ok, fail };
  }

  private async advance(dependency: string, settings: BreakerSettings, now: number): Promise<void> {
    if (
      this.stored.state === "open" &&
      this.stored.openedAt !== null &&
      now - this.stored.openedAt >= settings.coolDownMs
    ) {
      await this.transition(dependency, "half-open", now, "cool-down elapsed");
    }
  }

  private async transition(dependency: string, to: BreakerState, now: number, reason: string): Promise<void> {
    const from = this.stored.state;
    this.stored.state = to;
    this.stored.transitions += 1;
    this.stored.probeSuccesses = 0;
    if (to === "open") {
      this.stored.openedAt = now;
      this.stored.opens += 1;
    }
    if (to === "closed") {
      this.stored.openedAt = null;
      this.buckets.clear();
    }
    await this.save();
    this.log.warn("breaker.transition", {
      dependency,
      from,
      to,
      reason,
      transitions: this.stored.transitions,
    });
  }

  private view(settings: BreakerSettings, now: number): BreakerSnapshot {
    const { ok, fail } = this.window(settings, now);
    return {
      state: this.stored.state,
      retryAt:
        this.stored.state === "open" && this.stored.openedAt !== null
          ? this.stored.openedAt + settings.coolDownMs
          : null,
      window: { ok, fail },
      opens: this.stored.opens,
      transitions: this.stored.transitions,
    };
  }

  private save(): Promise<void> {
    return this.ctx.storage.put("breaker", this.stored);
  }
}
