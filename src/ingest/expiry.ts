// The expiry purge: documents whose expiresAt has passed are deleted through the path a DELETE
// takes (R2 object, D1 rows and keyword rows at once, vectors by the queue consumer, then the
// namespace's generation published), a bounded amount per scheduled run. Searches leave them out
// from their expiry on (hydration and the keyword query check expires_at); the purge frees space.
import { errorMessage } from "../errors";
import { type D1Like, d1 } from "../store/d1";
import { type DeleteDeps, deleteExpired } from "./requests";

/**
 * How much one run purges. Each namespace costs about 5 subrequests (R2 delete, D1 keyword-table
 * read and delete batch, queue send per 100 documents, generation publish) and 2 + 2 per index
 * version D1 queries. "Queries per invocation: 50 (Free), 1,000 (Paid)" and "Subrequests: 50
 * external / 1,000 to Cloudflare services (Free), 10,000 (Paid)"
 * (https://developers.cloudflare.com/d1/platform/limits/,
 * https://developers.cloudflare.com/workers/platform/limits/#subrequests): 20 namespaces stay
 * far inside Paid's figures next to the health check of the same run, 2 inside Free's. 200
 * documents fill two 100-message queue sends ("Messages per sendBatch: 100",
 * https://developers.cloudflare.com/queues/platform/limits/) and one R2 delete ("up to 1000 keys",
 * R2Bucket.delete in workers-types) per namespace at most.
 */
export const PURGE_LIMITS = {
  documents: 200,
  namespaces: { paid: 20, free: 2 },
} as const;

export interface PurgeDeps extends DeleteDeps {
  /** Every database a namespace may be in (the pool's members). */
  databases: D1Like[];
}

export interface PurgeReport {
  purged: number;
  namespaces: number;
  /** Whether expired documents were left for the next run. */
  more: boolean;
  failed: string[];
}

/** Deletes up to `limits.documents` expired documents in up to `limits.namespaces` namespaces. */
export async function purgeExpired(
  deps: PurgeDeps,
  limits: { documents: number; namespaces: number },
  now = Date.now(),
): Promise<PurgeReport> {
  const due = new Map<string, Set<string>>();
  let counted = 0;
  let more = false;
  for (const db of deps.databases) {
    // One more than the bound: tells whether some are left for the next run.
    const { results } = await d1("list expired documents", () =>
      db
        .prepare(
          `SELECT namespace, id FROM documents
           WHERE expires_at IS NOT NULL AND expires_at <= ?1 AND status != 'deleted'
           ORDER BY expires_at LIMIT ?2`,
        )
        .bind(now, limits.documents + 1)
        .all<{ namespace: string; id: string }>(),
    );
    for (const row of results) {
      const ids = due.get(row.namespace);
      if (ids?.has(row.id)) continue; // the same row in a moving namespace's two databases
      if (counted >= limits.documents || (!ids && due.size >= limits.namespaces)) {
        more = true;
        continue;
      }
      if (ids) ids.add(row.id);
      else due.set(row.namespace, new Set([row.id]));
      counted++;
    }
  }
  let purged = 0;
  const failed: string[] = [];
  for (const [namespace, ids] of due) {
    try {
      purged += await deleteExpired(deps, namespace, [...ids], now);
    } catch (err) {
      // One namespace failing (its database, say) leaves the others to be purged; it is tried again next run.
      failed.push(namespace);
      deps.logger.warn("expiry.purge_failed", { namespace, error: errorMessage(err) });
    }
  }
  return { purged, namespaces: due.size - failed.length, more, failed };
}
