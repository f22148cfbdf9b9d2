// Sentry reporting: envelopes captured through toucan-js's injectable fetch (nothing leaves the
// test), what they carry and what is scrubbed, and Durable Object instrumentation.
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import { createSentry, isUnexpected, reportError, scrubEvent, scrubText } from "../../src/observe/sentry";
import { instrumentDurableObject } from "../../workers/observe/durable-objects";

const DSN = "https://publickey@sentry.test/7";

function capture() {
  const sent: { url: string; body: string }[] = [];
  const pending: Promise<unknown>[] = [];
  const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
    sent.push({ url: String(input), body: String(init?.body) });
    return new Response("{}", { status: 200 });
  }) as typeof fetch;
  return { sent, pending, fetcher, waitUntil: (p: Promise<unknown>) => void pending.push(p) };
}

/** The event of an envelope (header line, item header line, item). */
function eventOf(body: string): Record<string, unknown> {
  return JSON.parse(body.split("\n")[2] ?? "{}") as Record<string, unknown>;
}

describe("createSentry", () => {
  it("is off without a DSN", () => {
    expect(createSentry({ dsn: undefined })).toBeNull();
    expect(reportError(null, new Error("x"), {})).toBeNull();
  });

  it("sends one envelope per error to the DSN's project, tagged with the request's ids", async () => {
    const c = capture();
    const sentry = createSentry({ dsn: DSN, fetcher: c.fetcher, waitUntil: c.waitUntil });
    reportError(sentry, new TypeError("cannot read properties of undefined"), {
      requestId: "req-1",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      namespace: "docs",
      operation: "POST /v1/namespaces/:ns/search",
      method: "POST",
      status: 500,
      code: "internal",
    });
    await Promise.all(c.pending);
    expect(c.sent).toHaveLength(1);
    expect(c.sent[0]?.url).toMatch(/^https:\/\/sentry\.test\/api\/7\/envelope\/\?sentry_key=publickey&/);
    const event = eventOf(c.sent[0]?.body ?? "");
    expect(event.tags).toMatchObject({
      requestId: "req-1",
      namespace: "docs",
      code: "internal",
      status: "500",
    });
    expect(event.contexts).toMatchObject({ trace: { trace_id: "4bf92f3577b34da6a3ce929d0e0e4736" } });
    expect(JSON.stringify(event.exception)).toContain("cannot read properties of undefined");
  });

  it("masks keys and bearer tokens quoted in error messages", async () => {
    const c = capture();
    const sentry = createSentry({ dsn: DSN, fetcher: c.fetcher, waitUntil: c.waitUntil });
    const key = `es_abcdefghijklmnop_${"s".repeat(43)}`;
    reportError(sentry, new Error(`upstream said: Authorization: Bearer ${key} token=abc123`), {});
    await Promise.all(c.pending);
    const body = c.sent[0]?.body ?? "";
    expect(body).not.toContain(key);
    expect(body).not.toContain("abc123");
    expect(body).toContain("[redacted");
  });
});

describe("scrubEvent", () => {
  it("drops bodies, query strings, cookies, user data, extra data and unsafe headers", () => {
    const event = scrubEvent({
      type: undefined,
      message: "failed with Bearer secret-token",
      request: {
        method: "POST",
        url: "https://x.test/v1/namespaces/docs/search?q=private",
        data: '{"query":"private words"}',
        cookies: { session: "abc" },
        query_string: "q=private",
        headers: {
          authorization: "Bearer k",
          "cf-ray": "abc-LHR",
          cookie: "s=1",
          "content-type": "application/json",
        },
      },
      user: { ip_address: "192.0.2.1" },
      extra: { body: "document text" },
      breadcrumbs: [{ message: "fetch Bearer t0k3n", data: { body: "x" } }],
    });
    expect(event.request).toEqual({
      method: "POST",
      url: "https://x.test/v1/namespaces/docs/search",
      headers: { "cf-ray": "abc-LHR", "content-type": "application/json" },
    });
    expect(event.user).toBeUndefined();
    expect(event.extra).toBeUndefined();
    expect(event.message).toBe("failed with Bearer [redacted]");
    expect(JSON.stringify(event.breadcrumbs)).not.toContain("t0k3n");
    expect(JSON.stringify(event.breadcrumbs)).not.toContain('"data"');
  });

  it("caps long messages", () => {
    expect(scrubText("x".repeat(5000)).length).toBeLessThanOrEqual(1001);
  });
});

describe("isUnexpected", () => {
  it("is true for 5xx and unknown errors, false for client errors", () => {
    expect(isUnexpected(new Error("boom"))).toBe(true);
    expect(isUnexpected(new AppError("upstream_failed", "x"))).toBe(true);
    expect(isUnexpected(new AppError("validation_failed", "x"))).toBe(false);
    expect(isUnexpected(new AppError("not_found", "x"))).toBe(false);
  });
});

describe("instrumentDurableObject", () => {
  // Shaped like a Durable Object class (ctx and env fields); the real classes run instrumented in
  // every integration test that touches the local index or the breakers.
  class Counter {
    value = 1;
    constructor(
      readonly ctx: DurableObjectState,
      readonly env: unknown,
    ) {}
    read(): number {
      return this.value;
    }
    async crash(): Promise<void> {
      throw new TypeError("object state is corrupt");
    }
    async refuse(): Promise<void> {
      throw new AppError("validation_failed", "bad input");
    }
  }

  it("keeps behaviour (sync methods stay sync) and reports unexpected failures once", async () => {
    const sent: string[] = [];
    const pending: Promise<unknown>[] = [];
    const original = globalThis.fetch;
    globalThis.fetch = (async (_input: RequestInfo | URL, init?: RequestInit) => {
      sent.push(String(init?.body));
      return new Response("{}");
    }) as typeof fetch;
    try {
      const Instrumented = instrumentDurableObject(Counter, "Counter");
      const ctx = {
        waitUntil: (p: Promise<unknown>) => void pending.push(p),
      } as unknown as DurableObjectState;
      const object = new Instrumented(ctx, { SENTRY_DSN: DSN } as unknown as Env);
      expect(Instrumented.name).toBe("Counter");
      expect(object.read()).toBe(1);
      await expect(object.crash()).rejects.toThrow("object state is corrupt");
      await expect(object.refuse()).rejects.toThrow("bad input");
      await Promise.all(pending);
      expect(sent).toHaveLength(1);
      expect(eventOf(sent[0] ?? "").tags).toMatchObject({ operation: "durable-object Counter.crash" });
    } finally {
      globalThis.fetch = original;
    }
  });
});
