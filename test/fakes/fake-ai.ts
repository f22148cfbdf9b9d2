// A stand-in for the Workers AI binding in tests: it enforces the bge embedding models' real input
// contract, answers with deterministic vectors in Workers AI's {shape, data} form, records every
// call, and can be told to fail the next calls the ways the real service fails.

import { EMBEDDING_MODELS, MAX_EMBED_BATCH } from "../../src/embed/embedder";
import { hang, inputError, upstreamError } from "./ai-errors";

export type FakeAiFailure =
  /** 429, code 3040, as Workers AI answers when a model is out of capacity. */
  | "rate_limited"
  /** A 5xx from the inference backend. */
  | "server_error"
  /** A 400 input validation error (code 5006). */
  | "input_error"
  /** A network failure between the Worker and the binding. */
  | "network"
  /** Never answers (until the caller aborts). */
  | "hang"
  /** Answers, but with shape[0] different from the number of texts. */
  | "wrong_count"
  /** Answers with vectors of the wrong dimensionality. */
  | "wrong_dims"
  /** Answers with a NaN inside a vector. */
  | "nan"
  /** Answers without the data field. */
  | "missing_data";

export interface FakeAiCall {
  model: string;
  text: string[];
  pooling: "cls" | "mean" | undefined;
}

export interface FakeAiOptions {
  /** Delay before each answer (or per call, by its index), to observe concurrency and ordering. */
  latencyMs?: number | ((call: number) => number);
  /** Length of the returned vectors; bge returns unit vectors (1), other values test normalization. */
  norm?: number;
}

export interface FakeAiControls {
  readonly calls: FakeAiCall[];
  /** The abort signal each call was given (by call), to see whether the caller cancelled it. */
  readonly signals: (AbortSignal | undefined)[];
  /** Most calls that were running at the same time. */
  readonly maxInFlight: number;
  /** The next `count` calls fail with `kind`, after which calls succeed again. */
  failNext(count: number, kind: FakeAiFailure): void;
}

/** The vector the fake returns for `text`, before scaling to `norm`: hash-seeded, unit length. */
export function fakeVector(model: string, pooling: string, text: string, dimensions: number): Float32Array {
  let state = fnv1a(`${model}|${pooling}|${text}`) || 1;
  const out = new Float32Array(dimensions);
  let sum = 0;
  for (let i = 0; i < dimensions; i++) {
    // xorshift32: cheap, deterministic, good enough to make distinct texts' vectors distinct.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const value = (state >>> 0) / 0xffffffff - 0.5;
    out[i] = value;
    sum += value * value;
  }
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < dimensions; i++) out[i] = (out[i] ?? 0) * scale;
  return out;
}

export function createFakeAi(options: FakeAiOptions = {}): Ai & FakeAiControls {
  const calls: FakeAiCall[] = [];
  const signals: (AbortSignal | undefined)[] = [];
  const failures: FakeAiFailure[] = [];
  let inFlight = 0;
  let maxInFlight = 0;

  const run = async (
    model: string,
    inputs: unknown,
    runOptions?: { signal?: AbortSignal },
  ): Promise<unknown> => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const info = EMBEDDING_MODELS[model];
      if (info === undefined) throw upstreamError(5007, `No such model ${model} or task`);
      const { text, pooling } = validateInput(inputs);
      const callIndex = calls.push({ model, text, pooling }) - 1;
      signals.push(runOptions?.signal);
      const failure = failures.shift();
      const latency =
        typeof options.latencyMs === "function" ? options.latencyMs(callIndex) : options.latencyMs;
      if (latency !== undefined) await sleep(latency);
      if (failure === "hang") return await hang(runOptions?.signal);
      const poolingUsed = pooling ?? "mean";
      const norm = options.norm ?? 1;
      const data = text.map((t) =>
        Array.from(fakeVector(model, poolingUsed, t, info.dimensions), (v) => v * norm),
      );
      switch (failure) {
        case "rate_limited":
          throw upstreamError(3040, "Capacity temporarily exceeded, please try again.");
        case "server_error":
          throw upstreamError(3043, "Internal server error");
        case "input_error":
          throw upstreamError(5006, "Input validation error: Type mismatch of '/text'");
        case "network":
          throw new Error("Network connection lost.");
        case "wrong_count":
          return { shape: [text.length - 1, info.dimensions], data: data.slice(1), pooling: poolingUsed };
        case "wrong_dims":
          return {
            shape: [text.length, 384],
            data: data.map((row) => row.slice(0, 384)),
            pooling: poolingUsed,
          };
        case "nan":
          data[0]?.splice(0, 1, Number.NaN);
          return { shape: [text.length, info.dimensions], data, pooling: poolingUsed };
        case "missing_data":
          return { shape: [text.length, info.dimensions], pooling: poolingUsed };
        default:
          return { shape: [text.length, info.dimensions], data, pooling: poolingUsed };
      }
    } finally {
      inFlight--;
    }
  };

  const fake = {
    run,
    calls,
    signals,
    get maxInFlight() {
      return maxInFlight;
    },
    failNext(count: number, kind: FakeAiFailure) {
      for (let i = 0; i < count; i++) failures.push(kind);
    },
  };
  // The one place the fake poses as the binding: it implements run(), which is all we call.
  return fake as unknown as Ai & FakeAiControls;
}

// What the bge models accept: {text: string | string[], pooling?: "mean" | "cls"}, 1..100 texts.
function validateInput(inputs: unknown): { text: string[]; pooling: "cls" | "mean" | undefined } {
  if (typeof inputs !== "object" || inputs === null)
    throw inputError("Type mismatch of '/', 'object' expected");
  const { text, pooling } = inputs as { text?: unknown; pooling?: unknown };
  if (pooling !== undefined && pooling !== "cls" && pooling !== "mean") {
    throw inputError("Value of '/pooling' must be one of 'mean', 'cls'");
  }
  if (typeof text === "string") return { text: [text], pooling };
  if (!Array.isArray(text)) throw inputError("Required properties missing: 'text'");
  if (text.length === 0) throw inputError("Length of '/text' must be >= 1");
  if (text.length > MAX_EMBED_BATCH) throw inputError(`Length of '/text' must be <= ${MAX_EMBED_BATCH}`);
  const strings: string[] = [];
  for (const [i, t] of text.entries()) {
    if (typeof t !== "string") throw inputError(`Type mismatch of '/text/${i}', 'string' expected`);
    strings.push(t);
  }
  return { text: strings, pooling };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
