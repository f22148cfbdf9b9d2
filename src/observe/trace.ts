// W3C Trace Context (traceparent): a caller's trace is continued, never trusted to be well formed.
// A malformed header is ignored and a new trace starts; it is never an error.

export interface TraceContext {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** This service's span: 16 lowercase hex digits, not all zero. */
  spanId: string;
  /** The caller's span, when a valid traceparent came in. */
  parentSpanId: string | null;
  /** The trace-flags byte (bit 0: sampled). */
  flags: string;
}

// version-traceid-parentid-flags. Version ff is forbidden; a future version may append fields
// after the flags, which are ignored (the spec's forward-compatibility rule).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

/** The caller's trace, or null when the header is absent or invalid. */
export function parseTraceparent(header: string | null | undefined): Omit<TraceContext, "spanId"> | null {
  if (!header || header.length > 512) return null;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return null;
  const [, version, traceId, parentSpanId, flags, rest] = m;
  if (!version || !traceId || !parentSpanId || !flags) return null;
  if (version === "ff") return null;
  // Version 00 has exactly four fields.
  if (version === "00" && rest !== undefined) return null;
  if (traceId === ZERO_TRACE || parentSpanId === ZERO_SPAN) return null;
  return { traceId, parentSpanId, flags };
}

function randomHex(bytes: number): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes));
  let out = "";
  for (const b of buf) out += b.toString(16).padStart(2, "0");
  return out;
}

function nonZeroHex(bytes: number): string {
  for (;;) {
    const hex = randomHex(bytes);
    if (/[^0]/.test(hex)) return hex;
  }
}

/** Continues the caller's trace with a new span, or starts a new (sampled) trace. */
export function startSpan(incoming: string | null | undefined): TraceContext {
  const parent = parseTraceparent(incoming);
  return {
    traceId: parent?.traceId ?? nonZeroHex(16),
    spanId: nonZeroHex(8),
    parentSpanId: parent?.parentSpanId ?? null,
    flags: parent?.flags ?? "01",
  };
}

/** The traceparent header naming this service's span, for responses and outgoing calls. */
export function formatTraceparent(t: TraceContext): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags}`;
}
