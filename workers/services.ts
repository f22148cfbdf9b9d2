// Builds the adapters behind the service's interfaces from the bindings, once per request (or
// per queue batch). The one place that knows which backend (Cloudflare or local) is in use.
import { CachingEmbedder } from "../src/cache/embedding-cache";
import type { Config } from "../src/config";
import { createEmbedder } from "../src/embed/create";
import type { Embedder } from "../src/embed/embedder";
import type { Logger } from "../src/observe/logger";
import { AnalyticsEngineMetrics, type Metrics } from "../src/observe/metrics";
import { DocumentStore } from "../src/store/documents";
import { createVectorIndex } from "../src/vectors/create";
import type { VectorIndex } from "../src/vectors/vector-index";
import type { WorkerEnv } from "./env";

export interface Services {
  embedder: Embedder;
  index: VectorIndex;
  store: DocumentStore;
  db: D1Database;
  blobs: R2Bucket;
  kv: KVNamespace;
  /** The Cache API (per location), or null where the runtime has none. */
  resultCache: Cache | null;
  queue: Queue;
  metrics: Metrics;
  logger: Logger;
  config: Config;
  /** Work to finish after the response (ctx.waitUntil), or awaited in place. */
  defer: (work: Promise<unknown>) => void;
}

/**
 * `defer` runs work after the response (ctx.waitUntil); without it (queue batches, tests) that
 * work is awaited in place.
 */
export function buildServices(
  env: WorkerEnv,
  config: Config,
  logger: Logger,
  defer?: (work: Promise<unknown>) => void,
): Services {
  const model = createEmbedder({
    backend: config.backend,
    ai: env.AI,
    model: config.embeddingModel,
    pooling: config.embeddingPooling,
  });
  return {
    // Query embeddings go through the KV cache; the variant keeps settings that change vectors apart.
    embedder: new CachingEmbedder(
      model,
      env.KV,
      config.embeddingCacheTtlSeconds,
      logger,
      config.embeddingPooling,
      defer,
    ),
    index: createVectorIndex({
      backend: config.backend,
      vectorize: env.VECTORIZE,
      localIndex: env.LOCAL_INDEX,
      indexName: config.vectorizeIndexName,
    }),
    store: new DocumentStore(env.DB),
    db: env.DB,
    blobs: env.DOCUMENTS,
    kv: env.KV,
    resultCache: typeof caches === "undefined" ? null : caches.default,
    queue: env.INGEST_QUEUE,
    metrics: new AnalyticsEngineMetrics(env.METRICS),
    logger,
    config,
    defer: defer ?? ((work) => void work.catch(() => undefined)),
  };
}
