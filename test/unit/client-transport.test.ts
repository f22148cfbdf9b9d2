// The client's retries, Retry-After, backoff and timeouts over a fake fetch and an injected sleep:
// attempts and the delays asked for are counted, never timed. Against the Worker:
// test/integration/client.test.ts.
import { describe, expect, it } from "vitest";
import {
  ApiError,
  createClient,
  retryAfterMs,
  uploadDocuments,
  waitUntilIndexed,
} from "../../client/src/index.ts";
import { rejection } from "../support/rejection.ts";

/** A fetch that answers from a script of responses (the last one repeats) and counts its calls. */
function scriptedFetch(responses: Array<() => Response | Promise<Response>>) {
  const calls: Array<{ url: string; method: string }> = [];
  const fetch = async (input: string, init?: RequestInit) => {
    calls.push({ url: input, method: init?.method ?? "GET" });
    const next = responses[Math.min(calls.length - 1, responses.length - 1)];
    if (!next) throw new Error("no scripted response");
    return next();
  };
  return { fetch, calls };
}

/** A sleep that returns at once and records what it was asked to wait. */
function recordedSleep() {
  const delays: number[] = [];
  const sleep = async (ms: number) => {
    delays.push(ms);
  };
  return { sleep, delays };
}

const problemResponse =
  (status: number, headers: Record<string, string> = {}) =>
  () =>
    new Response(
      JSON.stringify({
        type: "about:blank",
        title: status === 429 ? "Rate limited" : "Unavailable",
        status,
        detail: "slow down",
        requestId: "r1",
        code: status === 429 ? "rate_limited" : "unavailable",
      }),
      { status, headers: { "content-type": "application/problem+json", ...headers } },
    );

const okSearch = () =>
  Response.json({ results: [], version: "v1", cache: "miss", degraded: [] }, { status: 200 });

describe("client retries", () => {
  it("waits the Retry-After seconds of a 429, then succeeds", async () => {
    const { fetch, calls } = scriptedFetch([problemResponse(429, { "retry-after": "7" }), okSearch]);
    const { sleep, delays } = recordedSleep();
    const client = createClient({ fetch, sleep });
    const answer = await client.searchTimed("docs", { query: "q" });
    expect(calls).toHaveLength(2);
    expect(delays).toEqual([7000]);
    expect(answer.attempts).toBe(2);
  });

  it("waits until the HTTP date of a Retry-After", async () => {
    const at = new Date(Date.now() + 120_000).toUTCString();
    const { fetch } = scriptedFetch([problemResponse(503, { "retry-after": at }), okSearch]);
    const { sleep, delays } = recordedSleep();
    await createClient({ fetch, sleep }).search("docs", { query: "q" });
    expect(delays).toHaveLength(1);
    // An HTTP date has whole seconds: up to a second less than asked, never more.
    expect(delays[0]).toBeGreaterThan(110_000);
    expect(delays[0]).toBeLessThanOrEqual(120_000);
  });

  it("backs off with full jitter below an exponential ceiling, up to maxAttempts", async () => {
    const { fetch, calls } = scriptedFetch([problemResponse(503)]);
    const { sleep, delays } = recordedSleep();
    const client = createClient({ fetch, sleep, random: () => 0.5, baseDelayMs: 100, maxAttempts: 4 });
    const err = await rejection(client.search("docs", { query: "q" }));
    expect(calls).toHaveLength(4);
    expect(delays).toEqual([50, 100, 200]);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 503, retryable: true, attempts: 4, code: "unavailable" });
  });

  it("gives up at once on a Retry-After longer than maxRetryAfterMs", async () => {
    const { fetch, calls } = scriptedFetch([problemResponse(429, { "retry-after": "3600" })]);
    const { sleep, delays } = recordedSleep();
    const err = await rejection(createClient({ fetch, sleep }).search("docs", { query: "q" }));
    expect(calls).toHaveLength(1);
    expect(delays).toEqual([]);
    expect(err).toMatchObject({ status: 429, code: "rate_limited" });
  });

  it("retries a lost connection for an idempotent call, not for a POST that is not", async () => {
    const lost = () => Promise.reject(new TypeError("Network connection lost."));
    const get = scriptedFetch([lost, () => Response.json({ status: "ok" })]);
    const { sleep } = recordedSleep();
    await createClient({ fetch: get.fetch, sleep }).health();
    expect(get.calls).toHaveLength(2);

    const post = scriptedFetch([lost, () => Response.json({})]);
    const client = createClient({ fetch: post.fetch, sleep });
    const err = await rejection(
      client.call("POST /v1/admin/keys", { body: { name: "k", roles: ["search"], namespaces: ["docs"] } }),
    );
    expect(post.calls).toHaveLength(1);
    expect(err).toMatchObject({ status: 0, timedOut: false, attempts: 1 });
  });
});

describe("client timeouts", () => {
  /** A fetch that never answers: it settles only when its signal aborts. */
  const hanging = async (_input: string, init?: RequestInit) =>
    new Promise<Response>((_, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
    });

  it("aborts an attempt after timeoutMs and reports the timeout", async () => {
    const client = createClient({ fetch: hanging, timeoutMs: 5, maxAttempts: 1 });
    const err = await rejection(client.getDocument("docs", "a"));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 0, timedOut: true, retryable: true });
    expect((err as ApiError).message).toMatch(/no response within 5 ms/);
  });

  it("ends the call with the caller's abort reason, without retrying", async () => {
    let calls = 0;
    const client = createClient({
      fetch: (input, init) => {
        calls += 1;
        return hanging(input, init);
      },
    });
    const controller = new AbortController();
    const pending = rejection(client.getDocument("docs", "a", { signal: controller.signal }));
    controller.abort(new Error("user left"));
    const err = await pending;
    expect(err).not.toBeInstanceOf(ApiError);
    expect((err as Error).message).toBe("user left");
    expect(calls).toBe(1);
  });
});

describe("waitUntilIndexed", () => {
  it("waitUntilIndexed gives up after its timeout on a document still queued", async () => {
    const queued = () =>
      Response.json({ id: "q1", status: "queued", chunks: 0, version: null, updatedAt: "2026-01-01" });
    const { fetch, calls } = scriptedFetch([queued]);
    const { sleep, delays } = recordedSleep();
    const fake = createClient({ fetch, sleep });
    // timeoutMs 0: one look, then the timeout.
    const err = await rejection(waitUntilIndexed(fake, "docs", "q1", { timeoutMs: 0, sleep }));
    expect(calls).toHaveLength(1);
    expect(delays).toEqual([]);
    expect(err).toMatchObject({ status: 0, timedOut: true });
    expect((err as ApiError).message).toMatch(/1 of 1 documents in "docs" not indexed/);
  });
});

describe("retryAfterMs", () => {
  it("reads delta-seconds and HTTP dates, and nothing else", () => {
    const at = Date.parse("Sun, 06 Dec 2026 10:00:00 GMT");
    expect(retryAfterMs("3", at)).toBe(3000);
    expect(retryAfterMs("Sun, 06 Dec 2026 10:00:30 GMT", at)).toBe(30_000);
    expect(retryAfterMs("Sun, 06 Dec 2026 09:00:00 GMT", at)).toBe(0);
    expect(retryAfterMs("soon", at)).toBeUndefined();
    expect(retryAfterMs(null, at)).toBeUndefined();
  });
});

describe("uploadDocuments", () => {
  it("halves a batch the service refuses as too large, keeping the ids in order", async () => {
    const sizes: number[] = [];
    const fetch = async (_input: string, init?: RequestInit) => {
      const { documents } = JSON.parse(String(init?.body)) as { documents: { id: string }[] };
      sizes.push(documents.length);
      if (documents.length > 2) return problemResponse(413)();
      return Response.json({ accepted: documents.length, ids: documents.map((d) => d.id) }, { status: 202 });
    };
    const docs = ["a", "b", "c", "d", "e"].map((id) => ({ id, text: id }));
    const progress: number[] = [];
    const { sleep } = recordedSleep();
    const result = await uploadDocuments(createClient({ fetch, sleep }), "docs", docs, {
      onProgress: (p) => progress.push(p.accepted),
    });
    expect(result).toEqual({ accepted: 5, ids: ["a", "b", "c", "d", "e"] });
    expect(sizes).toEqual([5, 3, 2, 1, 2]);
    expect(progress).toEqual([5]);
  });
});
