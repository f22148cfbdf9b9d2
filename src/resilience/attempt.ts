// The abort signal of the guarded attempt a call runs in (guard.ts), for adapters whose binding
// honours one: when the attempt's timeout or the request's deadline fires, the caller stops
// waiting and the adapter's in-flight call is aborted too, so a retry never runs beside it.
// Carried in an AsyncLocalStorage (nodejs_compat), since adapters sit behind the guard's proxy.
import { AsyncLocalStorage } from "node:async_hooks";

const attempts = new AsyncLocalStorage<AbortSignal>();

export function runInAttempt<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  return attempts.run(signal, fn);
}

/** `own`, also aborted when the enclosing guarded attempt is (if the call runs in one). */
export function withAttemptSignal(own: AbortSignal): AbortSignal {
  const attempt = attempts.getStore();
  return attempt ? AbortSignal.any([own, attempt]) : own;
}
