// Builds the adapters behind the service's interfaces from the bindings, once per request (or
// per queue batch). The one place that knows which backend (Cloudflare or local) is in use.
import { type CacheApiLayer, cacheApiLayer } from "../src/cache/cache-api";
import { CachingEmbedder, namespaceEmbedder } from "../src/cache/embedding-cache";
import type { Config } from "../src/config";
import { createEmbedder } from "../src/embed/create";
import type { Embedder } from "../src/embed/embedder";
import { queryInstructionFor } from "../src/embed/query-format";
import { AppError } from "../src/errors";
import { searchIdKey } from "../src/experiments/search-id";
import type { ExperimentDeps } from "../src/experiments/serve";
import { watcherClaims } from "../src/ingest/bucket-watch";
import type { Converter } from "../src/ingest/convert/converter";
import { createConverter } from "../src/ingest/convert/create";
import { withLocalNotifications } from "../src/ingest/local-notifications";
import { DOCUMENTS_NOTIFICATION_RULE } from "../src/ingest/notification-rule";
import { invocationDataset } from "../src/observe/analytics-limits";
import type { Logger } from "../src/observe/logger";
import { Meter } from "../src/observe/meter";
import { meteredCache, meteredKv, meteredQueue, meteredR2 } from "../src/observe/metered";
import {
  meteredConverter,
  meteredEmbedder,
  meteredIndex,
  meteredReranker,
} from "../src/observe/metered-adapters";
import { meteredD1 } from "../src/observe/metered-d1";
import { AnalyticsEngineMetrics, type Metrics, withCounters } from "../src/observe/metrics";
import { createReranker } from "../src/rerank/create";
import type { Reranker } from "../src/rerank/reranker";
import { BREAKER_SETTINGS, type BreakerBackend, isolateBreakers } from "../src/resilience/breaker";
import { FaultInjector, type FaultPlan } from "../src/resilience/faults";
import { type GuardContext, guarded } from "../src/resilience/guard";
import { Deadline } from "../src/resilience/retry";
import type { AnswerSearchDeps } from "../src/search/answer";
import { cursorKey } from "../src/search/cursor";
import type { SearchSettings } from "../src/search/search";
import { monotonicClock } from "../src/search/timer";
import { storagePolicy } from "../src/shards/databases";
import { shardPolicy, withPlacement } from "../src/shards/policy";
import type { D1Like } from "../src/store/d1";
import { DocumentStore } from "../src/store/documents";
import { kvWriteLimitErrors, strictKv } from "../src/store/kv-limits";
import { CONTROL_DATABASE, DatabasePool, d1Bindings, type Placement } from "../src/store/pool";
import { createVectorIndex } from "../src/vectors/create";
import type { VectorIndex } from "../src/vectors/vector-index";
import { CoordinatorClient } from "../src/versions/coordinator";
import { defaultVersion, type VersionSpec } from "../src/versions/model";
import { readActiveVersion, readPointer, rememberPointer } from "../src/versions/pointer";
import type { VersionServices } from "../src/versions/services";
import type { WorkerEnv } from "./env";

export interface Services {
  embedder: Embedder;
  /** Runs on Workers AI (or the local stand-in), behind the same breaker and retries. */
  reranker: Reranker;
  /** PDF, Office and image documents to Markdown: Workers AI toMarkdown, or the local converter. */
  converter: Converter;
  index: VectorIndex;
  /** Documents and chunks, each namespace's in its own database of the pool. */
  store: DocumentStore;
  /** The control database (DB): keys, jobs, dead letters, metrics, health, the ingest ledger. */
  db: D1Database;
  /** The pool of data databases: a namespace's database, for statements outside the store. */
  pool: DatabasePool;
  /**
   * What a search reads D1 through (keyword retrieval, hydration): a session of the namespace's
   * database, so one with read replication answers from the nearest replica; the database itself
   * on other paths.
   */
  reads: { data: (namespace: string) => D1Like; store: DocumentStore };
  blobs: R2Bucket;
  /** Backup manifests and parts: a bucket of their own, without event notifications. */
  backups: R2Bucket;
  kv: KVNamespace;
  /** The result cache's Cache API layer (per location); inactive on *.workers.dev. */
  cacheApi: CacheApiLayer;
  queue: Queue;
  metrics: Metrics;
  logger: Logger;
  config: Config;
  /** Work to finish after the response (ctx.waitUntil). */
  defer: (work: Promise<unknown>) => void;
  /** Breakers, retries and faults for calls made outside the adapters above. */
  guard: GuardContext;
  /** Index versions: the coordinator, and each version's embedder and index. */
  versions: VersionServices;
  /** What this request or queue batch has cost so far; the bindings above count into it. */
  meter: Meter;
}

export interface ServiceOptions {
  /** Runs work after the response (ctx.waitUntil). */
  defer: (work: Promise<unknown>) => void;
  /** "search": short deadline, quick retries; "ingest": patient retries, no deadline. */
  path: "search" | "ingest";
  /** Faults to inject (test/dev configurations only). */
  faults?: FaultPlan | null;
  /** The request's URL; its host decides whether the Cache API layer works (none: background work). */
  requestUrl?: string;
  /** Counts the bindings' calls (observe/metered*.ts); a new one when not given. */
  meter?: Meter;
}

/** The breaker objects, one per dependency, reached only through waitUntil work. */
function breakerBackend(env: WorkerEnv, config: Config): BreakerBackend {
  const stub = (name: string) => env.BREAKER.get(env.BREAKER.idFromName(name));
  const settings = { ...BREAKER_SETTINGS, coolDownMs: config.breakerCoolDownMs };
  return {
    report: (name, counts) => stub(name).report(name, counts, settings),
    snapshot: (name) => stub(name).snapshot(name, settings),
  };
}

export function guardContext(env: WorkerEnv, config: Config, options: ServiceOptions): GuardContext {
  const plan = options.faults ?? config.faults;
  return {
    breakers: isolateBreakers,
    backend: breakerBackend(env, config),
    defer: options.defer,
    faults: config.faultInjection && plan ? new FaultInjector(plan) : null,
    retry:
      options.path === "search"
        ? {
            attempts: 2,
            baseDelayMs: 25,
            maxDelayMs: 200,
            timeoutMs: 2000,
            deadline: new Deadline(config.searchDeadlineMs),
          }
        : { attempts: 3, baseDelayMs: 200, maxDelayMs: 2000, timeoutMs: 30_000 },
  };
}

export function buildServices(
  env: WorkerEnv,
  config: Config,
  logger: Logger,
  options: ServiceOptions,
): Services {
  const guard = guardContext(env, config, options);
  const defer = options.defer;
  const meter = options.meter ?? new Meter();
  const db = meteredD1(env.DB, meter);
  // Locally, KV refuses a second write to a key within a second as Workers KV does (kv-limits.ts).
  const kvBinding =
    config.backend === "local" ? strictKv(meteredKv(env.KV, meter)) : meteredKv(env.KV, meter);
  const kv = guarded(kvWriteLimitErrors(kvBinding), "kv", guard, ["get", "put", "delete", "list"]);
  const makeEmbedder = (model: string, pooling: VersionSpec["pooling"]): Embedder => {
    const raw = guarded(
      meteredEmbedder(
        createEmbedder({
          backend: config.backend,
          ai: env.AI,
          model,
          pooling,
          queryInstruction: config.embeddingQueryInstruction,
        }),
        meter,
        queryInstructionFor(model, config.embeddingQueryInstruction),
      ),
      "workers-ai",
      guard,
      ["embed"],
    );
    // Query embeddings go through the KV cache; the variant keeps settings that change vectors
    // apart: pooling and the query prefix change the vectors a model gives. Workers AI is asked
    // only on a cache miss; the local embedder, cheaper than a KV read, first.
    return new CachingEmbedder(
      raw,
      kv,
      config.embeddingCacheTtlSeconds,
      logger,
      `${pooling}:${queryInstructionFor(model, config.embeddingQueryInstruction)}`,
      defer,
      config.embeddingCacheWaitMs,
      config.backend === "local" ? "model-first" : "cache-first",
    );
  };
  const makeIndex = (indexName: string): VectorIndex => {
    let vectorize: WorkerEnv["VECTORIZE"] = env.VECTORIZE;
    if (config.backend === "cloudflare" && indexName !== config.vectorizeIndexName) {
      const bindingName = config.vectorizeIndexes.get(indexName);
      const binding =
        bindingName === undefined ? undefined : (env as unknown as Record<string, unknown>)[bindingName];
      if (!binding || typeof binding !== "object") {
        throw new AppError(
          "unavailable",
          `no Vectorize binding for index "${indexName}": bind it in wrangler.toml and list it in VECTORIZE_INDEXES`,
          { retryable: false },
        );
      }
      vectorize = binding as Vectorize;
    }
    return guarded(
      meteredIndex(
        createVectorIndex({ backend: config.backend, vectorize, localIndex: env.LOCAL_INDEX, indexName }),
        meter,
      ),
      "vectorize",
      guard,
    );
  };
  const defaults = defaultVersion(config);
  // A namespace's coordinator asks the shard map for its index and database with this, once, on
  // first use.
  const placedDefaults = withPlacement(defaults, shardPolicy(config, defaults), storagePolicy(config));
  const embedder = makeEmbedder(config.embeddingModel, config.embeddingPooling);
  const index = makeIndex(config.vectorizeIndexName);
  const embedders = new Map<string, Embedder>([[`${defaults.model}:${defaults.pooling}`, embedder]]);
  const indexes = new Map<string, VectorIndex>([[defaults.index, index]]);
  const versions: VersionServices = {
    defaults,
    coordinator: (namespace) =>
      new CoordinatorClient(env.COORDINATOR, namespace, placedDefaults, (pointer) =>
        rememberPointer(namespace, pointer, config.versionCacheTtlMs),
      ),
    active: (namespace) => readActiveVersion(kv, namespace, config.versionCacheTtlMs, defaults, logger),
    pointer: (namespace) => readPointer(kv, namespace, config.versionCacheTtlMs, logger),
    embedder: (spec) => {
      const key = `${spec.model}:${spec.pooling}`;
      const known = embedders.get(key);
      if (known) return known;
      const made = makeEmbedder(spec.model, spec.pooling);
      embedders.set(key, made);
      return made;
    },
    index: (spec) => {
      const known = indexes.get(spec.index);
      if (known) return known;
      const made = makeIndex(spec.index);
      indexes.set(spec.index, made);
      return made;
    },
  };
  const reranker = guarded(
    meteredReranker(
      createReranker({ backend: config.backend, ai: env.AI, model: config.rerankModel }),
      meter,
    ),
    "workers-ai",
    guard,
    ["rerank"],
  );
  const pool = dataPool(env, config, options, { kv, logger, versions, meter });
  const store = guarded(
    new DocumentStore({ reads: (ns) => pool.reads(ns), writes: (ns) => pool.writes(ns) }),
    "d1",
    guard,
  );
  const session = options.path === "search";
  const reads = session
    ? {
        data: (ns: string) => pool.reads(ns, true),
        store: guarded(
          new DocumentStore({ reads: (ns) => pool.reads(ns, true), writes: (ns) => pool.writes(ns) }),
          "d1",
          guard,
        ),
      }
    : { data: (ns: string) => pool.reads(ns), store };
  return {
    embedder,
    reranker,
    converter: guardedConverter(
      createConverter(config.backend, env.AI),
      meter,
      guard,
      config.ingestDocumentBudgetMs,
    ),
    index,
    store,
    db,
    pool,
    reads,
    blobs: documentsBucket(
      env,
      config,
      guarded(meteredR2(env.DOCUMENTS, meter), "r2", guard, ["get", "put", "head", "delete", "list"]),
    ),
    backups: guarded(meteredR2(env.BACKUPS, meter), "r2", guard, ["get", "put", "head", "delete", "list"]),
    kv,
    guard,
    cacheApi: cacheApiLayer(
      options.requestUrl ?? null,
      typeof caches === "undefined" ? null : meteredCache(caches.default, meter),
    ),
    queue: meteredQueue(env.INGEST_QUEUE, meter),
    metrics: withCounters(new AnalyticsEngineMetrics(invocationDataset(env)), meter),
    logger,
    config,
    defer,
    versions,
    meter,
  };
}

/**
 * The pool of data databases, each namespace located by its published pointer (the isolate's
 * cache, then KV). Without one, a read goes to DB (a namespace never written, or one from before
 * the pool); a write, and anything the ingest path does, asks the namespace's coordinator, which
 * places a new namespace first (and its answer fills the cache).
 */
function dataPool(
  env: WorkerEnv,
  config: Config,
  options: ServiceOptions,
  deps: { kv: KVNamespace; logger: Logger; versions: VersionServices; meter: Meter },
): DatabasePool {
  const { kv, logger, versions } = deps;
  const locate = async (namespace: string, purpose: "read" | "write"): Promise<Placement> => {
    const pointer = await readPointer(kv, namespace, config.versionCacheTtlMs, logger);
    const placed =
      pointer ??
      (purpose === "write" || options.path === "ingest"
        ? await versions.coordinator(namespace).writeTargets()
        : null);
    return { database: placed?.database ?? CONTROL_DATABASE, moving: placed?.moving ?? null };
  };
  // Each member's calls are counted like DB's (observe/metered-d1.ts).
  const databases = new Map(
    [...d1Bindings(env, config.d1.databases)].map(([name, db]) => [name, meteredD1(db, deps.meter)] as const),
  );
  return new DatabasePool({ databases, locate });
}

/**
 * The documents bucket; offline with R2_NOTIFICATIONS on, with the stand-in for R2's event
 * notifications (Miniflare has none). Never with BACKEND=cloudflare, where R2 sends them.
 */
function documentsBucket(env: WorkerEnv, config: Config, bucket: R2Bucket): R2Bucket {
  if (config.backend !== "local" || !config.r2Notifications) return bucket;
  return withLocalNotifications(bucket, {
    bucketName: config.documentsBucketName,
    rule: DOCUMENTS_NOTIFICATION_RULE,
    queue: env.INGEST_QUEUE,
    // Recorded for the bucket watcher, which announces the writes made beside the Worker.
    claims: watcherClaims(env.BUCKET_WATCHER),
  });
}

/**
 * The document converter as the ingest calls it: each call counted as an AI call, and behind the
 * workers-ai breaker as embeddings are (an open breaker fails the call as retryable: the message
 * is retried later, the document not failed). One attempt per call, bounded by the document's
 * budget only: toMarkdown takes no abort signal, so a retry in place would run beside a call still
 * converting (and billed), and a large document may take longer than an embedding call's timeout;
 * the queue retries the message with backoff instead.
 */
export function guardedConverter(
  converter: Converter,
  meter: Meter,
  guard: GuardContext,
  budgetMs: number,
): Converter {
  const once = { ...guard, retry: { ...guard.retry, attempts: 1, timeoutMs: budgetMs } };
  return guarded(meteredConverter(converter, meter), "workers-ai", once, ["toMarkdown"]);
}

/** What the search use case reads, from the request's services. */
export function searchDeps(services: Services): AnswerSearchDeps {
  const { config, logger } = services;
  return {
    activeVersion: (namespace) => services.versions.active(namespace),
    versionDeps: (namespace, version) => ({
      embedder: namespaceEmbedder(services.versions.embedder(version), namespace),
      index: services.versions.index(version),
      db: services.reads.data(namespace),
      store: services.reads.store,
      reranker: services.reranker,
      guard: services.guard,
      logger,
    }),
    cache: {
      kv: services.kv,
      cacheApi: services.cacheApi,
      settings: {
        resultTtlMs: config.resultCacheTtlMs,
        lruBytes: config.resultCacheLruBytes,
        generationTtlMs: config.generationCacheTtlMs,
        settleMs: config.resultCacheSettleMs,
      },
      logger,
      defer: services.defer,
    },
    settings: searchSettings(config),
    clock: monotonicClock,
    cursorKey: () => cursorKey(config.adminApiKey),
  };
}

/** What a search inside an experiment needs besides the search itself (src/experiments/serve.ts). */
export function experimentDeps(services: Services): ExperimentDeps {
  return {
    pointer: (namespace) => services.versions.pointer(namespace),
    db: services.db,
    defer: services.defer,
    searchIdKey: () => searchIdKey(services.config.adminApiKey),
    logger: services.logger,
    clock: monotonicClock,
  };
}

function searchSettings(config: Config): SearchSettings {
  return {
    rrfK: config.hybridRrfK,
    vectorWeight: config.hybridVectorWeight,
    keywordWeight: config.hybridKeywordWeight,
    rerankCandidates: config.rerankCandidates,
    titleWeight: config.keywordTitleWeight,
  };
}
