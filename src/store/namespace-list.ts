// The namespaces a key's patterns cover that hold documents, across the pool of data databases.
import { canAccessNamespace, type Principal } from "../auth/scopes";
import { type D1Like, d1 } from "./d1";
import { D1_LIMITS } from "./d1-limits";

export interface NamespaceEntry {
  namespace: string;
  documents: number;
}

export interface NamespaceList {
  namespaces: NamespaceEntry[];
  /** Whether more namespaces than `limit` matched (the list holds the first in name order). */
  truncated: boolean;
}

// A namespace name is [a-z0-9_-]: every name with a prefix sorts from the prefix itself up to the
// prefix followed by "~", which sorts after all of those characters. As ranges and equalities on
// the primary key, each pattern is a search of the index, never a scan of every tenant's rows.
const AFTER_NAME_CHARS = "~";

/** The SQL condition and values that select the namespaces the patterns cover ("1" for "*"). */
export function patternCondition(patterns: readonly string[]): { sql: string; values: string[] } {
  if (patterns.includes("*")) return { sql: "1", values: [] };
  const terms: string[] = [];
  const values: string[] = [];
  for (const pattern of patterns) {
    if (pattern.endsWith("*")) {
      const prefix = pattern.slice(0, -1);
      values.push(prefix, prefix + AFTER_NAME_CHARS);
      terms.push(`(namespace >= ?${values.length - 1} AND namespace < ?${values.length})`);
    } else {
      values.push(pattern);
      terms.push(`namespace = ?${values.length}`);
    }
  }
  return { sql: terms.length === 0 ? "0" : terms.join(" OR "), values };
}

/**
 * The patterns in groups whose statement stays within D1's bound parameters (two per prefix
 * pattern, and the LIMIT); a key holds at most 32 patterns today, one group.
 */
export function patternGroups(patterns: readonly string[]): string[][] {
  const size = Math.floor((D1_LIMITS.maxBoundParameters - 1) / 2);
  const groups: string[][] = [];
  for (let i = 0; i < patterns.length; i += size) groups.push(patterns.slice(i, i + size));
  return groups;
}

/**
 * The namespaces with documents that the principal's patterns cover, in name order, at most
 * `limit`. A namespace being moved between databases is counted once.
 */
export async function listCoveredNamespaces(
  databases: readonly D1Like[],
  principal: Principal,
  limit: number,
): Promise<NamespaceList> {
  const conditions = patternGroups(principal.namespaces).map(patternCondition);
  const pages = await d1("list covered namespaces", () =>
    Promise.all(
      databases.flatMap((db) =>
        conditions.map(({ sql, values }) =>
          db
            .prepare(
              `SELECT namespace, documents FROM namespace_usage WHERE documents > 0 AND (${sql})
               ORDER BY namespace LIMIT ?${values.length + 1}`,
            )
            .bind(...values, limit + 1)
            .all<NamespaceEntry>(),
        ),
      ),
    ),
  );
  const found = new Map<string, NamespaceEntry>();
  for (const { results } of pages) {
    for (const row of results) {
      // The query's patterns are the key's; checked again with the API's own rule.
      if (!found.has(row.namespace) && canAccessNamespace(principal, row.namespace)) {
        found.set(row.namespace, { namespace: row.namespace, documents: row.documents });
      }
    }
  }
  const sorted = [...found.values()].sort((a, b) => (a.namespace < b.namespace ? -1 : 1));
  return { namespaces: sorted.slice(0, limit), truncated: sorted.length > limit };
}
