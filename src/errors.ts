// One error vocabulary below HTTP: a closed set of codes, each with its HTTP status, and a
// retryable flag that the queue consumer and retry helpers decide from (never message text).

export const ERROR_CODES = {
  bad_request: { status: 400, title: "Bad request" },
  validation_failed: { status: 400, title: "Validation failed" },
  invalid_filter: { status: 400, title: "Invalid filter" },
  // A search cursor that is malformed, altered, or was issued for another query (src/search/cursor.ts).
  invalid_cursor: { status: 400, title: "Invalid cursor" },
  unauthorized: { status: 401, title: "Unauthorized" },
  forbidden: { status: 403, title: "Forbidden" },
  not_found: { status: 404, title: "Not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  // A search cursor whose page no longer exists: expired, or the namespace or its index changed.
  cursor_stale: { status: 410, title: "Cursor stale" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  unprocessable: { status: 422, title: "Unprocessable content" },
  rate_limited: { status: 429, title: "Too many requests" },
  // 429 by default; 413 for one document larger than the whole byte quota (src/quotas/).
  quota_exceeded: { status: 429, title: "Quota exceeded" },
  internal: { status: 500, title: "Internal error" },
  upstream_failed: { status: 502, title: "Upstream failed" },
  unavailable: { status: 503, title: "Service unavailable" },
  timeout: { status: 504, title: "Upstream timed out" },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface AppErrorOptions {
  /** Whether doing the same thing again later may succeed (429, 5xx, timeouts). */
  retryable?: boolean;
  /** The request field the error is about, e.g. "body.documents[3].id". */
  field?: string;
  /** Extra machine-readable detail for the problem+json body. */
  extra?: Record<string, unknown>;
  /** An HTTP status other than the code's usual one (a quota error answered 413). */
  status?: number;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly field: string | undefined;
  readonly extra: Record<string, unknown> | undefined;
  private readonly statusOverride: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].status >= 500;
    this.field = options.field;
    this.extra = options.extra;
    this.statusOverride = options.status;
  }

  get status(): number {
    return this.statusOverride ?? ERROR_CODES[this.code].status;
  }
}

/** Retryable unless it is our own error that says otherwise; unknown errors are assumed transient. */
export function isRetryable(err: unknown): boolean {
  return err instanceof AppError ? err.retryable : true;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
