// Picks the reranker for the configured backend: Workers AI in production, the lexical stand-in
// offline. Both report the configured model's id.
import { LocalReranker } from "./local";
import type { Reranker } from "./reranker";
import { WorkersAiReranker } from "./workers-ai";

export interface CreateRerankerOptions {
  backend: "cloudflare" | "local";
  ai: Ai;
  model: string;
}

export function createReranker(opts: CreateRerankerOptions): Reranker {
  if (opts.backend === "local") return new LocalReranker({ model: opts.model });
  return new WorkersAiReranker({ ai: opts.ai, model: opts.model });
}
