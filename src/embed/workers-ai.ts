// Workers AI embedding adapter: splits texts into batches the bge models accept, validates what
// comes back, maps binding failures onto AppError codes and returns unit-length vectors.
import { z } from "zod";
import { AppError, errorMessage } from "../errors";
import { withAttemptSignal } from "../resilience/attempt";
import { ownValue } from "../util/lookup";
import { EMBEDDING_MODELS, type Embedder, type EmbedKind, MAX_EMBED_BATCH } from "./embedder";
import { queryInstructionFor } from "./query-format";

export { BGE_QUERY_INSTRUCTION } from "./query-format";

/**
 * cls and mean pooling produce vectors in different spaces: a query embedded with one pooling
 * cannot be compared with documents embedded with the other, so an index version fixes one and
 * every call of an embedder uses it.
 */
export type Pooling = "cls" | "mean";

export interface WorkersAiEmbedderOptions {
  ai: Ai;
  model: string;
  /** Default "cls", which BAAI trained the models with and Cloudflare recommends. */
  pooling?: Pooling;
  /** Per batch call; a call still running after this fails with a retryable timeout. */
  timeoutMs?: number;
  /** Batches in flight at once for one embed() call. */
  concurrency?: number;
  /** Prepended to "query" texts; "" embeds queries as they are. Default: the model's (query-format.ts). */
  queryInstruction?: string;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_CONCURRENCY = 4;

// zod 4's number() already refuses NaN and +-Infinity, so this also checks every value is finite.
const responseSchema = z.object({
  shape: z.tuple([z.number().int(), z.number().int()]),
  data: z.array(z.array(z.number())),
});

// Workers AI internal error codes (developers.cloudflare.com/workers-ai/platform/errors).
const RATE_LIMIT_CODES = new Set([3036, 3040]);
const TIMEOUT_CODES = new Set([3007, 3008]);
const INPUT_CODES = new Set([3003, 3006, 3010, 5004, 5006]);
// Account or model configuration problems: not the caller's fault, and retrying will not help.
const CONFIG_CODES = new Set([3023, 3039, 3041, 3042, 5005, 5007, 5016, 5018, 5019]);

export class WorkersAiEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions: number;
  readonly maxInputTokens: number;
  readonly pooling: Pooling;
  private readonly ai: Ai;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly queryInstruction: string;

  constructor(options: WorkersAiEmbedderOptions) {
    const info = ownValue(EMBEDDING_MODELS, options.model);
    if (info === undefined) {
      throw new AppError(
        "internal",
        `Unsupported embedding model "${options.model}"; supported: ${Object.keys(EMBEDDING_MODELS).join(", ")}`,
        { retryable: false },
      );
    }
    this.ai = options.ai;
    this.model = options.model;
    this.dimensions = info.dimensions;
    this.maxInputTokens = info.maxInputTokens;
    this.pooling = options.pooling ?? "cls";
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
    this.queryInstruction = queryInstructionFor(options.model, options.queryInstruction);
  }

  async embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]> {
    const inputs =
      kind === "query" && this.queryInstruction !== "" ? texts.map((t) => this.queryInstruction + t) : texts;
    const batches: string[][] = [];
    for (let i = 0; i < inputs.length; i += MAX_EMBED_BATCH)
      batches.push(inputs.slice(i, i + MAX_EMBED_BATCH));

    const results: Float32Array[][] = new Array(batches.length);
    let next = 0;
    let failed = false;
    // A small pool rather than Promise.all over every batch: a large document should not
    // monopolise the account's concurrent-request allowance. After a failure the whole call
    // fails, so no further batches are started.
    const worker = async (): Promise<void> => {
      while (!failed && next < batches.length) {
        const index = next++;
        const batch = batches[index];
        if (batch === undefined) continue;
        try {
          results[index] = await this.embedBatch(batch);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, batches.length) }, worker));
    return results.flat();
  }

  private async embedBatch(texts: string[]): Promise<Float32Array[]> {
    const raw = await runModel(
      this.ai,
      this.model,
      { text: texts, pooling: this.pooling },
      this.timeoutMs,
      "Workers AI",
    );
    return this.parse(raw, texts.length);
  }

  private parse(raw: unknown, expected: number): Float32Array[] {
    const parsed = responseSchema.safeParse(raw);
    if (!parsed.success) {
      throw malformed(
        `response does not match {shape, data}: ${parsed.error.issues[0]?.message ?? "invalid"}`,
      );
    }
    const { shape, data } = parsed.data;
    if (shape[0] !== expected || data.length !== expected) {
      throw malformed(`expected ${expected} vectors, got shape ${shape[0]} and ${data.length} rows`);
    }
    if (shape[1] !== this.dimensions) {
      throw malformed(`expected ${this.dimensions} dimensions, got ${shape[1]}`);
    }
    return data.map((row, i) => {
      if (row.length !== this.dimensions) throw malformed(`row ${i} has ${row.length} values`);
      return normalize(row, i);
    });
  }
}

/**
 * Runs a model with a timeout; failures come back as AppErrors (mapWorkersAiError).
 *
 * What the timeout does: the binding forwards `options.signal` to the fetch() it makes to the
 * inference service (cloudflare/workerd src/cloudflare/internal/ai-api.ts, lines 187-188 at
 * 6552d999: `if (this.#options.signal) fetchOptions.signal = this.#options.signal;`, then
 * `this.#fetcher.fetch(endpointUrl, fetchOptions)`; since workerd v1.20260331, commit 7bf83794
 * "Support AbortSignal in AI binding"). So at `timeoutMs`, or when the guarded attempt this call
 * runs in times out or the request's deadline passes (resilience/attempt.ts), the caller stops
 * waiting and the subrequest to the binding is cancelled: its connection is not held until the
 * model answers, and a retry never runs beside it.
 * What it does not do: nothing documents that cancelling the subrequest stops an inference the
 * service already started, or that it is not billed; count a timed-out call as work done (and
 * neurons spent), and a retry after it as a second call.
 */
export async function runModel(
  ai: Ai,
  model: string,
  inputs: Record<string, unknown>,
  timeoutMs: number,
  label: string,
): Promise<unknown> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new AppError("timeout", `${label} did not answer within ${timeoutMs} ms`, { retryable: true }));
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      ai.run(model, inputs, { signal: withAttemptSignal(controller.signal) }),
      timedOut,
    ]);
  } catch (err) {
    throw mapWorkersAiError(err);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Maps whatever the AI binding threw onto our vocabulary; unknown failures stay retryable. */
export function mapWorkersAiError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const message = errorMessage(err);
  const code = internalCode(err, message);
  const status = httpStatus(err);
  const name = err instanceof Error ? err.name : "";
  const options = { cause: err, extra: code === undefined ? undefined : { upstreamCode: code } };

  if (
    (code !== undefined && RATE_LIMIT_CODES.has(code)) ||
    status === 429 ||
    /capacity temporarily exceeded|out of capacity|rate limit|too many requests/i.test(message)
  ) {
    return new AppError("rate_limited", `Workers AI rate limited: ${message}`, {
      ...options,
      retryable: true,
    });
  }
  if (
    (code !== undefined && TIMEOUT_CODES.has(code)) ||
    status === 408 ||
    name === "TimeoutError" ||
    name === "AbortError" ||
    /timed? ?out|timeout/i.test(message)
  ) {
    return new AppError("timeout", `Workers AI timed out: ${message}`, { ...options, retryable: true });
  }
  if (
    (code !== undefined && INPUT_CODES.has(code)) ||
    status === 400 ||
    status === 413 ||
    status === 422 ||
    /input validation|invalid input/i.test(message)
  ) {
    return new AppError("bad_request", `Workers AI rejected the input: ${message}`, {
      ...options,
      retryable: false,
    });
  }
  if (
    (code !== undefined && CONFIG_CODES.has(code)) ||
    (status !== undefined && status >= 401 && status < 500)
  ) {
    return new AppError("upstream_failed", `Workers AI refused the request: ${message}`, {
      ...options,
      retryable: false,
    });
  }
  return new AppError("upstream_failed", `Workers AI failed: ${message}`, { ...options, retryable: true });
}

// The binding formats failures as "<internal code>: <description>", sometimes behind a name.
function internalCode(err: unknown, message: string): number | undefined {
  if (typeof err === "object" && err !== null) {
    for (const key of ["internalCode", "code"] as const) {
      const value = (err as Record<string, unknown>)[key];
      if (typeof value === "number" && value >= 1000 && value <= 9999) return value;
    }
  }
  const match = /^\s*(?:[A-Za-z]*Error:\s*)?(\d{4})\s*:/.exec(message);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function httpStatus(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const value = (err as Record<string, unknown>).status;
  return typeof value === "number" && value >= 100 && value <= 599 ? value : undefined;
}

function malformed(detail: string): AppError {
  return new AppError("upstream_failed", `Workers AI returned a malformed embedding: ${detail}`, {
    retryable: true,
  });
}

// bge output is already normalized, but the cosine index and the cache assume unit length, so we
// make sure rather than trust it.
function normalize(row: number[], index: number): Float32Array {
  const out = Float32Array.from(row);
  let sum = 0;
  for (const v of out) sum += v * v;
  if (!(sum > 0) || !Number.isFinite(sum)) throw malformed(`row ${index} has no direction`);
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] ?? 0) * scale;
  return out;
}
