// Picks the embedder for the configured backend: Workers AI in production, the local embedder
// offline. Both report the configured model's id and dimensions, so indexes and caches line up.
import { AppError } from "../errors";
import { ownValue } from "../util/lookup";
import { EMBEDDING_MODELS, type Embedder } from "./embedder";
import { LocalEmbedder } from "./local";
import { type Pooling, WorkersAiEmbedder } from "./workers-ai";

export interface CreateEmbedderOptions {
  backend: "cloudflare" | "local";
  ai: Ai;
  model: string;
  pooling?: Pooling;
  /** Replaces the model's query prefix (query-format.ts); "" sends queries as they are. */
  queryInstruction?: string;
}

export function createEmbedder(opts: CreateEmbedderOptions): Embedder {
  const info = ownValue(EMBEDDING_MODELS, opts.model);
  if (info === undefined) {
    throw new AppError(
      "internal",
      `Unsupported embedding model "${opts.model}"; supported: ${Object.keys(EMBEDDING_MODELS).join(", ")}`,
      { retryable: false },
    );
  }
  if (opts.backend === "local") {
    return new LocalEmbedder({
      model: opts.model,
      dimensions: info.dimensions,
      maxInputTokens: info.maxInputTokens,
    });
  }
  return new WorkersAiEmbedder({
    ai: opts.ai,
    model: opts.model,
    pooling: opts.pooling ?? "cls",
    queryInstruction: opts.queryInstruction,
  });
}
