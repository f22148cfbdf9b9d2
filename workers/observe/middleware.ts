// Request observability: W3C trace context in and out, traceId on every log line, unexpected
// errors to Sentry, and one metrics point per search whatever its outcome.
import type { MiddlewareHandler } from "hono";
import { createSentry, reportError, sentryDsn } from "../../src/observe/sentry";
import { formatTraceparent, startSpan, type TraceContext } from "../../src/observe/trace";
import { NAMESPACE_PATTERN } from "../../src/validation";
import { pathNamespace } from "../api/auth";
import type { AppEnv } from "../api/types";
import { errorCode, type SearchObservation, writeSearchPoint } from "./search-point";

declare module "hono" {
  interface ContextVariableMap {
    trace: TraceContext;
    /** performance.now() when the request arrived. */
    startedAt: number;
    searchObservation: SearchObservation;
  }
}

/** The route template that answered ("POST /v1/namespaces/:ns/search"), never the raw path. */
function operation(c: Parameters<MiddlewareHandler<AppEnv>>[0]): string {
  const route = [...c.req.matchedRoutes].reverse().find((r) => r.method !== "ALL");
  return `${c.req.method} ${route?.path ?? "(no route)"}`;
}

/**
 * Outermost (before requestContext, so a broken configuration is still reported): starts this
 * request's span from the caller's traceparent, answers with ours, and sends unexpected errors
 * (5xx answers) to Sentry when SENTRY_DSN is set.
 */
export const observeRequest: MiddlewareHandler<AppEnv> = async (c, next) => {
  c.set("startedAt", performance.now());
  const trace = startSpan(c.req.header("traceparent"));
  c.set("trace", trace);
  await next();
  c.header("traceparent", formatTraceparent(trace));
  if (c.res.status < 500) return;
  const dsn = sentryDsn(c.env);
  if (!dsn) return;
  let waitUntil: ((p: Promise<unknown>) => void) | undefined;
  try {
    const ctx = c.executionCtx;
    waitUntil = (p) => ctx.waitUntil(p);
  } catch {
    // No execution context (app.request in a unit test): send without extending the lifetime.
  }
  const namespace = pathNamespace(c.req.path);
  reportError(createSentry({ dsn, waitUntil }), c.error ?? new Error(`answered ${c.res.status}`), {
    requestId: c.get("requestId"),
    traceId: trace.traceId,
    spanId: trace.spanId,
    namespace: namespace && NAMESPACE_PATTERN.test(namespace) ? namespace : null,
    operation: operation(c),
    method: c.req.method,
    status: c.res.status,
    code: errorCode(c.error),
  });
};

/** After requestContext: every log line of the request carries the trace. */
export const traceLogger: MiddlewareHandler<AppEnv> = async (c, next) => {
  const trace = c.get("trace");
  if (trace) c.set("logger", c.get("logger").child({ traceId: trace.traceId, spanId: trace.spanId }));
  await next();
};

/**
 * Around the search route: one metrics point per search, answered or failed (4xx and 5xx
 * included, so error rates can be computed), after authentication (refused callers are not
 * counted against a namespace they cannot reach).
 */
export const recordSearch: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== "POST") return next();
  await next();
  const services = c.get("services");
  if (!services) return;
  const started = c.get("startedAt");
  writeSearchPoint(services, {
    namespace: pathNamespace(c.req.path),
    status: c.res.status,
    code: errorCode(c.error),
    seen: c.get("searchObservation"),
    elapsedMs: started === undefined ? 0 : performance.now() - started,
    colo: (c.req.raw.cf as { colo?: unknown } | undefined)?.colo?.toString(),
  });
};
