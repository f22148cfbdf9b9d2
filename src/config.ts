// The service's configuration: a zod schema over the Worker's env vars, parsed once per
// isolate per env object. A bad environment is one clear error, not a crash deep inside.
import { z } from "zod";
import { type AccessIdentityRule, AccessIdentityRulesSchema } from "./auth/access-identities";
import { normalizeTeamDomain } from "./auth/access-jwt";
import { DEFAULT_EMBEDDING_MODEL, EMBEDDING_MODELS } from "./embed/embedder";
import { AppError, errorMessage } from "./errors";
import type { ParseLimits } from "./ingest/limits";
import { RERANK_MODELS, type RerankModel } from "./rerank/reranker";
import { type FaultPlan, parseFaultPlan } from "./resilience/faults";
import { LOCAL_VECTOR_WEIGHT } from "./search/fusion";
import { D1_LIMITS } from "./store/d1-limits";
import { DEFAULT_TITLE_WEIGHT } from "./store/keyword-rank";
import { isD1 } from "./store/pool";
import { VECTORIZE_LIMITS } from "./vectors/vector-index";

const intVar = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const boolVar = z
  .enum(["true", "false", "1", "0", ""])
  .transform((v) => v === "true" || v === "1")
  .default(false);
const listVar = z
  .string()
  .default("")
  .transform((v) =>
    v
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

// An unset or empty weight takes the backend's default; "0" switches the leg off.
const optionalWeight = z.preprocess(
  (v) => (v === "" ? undefined : v),
  z.coerce.number().min(0).max(100).optional(),
);

const ConfigSchema = z
  .object({
    BACKEND: z.enum(["cloudflare", "local"]).default("cloudflare"),
    EMBEDDING_MODEL: z
      .string()
      .refine((m) => Object.hasOwn(EMBEDDING_MODELS, m), {
        message: `must be one of ${Object.keys(EMBEDDING_MODELS).join(", ")}`,
      })
      .default(DEFAULT_EMBEDDING_MODEL),
    EMBEDDING_POOLING: z.enum(["cls", "mean"]).default("cls"),
    VECTORIZE_INDEX_NAME: z.string().min(1).max(64).default("edgesearch-bge-base-768"),
    FILTERABLE_FIELDS: listVar,
    CHUNK_MAX_TOKENS: intVar(32, 510).default(256),
    CHUNK_OVERLAP_TOKENS: intVar(0, 256).default(32),
    MAX_DOCUMENT_BYTES: intVar(1, 25 * 1024 * 1024).default(1024 * 1024),
    MAX_REQUEST_BYTES: intVar(1024, 64 * 1024 * 1024).default(8 * 1024 * 1024),
    MAX_PARSED_TEXT_BYTES: intVar(1024, 256 * 1024 * 1024).default(4 * 1024 * 1024),
    MAX_JSON_DEPTH: intVar(1, 10_000).default(64),
    MAX_JSON_KEY_PATH_BYTES: intVar(16, 1024 * 1024).default(1024),
    MAX_CHUNKS_PER_DOCUMENT: intVar(1, 1_000_000).default(4000),
    // At most 15 minutes: a queue consumer's wall-time limit. Source:
    // https://developers.cloudflare.com/queues/platform/limits/ ("Consumer duration (wall clock time)").
    INGEST_DOCUMENT_BUDGET_MS: intVar(100, 15 * 60_000).default(60_000),
    R2_NOTIFICATIONS: boolVar,
    LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
    ADMIN_API_KEY: z.string().min(32, "must be at least 32 characters").optional(),
    BACKUP_SIGNING_KEY: z.string().min(32, "must be at least 32 characters").optional(),
    CONSOLE_SESSION_KEY: z.string().min(32, "must be at least 32 characters").optional(),
    // The console behind Cloudflare Access (docs/runbooks/deploy.md, "Console behind Cloudflare
    // Access"): the team domain and the application's AUD tag, both or neither.
    CONSOLE_ACCESS_TEAM_DOMAIN: z
      .string()
      .default("")
      .refine((v) => v === "" || /^https:\/\/[a-z0-9-]+(\.[a-z0-9-]+)+\/?$/i.test(v), {
        message: 'must be the team domain, e.g. "https://TEAM.cloudflareaccess.com"',
      }),
    CONSOLE_ACCESS_AUD: z
      .string()
      .default("")
      .refine((v) => /^[A-Za-z0-9_-]{0,256}$/.test(v), {
        message: "must be the Access application's AUD tag",
      }),
    CONSOLE_ACCESS_IDENTITIES: z
      .string()
      .default("")
      .transform((v, ctx) => {
        if (v.trim() === "") return [];
        try {
          return JSON.parse(v) as unknown;
        } catch {
          ctx.addIssue({ code: "custom", message: "must be a JSON array of identity rules" });
          return z.NEVER;
        }
      })
      .pipe(AccessIdentityRulesSchema),
    CONSOLE_API_KEY_SIGN_IN: z.enum(["true", "false", ""]).default(""),
    // R2 bucket names: 3 to 63 lowercase letters, digits and hyphens, no hyphen first or last
    // (https://developers.cloudflare.com/r2/buckets/create-buckets/).
    DOCUMENTS_BUCKET_NAME: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "must be an R2 bucket name")
      .default("edgesearch-documents"),
    KEY_CACHE_TTL_SECONDS: intVar(0, 300).default(30),
    CORS_ORIGINS: listVar,
    RESULT_CACHE_TTL_SECONDS: intVar(0, 86_400).default(60),
    RESULT_CACHE_LRU_BYTES: intVar(0, 64 * 1024 * 1024).default(16 * 1024 * 1024),
    // KV refuses an expirationTtl under 60 s ("Invalid expiration_ttl of 59. Expiration TTL must be
    // at least 60."; https://developers.cloudflare.com/kv/api/write-key-value-pairs/).
    EMBEDDING_CACHE_TTL_SECONDS: intVar(60, 365 * 86_400).default(7 * 86_400),
    EMBEDDING_CACHE_WAIT_MS: intVar(0, 5000).default(10),
    GENERATION_CACHE_TTL_MS: intVar(0, 60_000).default(2000),
    RESULT_CACHE_SETTLE_MS: intVar(0, 600_000).optional(),
    SEARCH_DEADLINE_MS: intVar(100, 30_000).default(3000),
    BREAKER_COOL_DOWN_MS: intVar(100, 600_000).default(15_000),
    HYBRID_RRF_K: z.coerce.number().min(0).max(1000).default(60),
    HYBRID_VECTOR_WEIGHT: optionalWeight,
    HYBRID_KEYWORD_WEIGHT: optionalWeight,
    KEYWORD_TITLE_WEIGHT: optionalWeight,
    RERANK_MODEL: z.enum(RERANK_MODELS).default("@cf/baai/bge-reranker-base"),
    RERANK_CANDIDATES: intVar(1, 100).default(50),
    EMBEDDING_QUERY_INSTRUCTION: z.string().max(512).optional(),
    VECTORIZE_INDEXES: listVar,
    VECTORIZE_SHARDS: listVar,
    SHARD_MAX_VECTORS: intVar(1, 1_000_000_000).default(VECTORIZE_LIMITS.maxVectorsPerIndex),
    SHARD_MAX_NAMESPACES: intVar(1, 1_000_000).default(VECTORIZE_LIMITS.maxNamespacesPerIndex),
    SHARD_FILL_THRESHOLD: z.coerce.number().gt(0).max(1).default(0.9),
    D1_DATA_DATABASES: listVar,
    D1_MAX_BYTES: intVar(1, Number.MAX_SAFE_INTEGER).default(D1_LIMITS.maxDatabaseBytes),
    D1_FILL_THRESHOLD: z.coerce.number().gt(0).max(1).default(0.8),
    VERSION_CACHE_TTL_MS: intVar(0, 60_000).default(2000),
    VERSION_GRACE_SECONDS: intVar(0, 90 * 86_400).default(86_400),
    QUALITY_GATE_MIN_NDCG: z.preprocess(
      (v) => (v === "" ? undefined : v),
      z.coerce.number().min(0).max(1).optional(),
    ),
    QUALITY_GATE_TOLERANCE: z.coerce.number().min(0).max(1).default(0.02),
    BACKUP_PAGE_DOCUMENTS: intVar(1, 200).default(100),
    // Tenant quotas (src/quotas/limits.ts has the reasoning behind the defaults).
    QUOTA_MAX_DOCUMENTS_PER_NAMESPACE: intVar(1, 1_000_000_000).default(100_000),
    QUOTA_MAX_CHUNKS_PER_NAMESPACE: intVar(1, 1_000_000_000).default(500_000),
    QUOTA_MAX_BYTES_PER_NAMESPACE: intVar(1, Number.MAX_SAFE_INTEGER).default(256 * 1024 * 1024),
    QUOTA_MAX_NAMESPACES_PER_KEY: intVar(0, 1_000_000).default(100),
    FAULT_INJECTION: boolVar,
    FAULTS: z.string().max(8192).optional(),
  })
  .refine((c) => (c.CONSOLE_ACCESS_TEAM_DOMAIN === "") === (c.CONSOLE_ACCESS_AUD === ""), {
    message: "CONSOLE_ACCESS_TEAM_DOMAIN and CONSOLE_ACCESS_AUD are set together (or neither)",
    path: ["CONSOLE_ACCESS_AUD"],
  })
  .refine((c) => c.CONSOLE_ACCESS_TEAM_DOMAIN !== "" || c.CONSOLE_API_KEY_SIGN_IN !== "false", {
    message: "without Cloudflare Access (CONSOLE_ACCESS_TEAM_DOMAIN) the console has no other sign-in",
    path: ["CONSOLE_API_KEY_SIGN_IN"],
  })
  .refine((c) => !(c.FAULT_INJECTION && c.BACKEND === "cloudflare"), {
    message: "fault injection cannot be enabled with the Cloudflare backend",
    path: ["FAULT_INJECTION"],
  })
  .refine((c) => c.FAULT_INJECTION || !c.FAULTS, {
    message: "FAULTS is set but FAULT_INJECTION is not enabled",
    path: ["FAULTS"],
  })
  .refine((c) => c.HYBRID_VECTOR_WEIGHT !== 0 || c.HYBRID_KEYWORD_WEIGHT !== 0, {
    message: "HYBRID_VECTOR_WEIGHT and HYBRID_KEYWORD_WEIGHT cannot both be 0",
    path: ["HYBRID_VECTOR_WEIGHT"],
  })
  .refine((c) => c.VECTORIZE_INDEXES.every((entry) => /^[a-z0-9-]{1,64}:[A-Z][A-Z0-9_]*$/.test(entry)), {
    message: 'entries must be "<index name>:<binding name>", e.g. "edgesearch-bge-small-384:VECTORIZE_SMALL"',
    path: ["VECTORIZE_INDEXES"],
  })
  .superRefine((c, ctx) => {
    // Checked in local mode too (where any name is an index), so a list Cloudflare would refuse
    // fails in development first.
    const bound = new Set([c.VECTORIZE_INDEX_NAME, ...c.VECTORIZE_INDEXES.map((e) => e.split(":", 1)[0])]);
    const unbound = c.VECTORIZE_SHARDS.filter((name) => !bound.has(name));
    if (unbound.length === 0) return;
    ctx.addIssue({
      code: "custom",
      message: `${unbound.map((n) => `"${n}"`).join(", ")} must be VECTORIZE_INDEX_NAME or an index listed in VECTORIZE_INDEXES (with its binding)`,
      path: ["VECTORIZE_SHARDS"],
    });
  })
  .refine((c) => new Set(c.VECTORIZE_SHARDS).size === c.VECTORIZE_SHARDS.length, {
    message: "lists an index twice",
    path: ["VECTORIZE_SHARDS"],
  })
  .refine((c) => c.D1_DATA_DATABASES.every((name) => /^[A-Z][A-Z0-9_]{0,63}$/.test(name)), {
    message: 'entries must be D1 binding names, e.g. "DB,DATA_DB_1,DATA_DB_2"',
    path: ["D1_DATA_DATABASES"],
  })
  .refine((c) => new Set(c.D1_DATA_DATABASES).size === c.D1_DATA_DATABASES.length, {
    message: "lists a database twice",
    path: ["D1_DATA_DATABASES"],
  })
  // Each filterable field needs a Vectorize metadata index; the service keeps none of its own.
  .refine((c) => new Set(c.FILTERABLE_FIELDS).size <= VECTORIZE_LIMITS.maxMetadataIndexes, {
    message: `names more fields than the ${VECTORIZE_LIMITS.maxMetadataIndexes} metadata indexes a Vectorize index has`,
    path: ["FILTERABLE_FIELDS"],
  })
  .refine((c) => c.CHUNK_OVERLAP_TOKENS < c.CHUNK_MAX_TOKENS, {
    message: "CHUNK_OVERLAP_TOKENS must be below CHUNK_MAX_TOKENS",
    path: ["CHUNK_OVERLAP_TOKENS"],
  });

export interface ConsoleAccessConfig {
  /** "https://TEAM.cloudflareaccess.com": the tokens' issuer and where the signing keys are. */
  teamDomain: string;
  /** The Access application's AUD tag. */
  audience: string;
  identities: readonly AccessIdentityRule[];
}

export interface Config {
  backend: "cloudflare" | "local";
  embeddingModel: string;
  embeddingPooling: "cls" | "mean";
  vectorizeIndexName: string;
  filterableFields: readonly string[];
  chunkMaxTokens: number;
  chunkOverlapTokens: number;
  maxDocumentBytes: number;
  /** Wall time one ingest message may spend on its document before it is retried (then dead-lettered). */
  ingestDocumentBudgetMs: number;
  maxRequestBytes: number;
  /** What one document may expand into when parsed (src/ingest/limits.ts). */
  parseLimits: ParseLimits;
  /** A document that yields more chunks fails instead of flooding the index and the embedder. */
  maxChunksPerDocument: number;
  /** When true, R2 event notifications feed the ingest queue and the API does not enqueue. */
  r2Notifications: boolean;
  /**
   * The documents bucket's name (the DOCUMENTS binding's bucket_name): the only bucket whose
   * event notifications the ingest consumer acts on, and the one the API's own messages name.
   */
  documentsBucketName: string;
  logLevel: "debug" | "info" | "warn" | "error";
  /** The bootstrap admin key (a secret). Never logged. */
  adminApiKey: string | undefined;
  /** The secret backup manifests are signed with (else one derived from adminApiKey). Never logged. */
  backupSigningKey: string | undefined;
  /** The secret console sessions are signed with (else one derived from adminApiKey). Never logged. */
  consoleSessionKey: string | undefined;
  /** Cloudflare Access in front of the console; null: off (API-key sign-in only). */
  consoleAccess: ConsoleAccessConfig | null;
  /** Whether the console's API-key sign-in is offered (off by default when Access is on). */
  consoleKeySignIn: boolean;
  /** How long an isolate trusts a key lookup: the bound on how late a revocation takes effect. */
  keyCacheTtlMs: number;
  /** Origins allowed by CORS; "*" allows any; empty disables CORS. */
  corsOrigins: readonly string[];
  /** Result cache: how long answers live, and the isolate LRU's budget in bytes. */
  resultCacheTtlMs: number;
  resultCacheLruBytes: number;
  /** How long query embeddings live in KV. */
  embeddingCacheTtlSeconds: number;
  /** How long a query embedding's KV read may take before Workers AI is asked as well. */
  embeddingCacheWaitMs: number;
  /** How long an isolate trusts a namespace's write generation before asking KV again. */
  generationCacheTtlMs: number;
  /** Answers computed within this long of a write are not cached (vector writes are asynchronous). */
  resultCacheSettleMs: number;
  /** A search's time budget across all its dependency calls and retries. */
  searchDeadlineMs: number;
  /** How long an open circuit breaker waits before letting probes through. */
  breakerCoolDownMs: number;
  /** Hybrid search: RRF's k, the weights of the vector and keyword rankings, chunks per leg. */
  hybridRrfK: number;
  hybridVectorWeight: number;
  hybridKeywordWeight: number;
  /** bm25() weight of a title match in keyword search (a body match weighs 1). */
  keywordTitleWeight: number;
  /** The reranking model, and how many first-stage results it reorders. */
  rerankModel: RerankModel;
  rerankCandidates: number;
  /** Replaces the embedding model's query prefix ("" for none); undefined keeps the model's. */
  embeddingQueryInstruction: string | undefined;
  /**
   * Vectorize index name -> binding name, for versions kept in other indexes than the default one
   * (VECTORIZE_INDEX_NAME, bound as VECTORIZE). Ignored in local mode, where any name is an index.
   */
  vectorizeIndexes: ReadonlyMap<string, string>;
  /**
   * Where new namespaces' vectors go (src/shards/policy.ts): the indexes that take new namespaces
   * (VECTORIZE_SHARDS, else just VECTORIZE_INDEX_NAME), each holding the default model's
   * dimensions, and the capacity an index is measured against (Vectorize's limits by default).
   */
  shards: { indexes: readonly string[]; maxVectors: number; maxNamespaces: number; fillThreshold: number };
  /**
   * The pool of data databases (src/store/pool.ts): the D1 bindings that take new namespaces
   * (D1_DATA_DATABASES, else DB alone), in order of preference, each bound in wrangler.toml; a
   * database takes no new namespace once its size reaches fillThreshold of maxBytes.
   */
  d1: { databases: readonly string[]; maxBytes: number; fillThreshold: number };
  /** How long an isolate trusts a namespace's active-version pointer before asking KV again. */
  versionCacheTtlMs: number;
  /** How long a replaced version stays queryable (for rollback) before it is retired. */
  versionGraceMs: number;
  /** Quality gate: the nDCG@10 a new version must reach, or lose at most `tolerance` against the active one. */
  qualityGate: { minNdcg: number | undefined; tolerance: number };
  /** Documents per backup or restore step (one queue message); a step also stops at its byte and chunk bounds. */
  backupPageDocuments: number;
  /**
   * Default quotas: per namespace (documents, chunks, stored text bytes; an admin may override
   * them per namespace) and how many namespaces a key may create (set per key at its creation).
   */
  quotas: { documents: number; chunks: number; bytes: number; namespacesPerKey: number };
  /** Test/dev only: honour FAULTS and the x-edgesearch-faults header. Refused with Cloudflare. */
  faultInjection: boolean;
  faults: FaultPlan | null;
}

function staticFaults(raw: string | undefined): FaultPlan | null {
  try {
    return parseFaultPlan(raw);
  } catch (err) {
    throw new AppError("internal", `invalid configuration: FAULTS: ${errorMessage(err)}`, {
      retryable: false,
    });
  }
}

/** Each database of the pool must be a D1 binding of this Worker. */
function checkD1Bindings(env: object, names: readonly string[]): void {
  const unbound = names.filter((name) => !isD1((env as Record<string, unknown>)[name]));
  if (unbound.length === 0) return;
  throw new AppError(
    "internal",
    `invalid configuration: D1_DATA_DATABASES: ${unbound.map((n) => `"${n}"`).join(", ")} must be D1 bindings of this Worker ([[d1_databases]] in wrangler.toml)`,
    { retryable: false },
  );
}

// Isolate-lifetime: env objects are stable for an isolate, so each is parsed once.
const parsed = new WeakMap<object, Config>();

/** Cloudflare Access in front of the console, and whether API-key sign-in stays on beside it. */
function consoleSignIn(c: z.infer<typeof ConfigSchema>): Pick<Config, "consoleAccess" | "consoleKeySignIn"> {
  const on = c.CONSOLE_ACCESS_TEAM_DOMAIN !== "";
  return {
    consoleAccess: on
      ? {
          teamDomain: normalizeTeamDomain(c.CONSOLE_ACCESS_TEAM_DOMAIN),
          audience: c.CONSOLE_ACCESS_AUD,
          identities: c.CONSOLE_ACCESS_IDENTITIES,
        }
      : null,
    // Off by default behind Access: a key would reach the console around Access's policies.
    consoleKeySignIn: c.CONSOLE_API_KEY_SIGN_IN === "" ? !on : c.CONSOLE_API_KEY_SIGN_IN === "true",
  };
}

export function loadConfig(env: object): Config {
  const hit = parsed.get(env);
  if (hit) return hit;
  const raw = Object.fromEntries(
    Object.entries(env).filter(([, v]) => typeof v === "string" || typeof v === "number"),
  );
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new AppError("internal", `invalid configuration: ${detail}`, { retryable: false });
  }
  const c = result.data;
  checkD1Bindings(env, c.D1_DATA_DATABASES);
  const config: Config = {
    backend: c.BACKEND,
    embeddingModel: c.EMBEDDING_MODEL,
    embeddingPooling: c.EMBEDDING_POOLING,
    vectorizeIndexName: c.VECTORIZE_INDEX_NAME,
    filterableFields: c.FILTERABLE_FIELDS,
    chunkMaxTokens: c.CHUNK_MAX_TOKENS,
    chunkOverlapTokens: c.CHUNK_OVERLAP_TOKENS,
    maxDocumentBytes: c.MAX_DOCUMENT_BYTES,
    ingestDocumentBudgetMs: c.INGEST_DOCUMENT_BUDGET_MS,
    maxRequestBytes: c.MAX_REQUEST_BYTES,
    parseLimits: {
      maxParsedTextBytes: c.MAX_PARSED_TEXT_BYTES,
      maxJsonDepth: c.MAX_JSON_DEPTH,
      maxJsonKeyPathBytes: c.MAX_JSON_KEY_PATH_BYTES,
    },
    maxChunksPerDocument: c.MAX_CHUNKS_PER_DOCUMENT,
    r2Notifications: c.R2_NOTIFICATIONS,
    documentsBucketName: c.DOCUMENTS_BUCKET_NAME,
    logLevel: c.LOG_LEVEL,
    adminApiKey: c.ADMIN_API_KEY,
    backupSigningKey: c.BACKUP_SIGNING_KEY,
    consoleSessionKey: c.CONSOLE_SESSION_KEY,
    ...consoleSignIn(c),
    keyCacheTtlMs: c.KEY_CACHE_TTL_SECONDS * 1000,
    corsOrigins: c.CORS_ORIGINS,
    resultCacheTtlMs: c.RESULT_CACHE_TTL_SECONDS * 1000,
    resultCacheLruBytes: c.RESULT_CACHE_LRU_BYTES,
    embeddingCacheTtlSeconds: c.EMBEDDING_CACHE_TTL_SECONDS,
    embeddingCacheWaitMs: c.EMBEDDING_CACHE_WAIT_MS,
    generationCacheTtlMs: c.GENERATION_CACHE_TTL_MS,
    // Vectorize applies writes within seconds; the local index within a few hundred ms.
    resultCacheSettleMs: c.RESULT_CACHE_SETTLE_MS ?? (c.BACKEND === "local" ? 1000 : 10_000),
    searchDeadlineMs: c.SEARCH_DEADLINE_MS,
    breakerCoolDownMs: c.BREAKER_COOL_DOWN_MS,
    hybridRrfK: c.HYBRID_RRF_K,
    // The local embedder is lexical: it mostly re-finds what BM25 finds, and less well, so its
    // ranking gets a small weight there (see LOCAL_VECTOR_WEIGHT).
    hybridVectorWeight: c.HYBRID_VECTOR_WEIGHT ?? (c.BACKEND === "local" ? LOCAL_VECTOR_WEIGHT : 1),
    hybridKeywordWeight: c.HYBRID_KEYWORD_WEIGHT ?? 1,
    keywordTitleWeight: c.KEYWORD_TITLE_WEIGHT ?? DEFAULT_TITLE_WEIGHT,
    rerankModel: c.RERANK_MODEL,
    rerankCandidates: c.RERANK_CANDIDATES,
    embeddingQueryInstruction: c.EMBEDDING_QUERY_INSTRUCTION,
    vectorizeIndexes: new Map([
      [c.VECTORIZE_INDEX_NAME, "VECTORIZE"],
      ...c.VECTORIZE_INDEXES.map((entry) => entry.split(":", 2) as [string, string]),
    ]),
    shards: {
      indexes: c.VECTORIZE_SHARDS.length > 0 ? c.VECTORIZE_SHARDS : [c.VECTORIZE_INDEX_NAME],
      maxVectors: c.SHARD_MAX_VECTORS,
      maxNamespaces: c.SHARD_MAX_NAMESPACES,
      fillThreshold: c.SHARD_FILL_THRESHOLD,
    },
    d1: {
      databases: c.D1_DATA_DATABASES.length > 0 ? c.D1_DATA_DATABASES : ["DB"],
      maxBytes: c.D1_MAX_BYTES,
      fillThreshold: c.D1_FILL_THRESHOLD,
    },
    versionCacheTtlMs: c.VERSION_CACHE_TTL_MS,
    versionGraceMs: c.VERSION_GRACE_SECONDS * 1000,
    qualityGate: { minNdcg: c.QUALITY_GATE_MIN_NDCG, tolerance: c.QUALITY_GATE_TOLERANCE },
    backupPageDocuments: c.BACKUP_PAGE_DOCUMENTS,
    quotas: {
      documents: c.QUOTA_MAX_DOCUMENTS_PER_NAMESPACE,
      chunks: c.QUOTA_MAX_CHUNKS_PER_NAMESPACE,
      bytes: c.QUOTA_MAX_BYTES_PER_NAMESPACE,
      namespacesPerKey: c.QUOTA_MAX_NAMESPACES_PER_KEY,
    },
    faultInjection: c.FAULT_INJECTION,
    faults: c.FAULT_INJECTION ? staticFaults(c.FAULTS) : null,
  };
  parsed.set(env, config);
  return config;
}
