// W3C traceparent: what is accepted, what is ignored, and what this service answers with.
import { describe, expect, it } from "vitest";
import { formatTraceparent, parseTraceparent, startSpan } from "../../src/observe/trace";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

describe("parseTraceparent", () => {
  it("accepts the spec's example", () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({
      traceId: TRACE,
      parentSpanId: SPAN,
      flags: "01",
    });
  });

  it("accepts a future version with extra fields, ignoring them", () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-00-whatever`)).toMatchObject({
      traceId: TRACE,
      flags: "00",
    });
  });

  it.each([
    ["absent", undefined],
    ["empty", ""],
    ["version ff", `ff-${TRACE}-${SPAN}-01`],
    ["all-zero trace id", `00-${"0".repeat(32)}-${SPAN}-01`],
    ["all-zero span id", `00-${TRACE}-${"0".repeat(16)}-01`],
    ["uppercase hex", `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ["short trace id", `00-${TRACE.slice(1)}-${SPAN}-01`],
    ["version 00 with extra fields", `00-${TRACE}-${SPAN}-01-extra`],
    ["not hex", `00-${"g".repeat(32)}-${SPAN}-01`],
    ["oversized", `00-${TRACE}-${SPAN}-01${"-x".repeat(400)}`],
  ])("ignores a header that is %s", (_name, header) => {
    expect(parseTraceparent(header)).toBeNull();
  });
});

describe("startSpan", () => {
  it("continues the caller's trace with a new span", () => {
    const span = startSpan(`00-${TRACE}-${SPAN}-01`);
    expect(span.traceId).toBe(TRACE);
    expect(span.parentSpanId).toBe(SPAN);
    expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(span.spanId).not.toBe(SPAN);
    expect(formatTraceparent(span)).toBe(`00-${TRACE}-${span.spanId}-01`);
  });

  it("starts a sampled trace when there is none or it is invalid", () => {
    for (const header of [null, "nonsense"]) {
      const span = startSpan(header);
      expect(span.parentSpanId).toBeNull();
      expect(formatTraceparent(span)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    }
    expect(startSpan(null).traceId).not.toBe(startSpan(null).traceId);
  });
});
