// Where a new namespace's vectors go. One Vectorize index holds at most 10M vectors and 50,000
// namespaces, so a deployment spreads namespaces over a pool of indexes: each new namespace goes
// to the least full index of the pool that is below the fill threshold. The shard map object
// (workers/objects/shard-map.ts) records the choice; the namespace's version records carry it from
// then on, so nothing on the query path asks where a namespace lives.
import { z } from "zod";
import type { Config } from "../config";
import { AppError } from "../errors";
import type { VersionSpec } from "../versions/model";
import { type StoragePolicy, StoragePolicySchema } from "./databases";

/** The name of the one shard map object (idFromName). */
export const SHARD_MAP_NAME = "global";

export const ShardPolicySchema = z.object({
  /** The indexes that take new namespaces, in order of preference on a tie. */
  indexes: z.array(z.string().min(1).max(64)).min(1),
  /** VECTORIZE_INDEX_NAME: where namespaces created before the shard map already have vectors. */
  defaultIndex: z.string().min(1).max(64),
  /** The default model's dimensions: a pool index reported with others takes no namespaces. */
  dimensions: z.number().int().min(1).max(1536),
  maxVectors: z.number().int().positive(),
  maxNamespaces: z.number().int().positive(),
  /** The fullness (0..1) at which an index stops taking new namespaces. */
  fillThreshold: z.number().gt(0).max(1),
});
export type ShardPolicy = z.infer<typeof ShardPolicySchema>;

/** The deployment's policy, from its configuration and the default version. */
export function shardPolicy(config: Config, defaults: Pick<VersionSpec, "dimensions">): ShardPolicy {
  return {
    indexes: [...config.shards.indexes],
    defaultIndex: config.vectorizeIndexName,
    dimensions: defaults.dimensions,
    maxVectors: config.shards.maxVectors,
    maxNamespaces: config.shards.maxNamespaces,
    fillThreshold: config.shards.fillThreshold,
  };
}

/** What the shard map knows of one index. */
export interface IndexUsage {
  index: string;
  /** Namespaces assigned to it (those found there from before the shard map included). */
  namespaces: number;
  /** Vectors as last reported by the index (describe()), or 0 before the first report. */
  vectors: number;
  /** Dimensions as last reported; null before the first report or while the index is empty. */
  dimensions: number | null;
  /** When the vector count was reported (ms since the epoch), or null. */
  reportedAt: number | null;
}

/** Why an index takes no new namespace. */
export const REFUSALS = ["not_in_pool", "full", "dimensions"] as const;
export type Refusal = (typeof REFUSALS)[number];

/** max(vectors / maxVectors, namespaces / maxNamespaces): the first limit an index would hit. */
export function fullness(usage: Pick<IndexUsage, "vectors" | "namespaces">, policy: ShardPolicy): number {
  return Math.max(usage.vectors / policy.maxVectors, usage.namespaces / policy.maxNamespaces);
}

/** Why an index takes no new namespace, or null when it takes them. */
export function refusal(usage: IndexUsage, policy: ShardPolicy): Refusal | null {
  if (!policy.indexes.includes(usage.index)) return "not_in_pool";
  if (usage.dimensions !== null && usage.dimensions !== policy.dimensions) return "dimensions";
  if (fullness(usage, policy) >= policy.fillThreshold) return "full";
  return null;
}

/**
 * The least full pool index that takes new namespaces (the first listed on a tie), or null when
 * every one is full. An index the map has not seen yet counts as empty.
 */
export function pickIndex(known: readonly IndexUsage[], policy: ShardPolicy): string | null {
  const byName = new Map(known.map((u) => [u.index, u]));
  let best: { index: string; fullness: number } | null = null;
  for (const index of policy.indexes) {
    const usage = byName.get(index) ?? emptyUsage(index);
    if (refusal(usage, policy) !== null) continue;
    const f = fullness(usage, policy);
    if (best === null || f < best.fullness) best = { index, fullness: f };
  }
  return best?.index ?? null;
}

export function emptyUsage(index: string): IndexUsage {
  return { index, namespaces: 0, vectors: 0, dimensions: null, reportedAt: null };
}

/**
 * The default version as the Worker hands it to a namespace's coordinator, with the policy the
 * coordinator asks the shard map to place a new namespace by. The coordinator's methods take it
 * where they take the default version; a caller without a policy keeps the default index.
 */
export interface PlacedDefaults extends VersionSpec {
  placement: ShardPolicy;
  /** The pool of data databases a new namespace's documents are placed in (none: DB). */
  storage?: StoragePolicy;
}

export function withPlacement(
  defaults: VersionSpec,
  placement: ShardPolicy,
  storage?: StoragePolicy,
): PlacedDefaults {
  return storage ? { ...defaults, placement, storage } : { ...defaults, placement };
}

/** The storage policy the defaults carry, or null (validated: it crossed an RPC boundary). */
export function storageOf(defaults: VersionSpec): StoragePolicy | null {
  return carried(StoragePolicySchema, (defaults as Partial<PlacedDefaults>).storage, "storage placement");
}

/** The placement policy the defaults carry, or null (validated: it crossed an RPC boundary). */
export function placementOf(defaults: VersionSpec): ShardPolicy | null {
  return carried(ShardPolicySchema, (defaults as Partial<PlacedDefaults>).placement, "shard placement");
}

function carried<T extends z.ZodType>(schema: T, raw: unknown, what: string): z.output<T> | null {
  if (raw === undefined) return null;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new AppError("internal", `invalid ${what} policy: ${parsed.error.issues[0]?.message}`, {
      retryable: false,
    });
  }
  return parsed.data;
}
