// The expiry purge: documents whose expiresAt has passed are deleted through the path a DELETE
// takes (R2 object, D1 rows and keyword rows at once, vectors by the queue consumer, then the
// namespace's generation published), a bounded amount per scheduled run. Searches leave them out
// from their expiry on (hydration and the keyword query check expires_at); the purge frees space.
import { errorMessage } from "../errors";
import { type D1Like, d1 } from "../store/d1";
import { type DeleteDeps, deleteExpired } from "./requests";

/**
 * How much one run purges. The run shares its invocation with the index health check, and a
 * namespace's purge costs about 5 subrequests (the R2 delete, the keyword-table read and delete
 * batch in D1, a queue send per 100 documents, the generation publish) and about 11 D1 queries
 * (measured: test/integration/expiry-budget.test.ts). Limits relied on (docs/platform-limits.md):
 * - D1 "Queries per Worker invocation": 50 Free, 1,000 Paid
 *   (https://developers.cloudflare.com/d1/platform/limits/).
 * - Subrequests per invocation: 50 external and 1,000 to Cloudflare services Free, 10,000 Paid
 *   (https://developers.cloudflare.com/workers/platform/limits/#subrequests).
 * - Queues sendBatch: 100 messages and 256 KB per call
 *   (https://developers.cloudflare.com/queues/platform/limits/); sendPaged pages the delete
 *   messages, so 200 documents of a namespace are 2 sends.
 * 20 namespaces (about 100 subrequests and 220 D1 queries) stay inside Paid's figures next to the
 * health check; on Free, whose 50 queries the health check already takes about half of, one
 * namespace a run. Vectors are deleted by the queue consumer, a message per document, within its
 * own invocation's Vectorize limits.
 */
export const PURGE_LIMITS = {
  documents: 200,
  namespaces: { paid: 20, free: 1 },
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
