// Builds the adapters behind the service's interfaces from the bindings, once per request (or
// per queue batch). The one place that knows which backend (Cloudflare or local) is in use.
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
  queue: Queue;
  metrics: Metrics;
  logger: Logger;
  config: Config;
}

export function buildServices(env: WorkerEnv, config: Config, logger: Logger): Services {
  return {
    embedder: createEmbedder({
      backend: config.backend,
      ai: env.AI,
      model: config.embeddingModel,
      pooling: config.embeddingPooling,
    }),
    index: createVectorIndex({
      backend: config.backend,
      vectorize: env.VECTORIZE,
      localIndex: env.LOCAL_INDEX,
      indexName: config.vectorizeIndexName,
    }),
    store: new DocumentStore(env.DB),
    db: env.DB,
    blobs: env.DOCUMENTS,
    queue: env.INGEST_QUEUE,
    metrics: new AnalyticsEngineMetrics(env.METRICS),
    logger,
    config,
  };
}
