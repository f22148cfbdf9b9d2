// Index versions. A namespace's vectors are produced by one embedding configuration (model,
// pooling, chunking) and kept in one vector index; a version names such a configuration. Searches
// read the active version only; writes go to every live version, so a version being built, and the
// one kept for rollback, never fall behind. The namespace's coordinator object owns the records
// (workers/objects/namespace-coordinator.ts); this module is what both sides agree on.
import { z } from "zod";
import type { Config } from "../config";
import { EMBEDDING_MODELS } from "../embed/embedder";
import { base64url } from "../util/encoding";

/** The version every namespace starts with; its storage names are the pre-versioning ones. */
export const DEFAULT_VERSION = "v1";

export const VERSION_STATES = ["building", "ready", "active", "previous", "retired"] as const;
export type VersionState = (typeof VERSION_STATES)[number];

/** States whose vectors are kept current by every write. */
export const LIVE_STATES: readonly VersionState[] = ["building", "ready", "active", "previous"];

export const ChunkingSchema = z.object({
  maxTokens: z.number().int().min(32).max(510),
  overlapTokens: z.number().int().min(0).max(256),
});
export type Chunking = z.infer<typeof ChunkingSchema>;

/** What produces a version's vectors and where they live. Fixed once the version exists. */
export const VersionSpecSchema = z.object({
  id: z.string().regex(/^v[0-9]{1,6}$/),
  model: z.string().refine((m) => Object.hasOwn(EMBEDDING_MODELS, m)),
  dimensions: z.number().int().min(1).max(1536),
  pooling: z.enum(["cls", "mean"]),
  chunking: ChunkingSchema,
  /** The vector index (Vectorize index name, or the local index object's name). */
  index: z.string().min(1).max(64),
});
export type VersionSpec = z.infer<typeof VersionSpecSchema>;

export interface BackfillProgress {
  /** "scan" walks documents in id order from `cursor`; "sweep" catches documents the scan missed. */
  phase: "scan" | "sweep" | "done";
  cursor: string;
  /** Documents indexed in the namespace when last counted (what the build must cover). */
  total: number;
  done: number;
  failed: number;
  /** The first failures (document id and why); all are counted in `failed`. */
  failures: { id: string; error: string }[];
  /** The last vector write of the build and when it was requested (for the swap's index check). */
  lastMutationId: string | null;
  lastMutationAt: number | null;
  startedAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface GateReport {
  queries: number;
  ndcg: number;
  activeNdcg: number | null;
  minNdcg: number | null;
  tolerance: number;
  passed: boolean;
  forced: boolean;
  at: number;
}

/** A query of the quality gate's test set and the documents that answer it. */
export interface GoldenQuery {
  query: string;
  relevant: string[];
}

export interface VersionRecord extends VersionSpec {
  state: VersionState;
  createdAt: number;
  updatedAt: number;
  activatedAt: number | null;
  /** When a previous version is retired (its grace period's end). */
  retireAt: number | null;
  retiredAt: number | null;
  /** Whether a retired version's vectors, chunks and keyword rows are gone yet. */
  purged: boolean;
  backfill: BackfillProgress | null;
  gate: GateReport | null;
}

/**
 * What the query path needs, published by the coordinator to KV: the active version, and every
 * live one (so a delete can reach all of them without asking the coordinator).
 */
export interface VersionPointer {
  active: VersionSpec;
  live: VersionSpec[];
  /** Bumped by every change; a reader keeps the newest it saw. */
  epoch: number;
  /**
   * The binding name of the D1 database holding the namespace's documents, chunks and keyword
   * tables (src/store/pool.ts); absent: DB (namespaces from before the pool).
   */
  database?: string;
  /** While the namespace is moved to another database: that database (writes go to both). */
  moving?: string | null;
  /** The namespace's running experiment (src/experiments), when one runs against the active version. */
  experiment?: RunningExperiment;
}

/** What the query path needs of a running experiment: which searches the candidate answers. */
export interface RunningExperiment {
  id: string;
  /** The active version the experiment compares against. */
  control: string;
  candidate: VersionSpec;
  /** Share of searches (0..1) the candidate answers. */
  share: number;
  /** Share of the control arm's searches (0..1) the candidate also answers in the background. */
  shadowShare: number;
}

/** What a write needs of the pointer: the versions it reaches (the coordinator sends the whole pointer). */
export type WriteTargets = Pick<VersionPointer, "active" | "live"> &
  Partial<Pick<VersionPointer, "epoch" | "database" | "moving">>;

/** The version a namespace starts with: the deployment's configured model, chunking and index. */
export function defaultVersion(config: Config): VersionSpec {
  const info = EMBEDDING_MODELS[config.embeddingModel];
  return {
    id: DEFAULT_VERSION,
    model: config.embeddingModel,
    dimensions: info?.dimensions ?? 768,
    pooling: config.embeddingPooling,
    chunking: { maxTokens: config.chunkMaxTokens, overlapTokens: config.chunkOverlapTokens },
    index: config.vectorizeIndexName,
  };
}

export function sameChunking(a: Chunking, b: Chunking): boolean {
  return a.maxTokens === b.maxTokens && a.overlapTokens === b.overlapTokens;
}

const encoder = new TextEncoder();

/**
 * The Vectorize namespace of a version's vectors. The default version's is the namespace name
 * itself; others get a fixed-length hash, so two versions can share an index without a query of
 * one ever matching the other's vectors, and any namespace name fits Vectorize's 64 bytes.
 */
export async function vectorNamespace(namespace: string, version: string): Promise<string> {
  if (version === DEFAULT_VERSION) return namespace;
  const scope = `${namespace}\u0000${version}`;
  const cached = vectorNamespaces.get(scope);
  if (cached !== undefined) return cached;
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(scope));
  const name = `~${base64url(new Uint8Array(digest, 0, 18))}`;
  // Every search of a migrated namespace asks: keep the hash (cheap to recompute, so the cap just clears).
  if (vectorNamespaces.size >= 10_000) vectorNamespaces.clear();
  vectorNamespaces.set(scope, name);
  return name;
}

const vectorNamespaces = new Map<string, string>();

/**
 * The chunk id prefix of a document in a version: the document's hash for the default version,
 * with ".<version>" after it for others (ids are unique per index, and D1 keys chunks by id).
 */
export function versionChunkPrefix(documentPrefix: string, version: string): string {
  return version === DEFAULT_VERSION ? documentPrefix : `${documentPrefix}.${version}`;
}
