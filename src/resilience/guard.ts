// Wraps an adapter so that every call to a dependency goes through its circuit breaker, the
// retry helper (backoff, deadline, timeout) and, in test/dev configurations, fault injection.
import { runInAttempt } from "./attempt";
import type { BreakerBackend, BreakerClient } from "./breaker";
import { countsAsFailure, openCircuitError } from "./breaker";
import type { Dependency, FaultInjector } from "./faults";
import { type RetryOptions, withRetry } from "./retry";

export interface GuardContext {
  breakers: BreakerClient;
  backend: BreakerBackend;
  defer: (work: Promise<unknown>) => void;
  faults: FaultInjector | null;
  retry: RetryOptions;
}

export async function guardedCall<T>(
  dep: Dependency,
  method: string,
  ctx: GuardContext,
  fn: () => Promise<T>,
): Promise<T> {
  const name = ctx.faults?.scope ? `${ctx.faults.scope}:${dep}` : dep;
  if (!ctx.breakers.allow(name, ctx.backend, ctx.defer))
    throw openCircuitError(dep, ctx.breakers.state(name));
  // Every attempt counts towards the breaker: retries must not hide a dependency failing half
  // of its calls. The attempt's signal reaches adapters that can abort their call (attempt.ts).
  return withRetry(
    `${dep}.${method}`,
    async (signal) => {
      try {
        await ctx.faults?.before(dep, method);
        const value = await runInAttempt(signal, fn);
        ctx.breakers.record(name, true, ctx.backend, ctx.defer);
        return value;
      } catch (err) {
        ctx.breakers.record(name, !countsAsFailure(err), ctx.backend, ctx.defer);
        throw err;
      }
    },
    ctx.retry,
  );
}

/**
 * A proxy of `target` whose async methods (all, or the listed ones) are guarded calls. Other
 * properties pass through untouched.
 */
export function guarded<T extends object>(
  target: T,
  dep: Dependency,
  ctx: GuardContext,
  methods?: readonly string[],
): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      if (methods && !methods.includes(prop)) return value.bind(obj);
      return (...args: unknown[]) =>
        guardedCall(dep, prop, ctx, () => Promise.resolve(value.apply(obj, args)));
    },
  });
}
