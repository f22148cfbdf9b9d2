import { describe, expect, it } from "vitest";
import { MAX_EMBED_BATCH } from "../../src/embed/embedder";
import { BGE_QUERY_INSTRUCTION, mapWorkersAiError, WorkersAiEmbedder } from "../../src/embed/workers-ai";
import { AppError } from "../../src/errors";
import { type BreakerBackend, BreakerClient, type BreakerSnapshot } from "../../src/resilience/breaker";
import { type GuardContext, guarded } from "../../src/resilience/guard";
import { Deadline } from "../../src/resilience/retry";
import { createFakeAi, type FakeAiFailure, fakeVector } from "../fakes/fake-ai";

const MODEL = "@cf/baai/bge-base-en-v1.5";
const texts = (n: number) => Array.from({ length: n }, (_, i) => `passage number ${i}`);

function norm(v: Float32Array): number {
  let sum = 0;
  for (const x of v) sum += x * x;
  return Math.sqrt(sum);
}

function expectVectorClose(actual: Float32Array | undefined, expected: Float32Array): void {
  expect(actual).toBeDefined();
  expect(actual?.length).toBe(expected.length);
  let maxDiff = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs((actual?.[i] ?? Number.NaN) - (expected[i] ?? 0)));
  }
  expect(maxDiff).toBeLessThan(1e-6);
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe("WorkersAiEmbedder", () => {
  it("splits 250 texts into three calls of at most 100 and returns vectors in input order", async () => {
    const ai = createFakeAi();
    const input = texts(250);
    const vectors = await new WorkersAiEmbedder({ ai, model: MODEL }).embed(input, "document");

    expect(ai.calls.map((c) => c.text.length)).toEqual([100, 100, 50]);
    expect(ai.calls.every((c) => c.text.length <= MAX_EMBED_BATCH)).toBe(true);
    expect(ai.calls.flatMap((c) => c.text)).toEqual(input);
    expect(vectors).toHaveLength(250);
    for (const i of [0, 99, 100, 199, 200, 249]) {
      expectVectorClose(vectors[i], fakeVector(MODEL, "cls", input[i] ?? "", 768));
    }
  });

  it("keeps order with batches finishing out of order, and never runs more than 4 at once", async () => {
    // Even-numbered calls answer last, so batches complete out of order.
    const ai = createFakeAi({ latencyMs: (call) => (call % 2 === 0 ? 20 : 2) });
    const input = texts(1000);
    const vectors = await new WorkersAiEmbedder({ ai, model: MODEL }).embed(input, "document");

    expect(ai.calls).toHaveLength(10);
    expect(ai.maxInFlight).toBeGreaterThan(1);
    expect(ai.maxInFlight).toBeLessThanOrEqual(4);
    for (const i of [0, 333, 999]) {
      expectVectorClose(vectors[i], fakeVector(MODEL, "cls", input[i] ?? "", 768));
    }
  });

  it("uses cls pooling by default and the configured pooling on every call", async () => {
    const cls = createFakeAi();
    await new WorkersAiEmbedder({ ai: cls, model: MODEL }).embed(texts(150), "document");
    expect(cls.calls.map((c) => c.pooling)).toEqual(["cls", "cls"]);

    const mean = createFakeAi();
    await new WorkersAiEmbedder({ ai: mean, model: MODEL, pooling: "mean" }).embed(texts(150), "query");
    expect(mean.calls.map((c) => c.pooling)).toEqual(["mean", "mean"]);
  });

  it("prefixes queries with the bge retrieval instruction, and leaves documents as they are", async () => {
    const ai = createFakeAi();
    const embedder = new WorkersAiEmbedder({ ai, model: MODEL });
    await embedder.embed(["aspirin and stroke"], "query");
    await embedder.embed(["aspirin and stroke"], "document");
    expect(ai.calls.map((c) => c.text[0])).toEqual([
      `${BGE_QUERY_INSTRUCTION}aspirin and stroke`,
      "aspirin and stroke",
    ]);

    const plain = createFakeAi();
    await new WorkersAiEmbedder({ ai: plain, model: MODEL, queryInstruction: "" }).embed(["q"], "query");
    expect(plain.calls[0]?.text).toEqual(["q"]);
  });

  it("returns unit-length vectors even when the model does not", async () => {
    const ai = createFakeAi({ norm: 3.5 });
    const vectors = await new WorkersAiEmbedder({ ai, model: MODEL }).embed(texts(3), "document");
    for (const [i, v] of vectors.entries()) {
      expect(norm(v)).toBeCloseTo(1, 5);
      expectVectorClose(v, fakeVector(MODEL, "cls", `passage number ${i}`, 768));
    }
  });

  it("reports the model's dimensions and input limit", () => {
    const small = new WorkersAiEmbedder({ ai: createFakeAi(), model: "@cf/baai/bge-small-en-v1.5" });
    expect([small.dimensions, small.maxInputTokens]).toEqual([384, 512]);
  });

  it("makes no call for no texts", async () => {
    const ai = createFakeAi();
    expect(await new WorkersAiEmbedder({ ai, model: MODEL }).embed([], "document")).toEqual([]);
    expect(ai.calls).toHaveLength(0);
  });

  it("refuses an unsupported model at construction, naming the supported ones", () => {
    let err: unknown;
    try {
      new WorkersAiEmbedder({ ai: createFakeAi(), model: "@cf/unknown/model" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("internal");
    expect((err as AppError).message).toContain("@cf/baai/bge-base-en-v1.5");
  });

  it.each<FakeAiFailure>(["wrong_count", "wrong_dims", "nan", "missing_data"])(
    "rejects a malformed response (%s) as a retryable upstream failure",
    async (kind) => {
      const ai = createFakeAi();
      ai.failNext(1, kind);
      const err = await rejection(new WorkersAiEmbedder({ ai, model: MODEL }).embed(texts(5), "document"));
      expect(err.code).toBe("upstream_failed");
      expect(err.retryable).toBe(true);
    },
  );

  it.each<[FakeAiFailure, string, boolean]>([
    ["rate_limited", "rate_limited", true],
    ["server_error", "upstream_failed", true],
    ["network", "upstream_failed", true],
    ["input_error", "bad_request", false],
  ])("maps a %s failure to %s (retryable: %s)", async (kind, code, retryable) => {
    const ai = createFakeAi();
    ai.failNext(1, kind);
    const err = await rejection(new WorkersAiEmbedder({ ai, model: MODEL }).embed(texts(2), "query"));
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
  });

  it("fails the whole call when one batch fails, and succeeds once the service recovers", async () => {
    const ai = createFakeAi();
    const embedder = new WorkersAiEmbedder({ ai, model: MODEL });
    ai.failNext(1, "rate_limited");
    await rejection(embedder.embed(texts(150), "document"));
    expect(await embedder.embed(texts(150), "document")).toHaveLength(150);
  });

  it("gives up on a call that does not answer in time, with a retryable timeout", async () => {
    const ai = createFakeAi();
    ai.failNext(1, "hang");
    // The fake never answers: without the timeout this test would hang until vitest's own.
    const err = await rejection(
      new WorkersAiEmbedder({ ai, model: MODEL, timeoutMs: 50 }).embed(["x"], "query"),
    );
    expect(err.code).toBe("timeout");
    expect(err.retryable).toBe(true);
  });

  it("returns at the guarded attempt's timeout and cancels the inference it stopped waiting for", async () => {
    // The search path's guard: short attempts inside a deadline, far below the adapter's own
    // 15 s timeout. The binding honours the signal (runModel's comment), so the guard's timeout
    // must reach the call, not only stop the caller waiting.
    const closed: BreakerSnapshot = {
      state: "closed",
      retryAt: null,
      window: { ok: 0, fail: 0 },
      opens: 0,
      transitions: 0,
    };
    const backend: BreakerBackend = { report: async () => closed, snapshot: async () => closed };
    const guard: GuardContext = {
      breakers: new BreakerClient(),
      backend,
      defer: () => undefined,
      faults: null,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1, timeoutMs: 50, deadline: new Deadline(3000) },
    };
    const ai = createFakeAi();
    ai.failNext(2, "hang");
    const embedder = guarded(new WorkersAiEmbedder({ ai, model: MODEL }), "workers-ai", guard, ["embed"]);
    const err = await rejection(embedder.embed(["x"], "query"));
    expect(err.code).toBe("timeout");
    // Each attempt's call was cancelled when its attempt timed out...
    expect(ai.signals).toHaveLength(2);
    expect(ai.signals.map((s) => s?.aborted)).toEqual([true, true]);
    // ...so the retry never ran beside the first call.
    expect(ai.maxInFlight).toBe(1);
  });

  it("is rejected by the fake binding exactly where Workers AI rejects input", async () => {
    const ai = createFakeAi();
    const run = (inputs: unknown) => ai.run(MODEL, inputs as { text: string[] });
    for (const inputs of [{ text: texts(101) }, { text: [] }, { text: ["ok", 3] }, { prompt: "x" }]) {
      const err = mapWorkersAiError(await run(inputs).catch((e: unknown) => e));
      expect(err.code).toBe("bad_request");
      expect(err.retryable).toBe(false);
    }
    await expect(run({ text: texts(100) })).resolves.toMatchObject({ shape: [100, 768] });
  });
});

describe("mapWorkersAiError", () => {
  const named = (message: string) => Object.assign(new Error(message), { name: "InferenceUpstreamError" });

  it.each<[string, unknown, string, boolean]>([
    [
      "capacity (3040)",
      named("3040: Capacity temporarily exceeded, please try again."),
      "rate_limited",
      true,
    ],
    [
      "daily allocation (3036)",
      named("3036: You have used up your daily free allocation"),
      "rate_limited",
      true,
    ],
    ["HTTP 429", Object.assign(new Error("Too Many Requests"), { status: 429 }), "rate_limited", true],
    ["request timeout (3007)", named("3007: Request timeout"), "timeout", true],
    ["input validation (5006)", named("5006: Input validation error: bad"), "bad_request", false],
    ["invalid input (3010)", named("3010: Invalid or incomplete input for the model"), "bad_request", false],
    ["no such model (5007)", named("5007: No such model @cf/x or task"), "upstream_failed", false],
    ["HTTP 503", Object.assign(new Error("Service Unavailable"), { status: 503 }), "upstream_failed", true],
    ["unknown internal error", named("3043: Internal server error"), "upstream_failed", true],
    ["a thrown string", "socket hang up", "upstream_failed", true],
  ])("maps %s", (_, thrown, code, retryable) => {
    const err = mapWorkersAiError(thrown);
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
  });

  it("passes our own errors through unchanged", () => {
    const own = new AppError("timeout", "slow", { retryable: true });
    expect(mapWorkersAiError(own)).toBe(own);
  });
});
