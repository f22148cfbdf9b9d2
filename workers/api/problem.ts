// problem+json (RFC 9457) bodies for every error the API returns, and the one onError handler:
// our own AppError, Hono's HTTPException, and anything else (logged, answered as a plain 500).
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";
import { AppError, ERROR_CODES, type ErrorCode } from "../../src/errors";
import type { AppEnv } from "./types";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  requestId: string;
  code: ErrorCode;
  field?: string;
  errors?: { field: string; message: string }[];
  [extra: string]: unknown;
}

export const PROBLEM_BASE = "https://edgesearch.dev/problems/";

export function problemResponse(
  c: Context<AppEnv>,
  code: ErrorCode,
  detail: string,
  extra: Partial<Problem> = {},
  headers: Record<string, string> = {},
): Response {
  const { title } = ERROR_CODES[code];
  const status = extra.status ?? ERROR_CODES[code].status;
  const body: Problem = {
    type: `${PROBLEM_BASE}${code.replace(/_/g, "-")}`,
    title,
    status,
    detail,
    requestId: c.get("requestId") ?? "unknown",
    code,
    ...extra,
  };
  return c.body(JSON.stringify(body), status as ContentfulStatusCode, {
    "content-type": "application/problem+json",
    ...headers,
  });
}

export function zodProblem(c: Context<AppEnv>, error: ZodError, where: string): Response {
  const errors = error.issues.map((i) => ({
    field: [where, ...i.path.map(String)].join("."),
    message: i.message,
  }));
  const first = errors[0];
  const detail = first ? `${first.field}: ${first.message}` : "invalid request";
  return problemResponse(c, "validation_failed", detail, { field: first?.field, errors });
}

export function onError(err: Error, c: Context<AppEnv>): Response {
  if (err instanceof AppError) {
    const headers: Record<string, string> = {};
    if (err.code === "rate_limited" || err.code === "unavailable") {
      const after = err.extra?.retryAfter;
      headers["retry-after"] = String(typeof after === "number" ? after : 1);
    }
    if (err.code === "unauthorized") headers["www-authenticate"] = 'Bearer realm="edgesearch"';
    if (err.status >= 500) c.get("logger")?.error("request.failed", { code: err.code, err });
    return problemResponse(
      c,
      err.code,
      err.message,
      { ...(err.field ? { field: err.field } : {}), ...err.extra, status: err.status },
      headers,
    );
  }
  if (err instanceof HTTPException) {
    const code = codeForStatus(err.status);
    const detail = err.status === 413 ? "request body is too large" : err.message || ERROR_CODES[code].title;
    return problemResponse(c, code, detail);
  }
  c.get("logger")?.error("request.crashed", { err });
  return problemResponse(c, "internal", "an internal error occurred; quote the requestId when reporting it");
}

function codeForStatus(status: number): ErrorCode {
  for (const [code, def] of Object.entries(ERROR_CODES)) {
    if (def.status === status) return code as ErrorCode;
  }
  return status >= 500 ? "internal" : "bad_request";
}
