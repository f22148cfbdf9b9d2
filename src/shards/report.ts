// The scheduled side of the shard map: each index's vector count (Vectorize's describe()) goes
// to the map, which measures fullness by it, and namespaces from before the map that have
// vectors in the default index are recorded there a page per run, so that index's namespace
// count covers them. Also an index view over several indexes, for the health check, which holds
// chunk ids without knowing which index each one is in.
import { errorMessage } from "../errors";
import type { HealthCheckDeps } from "../observe/index-health";
import type { Logger } from "../observe/logger";
import { d1 } from "../store/d1";
import { databaseBytes } from "../store/d1-size";
import { getVectors } from "../vectors/paging";
import type { VectorIndex, VectorRecord } from "../vectors/vector-index";
import type { ShardMapApi, UsageReport } from "./client";
import type { DatabaseReport } from "./databases";
import type { ShardPolicy } from "./policy";

/** Namespaces looked at per run by the scan for those created before the shard map. */
export const LEGACY_SCAN_PAGE = 500;

export interface ShardReportDeps {
  shardMap: ShardMapApi;
  db: D1Database;
  policy: ShardPolicy;
  /** The index of that name, or null where this deployment has no binding for it. */
  index(name: string): VectorIndex | null;
  /** The data databases of the pool by binding name, whose sizes go to the map with the counts. */
  databases?: ReadonlyMap<string, D1Database>;
  logger: Logger;
  now?: number;
}

export interface ShardReport {
  /** Every index namespaces may live in that this deployment reaches. */
  indexes: string[];
  reported: UsageReport[];
  /** Indexes whose describe() failed (their last count stands). */
  failed: string[];
  /** Namespaces from before the shard map recorded in this run. */
  adopted: number;
  /** Each data database's size in bytes, as D1 reported it (those that answered). */
  databases: DatabaseReport[];
}

export async function reportShardUsage(deps: ShardReportDeps): Promise<ShardReport> {
  const { policy, logger } = deps;
  const status = await deps.shardMap.status();
  const names = [...new Set([policy.defaultIndex, ...policy.indexes, ...status.indexes.map((u) => u.index)])];
  const indexes: string[] = [];
  const reported: UsageReport[] = [];
  const failed: string[] = [];
  for (const name of names) {
    const index = deps.index(name);
    if (index === null) {
      logger.warn("shards.index_unbound", { index: name });
      continue;
    }
    indexes.push(name);
    try {
      const info = await index.describe();
      reported.push({ index: name, vectors: info.vectorCount, dimensions: info.dimensions });
    } catch (err) {
      failed.push(name);
      logger.warn("shards.describe_failed", { index: name, error: errorMessage(err) });
    }
  }
  const databases = await measureDatabases(deps);
  if (reported.length > 0 || databases.length > 0) {
    await deps.shardMap.recordUsage(reported, deps.now ?? Date.now(), databases);
  }
  const adopted = await adoptLegacy(deps, status.legacyCursor);
  return { indexes, reported, failed, adopted, databases };
}

/** Each data database's size (src/store/d1-size.ts); one that fails keeps its last report. */
async function measureDatabases(deps: ShardReportDeps): Promise<DatabaseReport[]> {
  const out: DatabaseReport[] = [];
  for (const [database, db] of deps.databases ?? []) {
    try {
      out.push({ database, bytes: await databaseBytes(db) });
    } catch (err) {
      deps.logger.warn("shards.database_size_failed", { database, error: errorMessage(err) });
    }
  }
  return out;
}

/**
 * One page of namespaces with indexed documents, from the cursor on, recorded in the default
 * index unless already assigned. A namespace placed by the map is assigned before its first
 * document is indexed, so an unassigned one with indexed documents predates the map.
 */
async function adoptLegacy(deps: ShardReportDeps, cursor: string): Promise<number> {
  const { results } = await d1("list namespaces with documents", () =>
    deps.db
      .prepare(
        `SELECT DISTINCT namespace FROM documents WHERE status = 'indexed' AND namespace > ?1
         ORDER BY namespace LIMIT ?2`,
      )
      .bind(cursor, LEGACY_SCAN_PAGE)
      .all<{ namespace: string }>(),
  );
  const names = results.map((r) => r.namespace);
  // A short page ends the pass; the next one starts over (a rolling deployment can still add some).
  const next = names.length < LEGACY_SCAN_PAGE ? "" : (names.at(-1) ?? "");
  return deps.shardMap.adopt(names, deps.policy.defaultIndex, next);
}

/**
 * Several indexes seen as one by the index health check: ids missing from the first are looked up
 * in the next, and so on (a chunk id lives in one index); the vector count is their sum.
 */
export function acrossIndexes(indexes: readonly VectorIndex[]): HealthCheckDeps["index"] {
  return {
    async getByIds(ids: string[]): Promise<VectorRecord[]> {
      const found: VectorRecord[] = [];
      let missing = ids;
      for (const index of indexes) {
        if (missing.length === 0) break;
        const records = await getVectors(index, missing);
        const seen = new Set(records.map((r) => r.id));
        found.push(...records);
        missing = missing.filter((id) => !seen.has(id));
      }
      return found;
    },
    async describe(): Promise<{ vectorCount: number }> {
      const infos = await Promise.all(indexes.map((index) => index.describe()));
      return { vectorCount: infos.reduce((n, info) => n + info.vectorCount, 0) };
    },
  };
}
