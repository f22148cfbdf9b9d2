// Chooses the VectorIndex for the configured backend: Vectorize in production, the local index
// object in local mode. Both are built per request; neither holds connections.

import { AppError } from "../errors";
import type { LocalVectorIndexRpc } from "../objects/local-vector-index";
import { LocalVectorIndexClient } from "./local";
import type { VectorIndex } from "./vector-index";
import { V1_BINDING_MESSAGE, VectorizeAdapter } from "./vectorize";

export interface CreateVectorIndexOptions {
  backend: "cloudflare" | "local";
  /**
   * The Vectorize binding. `wrangler types` declares it as the legacy VectorizeIndex; a V2 index's
   * binding is the current `Vectorize` interface, which is what the adapter needs.
   */
  vectorize: Vectorize | VectorizeIndex;
  localIndex: DurableObjectNamespace<LocalVectorIndexRpc>;
  /** Names the local index object; ignored by Vectorize, whose binding is already one index. */
  indexName: string;
}

/**
 * The Vectorize API a binding speaks, as far as it can be told without a call. workerd serves V1
 * and V2 indexes with one class (src/cloudflare/internal/vectorize-api.ts in cloudflare/workerd),
 * so both have queryById (on V1 it throws "QueryById operation is not supported for v1
 * indexes."); what differs is the version the binding was made with, kept on the object as
 * `indexVersion` ("v1" when the binding names none). "unknown" when that property is not there
 * (another runtime, a test double): the adapter's describe() still tells V1 by its reply.
 */
export function vectorizeApiVersion(binding: object): "v1" | "v2" | "unknown" {
  const version: unknown = Reflect.get(binding, "indexVersion");
  return version === "v1" || version === "v2" ? version : "unknown";
}

export function createVectorIndex(opts: CreateVectorIndexOptions): VectorIndex {
  if (opts.backend === "local") return new LocalVectorIndexClient(opts.localIndex, opts.indexName);
  const binding = opts.vectorize;
  // The V2 API (mutation ids, metadata indexes) is what the service depends on. queryById alone
  // does not tell V2 (a V1 binding has it too) but narrows the generated legacy type without a cast.
  if (vectorizeApiVersion(binding) === "v1" || !("queryById" in binding)) {
    throw new AppError("internal", V1_BINDING_MESSAGE, { retryable: false });
  }
  return new VectorizeAdapter(binding);
}
