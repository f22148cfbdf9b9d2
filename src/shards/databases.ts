// Where a new namespace's documents go. One D1 database holds at most 10 GB, so a deployment
// spreads namespaces over a pool of data databases (src/store/pool.ts) the way it spreads vectors
// over Vectorize indexes: each new namespace goes to the least full member below the fill
// threshold, by the bytes each database last reported (src/store/d1-size.ts), then by how many
// namespaces it holds, then by the pool's order. The shard map object records the choice.
import { z } from "zod";
import type { Config } from "../config";
import { CONTROL_DATABASE } from "../store/pool";

export const StoragePolicySchema = z.object({
  /** The binding names of the databases that take new namespaces, in order of preference. */
  databases: z.array(z.string().min(1).max(64)).min(1),
  /** A database's capacity in bytes (D1_MAX_BYTES). */
  maxBytes: z.number().int().positive(),
  /** The fullness (0..1) at which a database stops taking new namespaces. */
  fillThreshold: z.number().gt(0).max(1),
});
export type StoragePolicy = z.infer<typeof StoragePolicySchema>;

export function storagePolicy(config: Config): StoragePolicy {
  return {
    databases: [...config.d1.databases],
    maxBytes: config.d1.maxBytes,
    fillThreshold: config.d1.fillThreshold,
  };
}

/** What the shard map knows of one data database. */
export interface DatabaseUsage {
  database: string;
  /** Namespaces placed in it by the map. */
  namespaces: number;
  /** Its size as D1 last reported it, or 0 before the first report. */
  bytes: number;
  reportedAt: number | null;
}

export interface DatabaseReport {
  database: string;
  bytes: number;
}

/**
 * Sizes closer than this share of the capacity count as equal, so between two reports (sizes do
 * not move) new namespaces spread by count instead of all landing in the one that was smallest.
 */
export const SIZE_TIE = 0.01;

export function databaseFullness(usage: Pick<DatabaseUsage, "bytes">, policy: StoragePolicy): number {
  return usage.bytes / policy.maxBytes;
}

/** The pool member a new namespace goes to, or null when every one is past the fill threshold. */
export function pickDatabase(known: readonly DatabaseUsage[], policy: StoragePolicy): string | null {
  const byName = new Map(known.map((u) => [u.database, u]));
  let best: DatabaseUsage | null = null;
  for (const database of policy.databases) {
    const usage = byName.get(database) ?? emptyDatabaseUsage(database);
    const fullness = databaseFullness(usage, policy);
    if (fullness >= policy.fillThreshold) continue;
    if (best === null) {
      best = usage;
      continue;
    }
    const diff = fullness - databaseFullness(best, policy);
    if (diff < -SIZE_TIE || (Math.abs(diff) <= SIZE_TIE && usage.namespaces < best.namespaces)) best = usage;
  }
  return best?.database ?? null;
}

export function emptyDatabaseUsage(database: string): DatabaseUsage {
  return { database, namespaces: 0, bytes: 0, reportedAt: null };
}

/** Where a namespace without a recorded database is: DB, the control database. */
export const DEFAULT_DATABASE = CONTROL_DATABASE;

/** One pool database as the admin routes show it (GET /v1/admin/shards, the dashboard). */
export interface DatabaseView {
  database: string;
  /** Listed in D1_DATA_DATABASES (or DB when that is empty). */
  inPool: boolean;
  acceptsNamespaces: boolean;
  /** Its size has reached D1_FILL_THRESHOLD of D1_MAX_BYTES: it takes no new namespace. */
  pastFillThreshold: boolean;
  namespaces: number | null;
  bytes: number | null;
  fullness: number | null;
  bytesReportedAt: string | null;
}

/**
 * The pool's databases and any other the shard map knows of. The counts and sizes span every
 * tenant, so only a caller covering every namespace (`seesCounts`) gets them; whether a database
 * is past the threshold is what `acceptsNamespaces` tells everyone anyway.
 */
export function databaseViews(
  known: readonly DatabaseUsage[],
  policy: StoragePolicy,
  seesCounts: boolean,
): DatabaseView[] {
  const byName = new Map(known.map((u) => [u.database, u]));
  return [...new Set([...policy.databases, ...byName.keys()])].map((name) => {
    const usage = byName.get(name) ?? emptyDatabaseUsage(name);
    const full = databaseFullness(usage, policy);
    const inPool = policy.databases.includes(name);
    return {
      database: name,
      inPool,
      acceptsNamespaces: inPool && full < policy.fillThreshold,
      pastFillThreshold: full >= policy.fillThreshold,
      namespaces: seesCounts ? usage.namespaces : null,
      bytes: seesCounts ? usage.bytes : null,
      fullness: seesCounts ? Number(full.toFixed(6)) : null,
      bytesReportedAt:
        seesCounts && usage.reportedAt !== null ? new Date(usage.reportedAt).toISOString() : null,
    };
  });
}
