// Chooses the VectorIndex for the configured backend: Vectorize in production, the local index
// object in local mode. Both are built per request; neither holds connections.

import type { LocalVectorIndex } from "../../workers/objects/local-vector-index";
import { AppError } from "../errors";
import { LocalVectorIndexClient } from "./local";
import type { VectorIndex } from "./vector-index";
import { VectorizeAdapter } from "./vectorize";

export interface CreateVectorIndexOptions {
  backend: "cloudflare" | "local";
  /**
   * The Vectorize binding. `wrangler types` declares it as the legacy VectorizeIndex; a V2 index's
   * binding is the current `Vectorize` interface, which is what the adapter needs.
   */
  vectorize: Vectorize | VectorizeIndex;
  localIndex: DurableObjectNamespace<LocalVectorIndex>;
  /** Names the local index object; ignored by Vectorize, whose binding is already one index. */
  indexName: string;
}

export function createVectorIndex(opts: CreateVectorIndexOptions): VectorIndex {
  if (opts.backend === "local") return new LocalVectorIndexClient(opts.localIndex, opts.indexName);
  const binding = opts.vectorize;
  // The V2 API (mutation ids, queryById) is what the versioning flow depends on; this check also
  // narrows the generated legacy type without a cast.
  if (!("queryById" in binding)) {
    throw new AppError("internal", "the Vectorize binding does not expose the V2 API (queryById)", {
      retryable: false,
    });
  }
  return new VectorizeAdapter(binding);
}
