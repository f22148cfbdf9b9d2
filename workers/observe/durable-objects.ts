// Durable Object classes wrapped so that their failures reach Sentry: every method of the class
// (RPC methods, fetch, alarm) reports an unexpected error before rethrowing it unchanged. The
// object's behaviour is otherwise untouched: synchronous methods stay synchronous.
import { createSentry, isUnexpected, reportError, sentryDsn } from "../../src/observe/sentry";

// biome-ignore lint/suspicious/noExplicitAny: a class constructor of any Durable Object shape
type DurableObjectClass = abstract new (...args: any[]) => object;

// Internal calls between wrapped methods (this.save() inside this.report()) see the same error:
// report it once.
const reported = new WeakSet<object>();

function report(self: object, className: string, method: string, err: unknown): void {
  if (!isUnexpected(err) || (typeof err === "object" && err !== null && reported.has(err))) return;
  if (typeof err === "object" && err !== null) reported.add(err);
  const { env, ctx } = self as { env?: unknown; ctx?: { waitUntil?: (p: Promise<unknown>) => void } };
  const sentry = createSentry({ dsn: sentryDsn(env), waitUntil: ctx?.waitUntil?.bind(ctx) });
  reportError(sentry, err, { operation: `durable-object ${className}.${method}` });
}

export function instrumentDurableObject<C extends DurableObjectClass>(Base: C, className: string): C {
  // @ts-expect-error TS cannot extend an abstract constructor type from a generic parameter.
  const Instrumented: C = class extends Base {};
  for (const name of Object.getOwnPropertyNames(Base.prototype)) {
    if (name === "constructor") continue;
    const descriptor = Object.getOwnPropertyDescriptor(Base.prototype, name);
    const original: unknown = descriptor?.value;
    if (typeof original !== "function") continue;
    Object.defineProperty(Instrumented.prototype, name, {
      ...descriptor,
      value: function (this: object, ...args: unknown[]) {
        let result: unknown;
        try {
          result = original.apply(this, args);
        } catch (err) {
          report(this, className, name, err);
          throw err;
        }
        if (result instanceof Promise) {
          return result.catch((err: unknown) => {
            report(this, className, name, err);
            throw err;
          });
        }
        return result;
      },
    });
  }
  Object.defineProperty(Instrumented, "name", { value: className });
  return Instrumented;
}
