// Picks the converter for the configured backend, as createEmbedder does.

import type { Converter } from "./converter";
import { LocalConverter } from "./local";
import { WorkersAiConverter } from "./workers-ai";

export function createConverter(backend: "cloudflare" | "local", ai: Ai): Converter {
  return backend === "local" ? new LocalConverter() : new WorkersAiConverter(ai);
}
