// Unexpected errors to Sentry (toucan-js), only when a SENTRY_DSN secret is set: 5xx answers,
// queue crashes and Durable Object failures, never client errors. Events carry the requestId,
// traceId and namespace, and what Sentry receives is scrubbed in beforeSend: no document text,
// no query text, no Authorization header, no keys.
import { type Options, Toucan } from "toucan-js";
import { AppError } from "../errors";

/** A Sentry event, as toucan-js hands it to beforeSend. */
type Event = Parameters<NonNullable<Options["beforeSend"]>>[0];

export interface ReportContext {
  requestId?: string;
  traceId?: string;
  spanId?: string;
  namespace?: string | null;
  /** The route template or handler ("POST /v1/namespaces/{ns}/search", "queue edgesearch-ingest"). */
  operation?: string;
  method?: string;
  status?: number;
  code?: string;
}

export interface SentryOptions {
  dsn: string | undefined;
  /** The execution context, so sending outlives the response. */
  waitUntil?: (p: Promise<unknown>) => void;
  environment?: string;
  /** Replaces fetch for sending envelopes (tests capture them). */
  fetcher?: typeof fetch;
}

/** Whether an error is ours to report: anything but a client error (4xx). */
export function isUnexpected(err: unknown): boolean {
  return !(err instanceof AppError) || err.status >= 500;
}

const SECRET_PATTERNS: [RegExp, string][] = [
  [/Bearer\s+[^\s"',;]+/gi, "Bearer [redacted]"],
  [/\bes_[A-Za-z0-9_-]{8,}/g, "[redacted key]"],
  [
    /\b(api[_-]?key|token|secret|password|authorization)(["']?\s*[:=]\s*["']?)[^\s"',;&]+/gi,
    "$1$2[redacted]",
  ],
];
const MAX_MESSAGE = 1000;

/** Masks secrets in free text (error messages can quote what a dependency was sent). */
export function scrubText(text: string): string {
  let out = text;
  for (const [re, replacement] of SECRET_PATTERNS) out = out.replace(re, replacement);
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
}

const SAFE_HEADERS = new Set([
  "cf-ray",
  "content-type",
  "content-length",
  "user-agent",
  "traceparent",
  "x-request-id",
]);

/**
 * The last line of defence before an event leaves: request bodies, cookies, query strings and
 * every header outside a short allowlist are dropped; messages, exception values and
 * breadcrumbs are masked; extra data is removed (it could hold anything a caller attached).
 */
export function scrubEvent(event: Event): Event {
  if (event.request) {
    const { method, url } = event.request;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(event.request.headers ?? {})) {
      if (SAFE_HEADERS.has(k.toLowerCase())) headers[k] = v;
    }
    event.request = { method, url: url?.split("?")[0], headers };
  }
  if (event.message) event.message = scrubText(event.message);
  for (const ex of event.exception?.values ?? []) {
    if (ex.value) ex.value = scrubText(ex.value);
  }
  event.breadcrumbs = (event.breadcrumbs ?? []).map((b) => ({
    timestamp: b.timestamp,
    category: b.category,
    level: b.level,
    message: b.message ? scrubText(b.message) : undefined,
  }));
  delete event.extra;
  delete event.user;
  return event;
}

export function createSentry(options: SentryOptions): Toucan | null {
  if (!options.dsn) return null;
  return new Toucan({
    dsn: options.dsn,
    environment: options.environment,
    sendDefaultPii: false,
    context: options.waitUntil ? { waitUntil: options.waitUntil } : undefined,
    transportOptions: options.fetcher ? { fetcher: options.fetcher } : undefined,
    beforeSend: (event) => scrubEvent(event),
    beforeBreadcrumb: () => null,
  });
}

/** Reports one unexpected error with its request context; a no-op without a DSN. */
export function reportError(sentry: Toucan | null, err: unknown, ctx: ReportContext): string | null {
  if (!sentry) return null;
  if (ctx.requestId) sentry.setTag("requestId", ctx.requestId);
  if (ctx.traceId) {
    sentry.setTag("traceId", ctx.traceId);
    sentry.setContext("trace", { trace_id: ctx.traceId, span_id: ctx.spanId });
  }
  if (ctx.namespace) sentry.setTag("namespace", ctx.namespace);
  if (ctx.operation) sentry.setTag("operation", ctx.operation);
  if (ctx.code) sentry.setTag("code", ctx.code);
  if (ctx.status !== undefined) sentry.setTag("status", String(ctx.status));
  if (ctx.method || ctx.operation) {
    sentry.setContext("request", { method: ctx.method, route: ctx.operation, status: ctx.status });
  }
  const error = err instanceof Error ? err : new Error(String(err));
  return sentry.captureException(error);
}

/** The DSN secret, read without widening the generated Env type. */
export function sentryDsn(env: unknown): string | undefined {
  const dsn = (env as { SENTRY_DSN?: unknown } | null)?.SENTRY_DSN;
  return typeof dsn === "string" && dsn.length > 0 ? dsn : undefined;
}
