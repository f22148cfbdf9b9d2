// The one error the client throws for a failed call: a problem+json answer (status, type, title,
// detail and the problem's other fields), or no answer at all (status 0: network error, timeout).

/** The members RFC 9457 and the service give every problem; the rest are the problem's extras. */
const STANDARD_MEMBERS = new Set(["type", "title", "status", "detail", "instance", "requestId", "code"]);

export type ApiErrorDetails = {
  status: number;
  retryable: boolean;
  problem?: Record<string, unknown>;
  timedOut?: boolean;
  attempts?: number;
  cause?: unknown;
};

const text = (value: unknown) => (typeof value === "string" ? value : undefined);

export class ApiError extends Error {
  /** HTTP status; 0 when no response arrived (connection refused, timeout). */
  readonly status: number;
  /** Whether the same call may succeed later (429, 503, 5xx, network). */
  readonly retryable: boolean;
  /** The problem's type URI ("about:blank" when the answer did not say). */
  readonly type: string;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  /** The service's error code (validation_failed, not_found, rate_limited, ...). */
  readonly code: string | undefined;
  readonly requestId: string | undefined;
  /** The whole problem+json body; undefined when there was no answer. */
  readonly problem: Record<string, unknown> | undefined;
  /** The problem's members beyond the standard ones: field, checks, documentStatus, ... */
  readonly extra: Record<string, unknown>;
  /** No answer within the call's timeout. */
  readonly timedOut: boolean;
  /** Attempts made, the failed last one included. */
  readonly attempts: number;

  constructor(message: string, details: ApiErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "ApiError";
    this.status = details.status;
    this.retryable = details.retryable;
    this.problem = details.problem;
    this.type = text(details.problem?.type) ?? "about:blank";
    this.title = text(details.problem?.title);
    this.detail = text(details.problem?.detail);
    this.code = text(details.problem?.code);
    this.requestId = text(details.problem?.requestId);
    this.extra = Object.fromEntries(
      Object.entries(details.problem ?? {}).filter(([name]) => !STANDARD_MEMBERS.has(name)),
    );
    this.timedOut = details.timedOut ?? false;
    this.attempts = details.attempts ?? 1;
  }
}

/** A problem+json body as an object; a body that is not JSON becomes its start as the detail. */
export function parseProblem(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // Not problem+json (a proxy's HTML error page, say): keep the start of it as the detail.
  }
  return body === "" ? undefined : { detail: body.slice(0, 300) };
}

/** "PUT /v1/... failed with 400 Invalid request: detail (requestId r)" */
export function describeFailure(
  call: string,
  status: number,
  problem: Record<string, unknown> | undefined,
  fallback: string,
) {
  const title = text(problem?.title) ?? fallback;
  const detail = problem?.detail;
  const more = typeof detail === "string" && detail !== title ? `: ${detail}` : "";
  const requestId = typeof problem?.requestId === "string" ? ` (requestId ${problem.requestId})` : "";
  return `${call} failed with ${status} ${title}${more}${requestId}`;
}

/** Why an attempt got no response: its timeout, or the network error and its cause's code. */
export function describeNetworkFailure(err: unknown, timeoutMs: number) {
  if (err instanceof Error && err.name === "TimeoutError") return `no response within ${timeoutMs} ms`;
  const message = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error) {
    const code = "code" in cause && typeof cause.code === "string" ? cause.code : cause.message;
    return `${message} (${code})`;
  }
  return message;
}
