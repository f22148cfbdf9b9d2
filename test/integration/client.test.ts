// The typed client (client/) against the real Worker: problem+json answers become ApiErrors with
// their fields, batch uploads go through the queue and waitUntilIndexed sees them indexed, and the
// search pages iterator gives topK 100's ranking once each, in order. Retries, Retry-After and
// timeouts run over a fake fetch and an injected sleep: attempts and requested delays are counted,
// never timed.
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ApiError,
  type BatchDocument,
  createClient,
  MAX_BATCH_DOCUMENTS,
  type SearchResult,
  uploadDocuments,
  waitUntilIndexed,
} from "../../client/src/index.ts";
import { MAX_BATCH_DOCUMENTS as SERVICE_MAX_BATCH_DOCUMENTS } from "../../workers/api/schemas";
import { adminKey, freshNamespace, TEST_ORIGIN } from "../support";

/** A client whose fetch is the Worker's own fetch handler. */
function workerClient(options: Parameters<typeof createClient>[0] = {}) {
  return createClient({
    baseUrl: TEST_ORIGIN,
    apiKey: adminKey(),
    fetch: (input, init) => exports.default.fetch(new Request(input, init)),
    ...options,
  });
}

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

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to fail");
}

describe("client errors", () => {
  it("turns a 400 problem into an ApiError with its type, title, detail and extra fields", async () => {
    const client = workerClient();
    const err = await rejection(client.search(freshNamespace("ce"), { query: "x", topK: 1000 }));
    expect(err).toBeInstanceOf(ApiError);
    const problem = err as ApiError;
    expect(problem.status).toBe(400);
    expect(problem.retryable).toBe(false);
    expect(problem.code).toBe("validation_failed");
    expect(problem.title).toEqual(expect.any(String));
    expect(problem.detail).toMatch(/topK/);
    expect(problem.requestId).toEqual(expect.any(String));
    expect(problem.extra).toMatchObject({ field: expect.stringContaining("topK") });
    expect(problem.attempts).toBe(1);
  });

  it("turns a 404 problem into an ApiError, without retrying it", async () => {
    const client = workerClient();
    const err = await rejection(client.getDocument(freshNamespace("ce"), "missing"));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);
    expect((err as ApiError).code).toBe("not_found");
    expect((err as ApiError).attempts).toBe(1);
  });

  it("reaches every operation by name, with typed parameters", async () => {
    const client = workerClient();
    const ns = freshNamespace("ce");
    const quotas = await client.call("GET /v1/namespaces/{ns}/quotas", { path: { ns } });
    expect(quotas.namespace).toBe(ns);
    const keys = await client.call("GET /v1/admin/keys");
    expect(Array.isArray(keys.keys)).toBe(true);
  });
});

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

/** 130 documents that all say "comet", with different counts of it and other words. */
function comets(): BatchDocument[] {
  const words = ["orbit", "tail", "ice", "dust", "nucleus", "coma"];
  return Array.from({ length: 130 }, (_, i) => ({
    id: `c${String(i).padStart(3, "0")}`,
    title: `Comet ${i}`,
    text: `${"comet ".repeat(1 + (i % 5))}${words.filter((_, w) => (i >> w) % 2 === 1).join(" ")} record ${i}.`,
  }));
}

describe("client helpers against the Worker", () => {
  const ns = freshNamespace("ch");
  const client = workerClient();
  const progress: number[] = [];
  let ids: string[] = [];

  beforeAll(async () => {
    const uploaded = await uploadDocuments(client, ns, comets(), {
      batchSize: 50,
      concurrency: 1,
      onProgress: (p) => progress.push(p.accepted),
    });
    ids = uploaded.ids;
    await waitUntilIndexed(client, ns, ids, { timeoutMs: 110_000, intervalMs: 200 });
    // The namespace's write generation reaches KV within about a second; cursors are checked
    // against it, so let it settle before paging.
    await new Promise((r) => setTimeout(r, 1500));
  }, 120_000);

  it("keeps batches within the service's limit", () => {
    expect(MAX_BATCH_DOCUMENTS).toBe(SERVICE_MAX_BATCH_DOCUMENTS);
  });

  it("uploads in batches with progress, and waitUntilIndexed sees every document indexed", async () => {
    expect(ids).toHaveLength(130);
    expect(ids[0]).toBe("c000");
    expect(progress).toEqual([50, 100, 130]);
    const statuses = await waitUntilIndexed(client, ns, ["c007", "c100"]);
    expect(statuses.map((s) => [s.id, s.status])).toEqual([
      ["c007", "indexed"],
      ["c100", "indexed"],
    ]);
    expect((await client.namespaceStats(ns)).documents).toBe(130);
  });

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

  it("pages give topK 100's results once each, in order", async () => {
    const body = { query: "comet orbit dust", mode: "keyword", groupBy: "chunk", cache: "bypass" } as const;
    const whole = await client.search(ns, { ...body, topK: 100 });
    expect(whole.nextCursor).toBeUndefined();
    expect(whole.results.length).toBe(100);
    const paged: SearchResult[] = [];
    let pages = 0;
    for await (const page of client.searchPages(ns, { ...body, topK: 10 })) {
      pages += 1;
      expect(page.results.length).toBeLessThanOrEqual(10);
      paged.push(...page.results);
    }
    const key = (r: SearchResult) => `${r.id}/${r.chunkId}/${r.score}`;
    expect(paged.map(key)).toEqual(whole.results.map(key));
    expect(new Set(paged.map(key)).size).toBe(paged.length);
    expect(pages).toBe(10);
  });
});
