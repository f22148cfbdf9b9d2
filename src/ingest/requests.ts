// What the documents API asks: write documents (checked, within quota, then stored and queued),
// read one's record, delete one, and delete a namespace's documents a bounded amount per call.
// A delete publishes the namespace's new generation before it answers, so the next search is
// not answered from a cache that still holds what was deleted.
import type { Principal } from "../auth/scopes";
import { type GenerationPublisher, publishGenerations } from "../cache/generation";
import { AppError } from "../errors";
import type { Logger } from "../observe/logger";
import { type QuotaDeps, reserveWrite } from "../quotas/enforce";
import type { DocumentRecord, DocumentStore } from "../store/documents";
import {
  checkDocuments,
  deleteDocuments,
  type NewDocument,
  type SubmitDeps,
  submitDocuments,
} from "./submit";

const NAMESPACE_DELETE_PAGE = 1000;
/** Documents a namespace delete removes per call; the caller repeats while some remain. */
export const NAMESPACE_DELETE_MAX = 5000;

/**
 * Writes documents for `principal`: all are checked, and the namespace's quotas reserved for all,
 * before any is written. `field` names a document's place in the request for errors.
 */
export async function writeDocuments(
  deps: SubmitDeps & QuotaDeps,
  principal: Principal,
  namespace: string,
  docs: NewDocument[],
  field: (i: number) => string,
): Promise<void> {
  checkDocuments(docs, deps.config, field);
  // All or nothing: a batch that does not fit its quotas is refused whole.
  const reservation = await reserveWrite(deps, principal, namespace, docs, field);
  const stamped = withDefaultExpiry(docs, reservation.defaultTtlSeconds);
  await submitDocuments(deps, namespace, stamped).finally(() => reservation.release());
}

/**
 * The namespace's default time to live applied at write time: a document written without
 * expiresAt expires `ttlSeconds` after the write; one with expiresAt keeps its own.
 */
export function withDefaultExpiry(
  docs: NewDocument[],
  ttlSeconds: number | null,
  now = Date.now(),
): NewDocument[] {
  if (ttlSeconds === null) return docs;
  const expiresAt = new Date(now + ttlSeconds * 1000).toISOString();
  return docs.map((doc) => (doc.expiresAt === undefined ? { ...doc, expiresAt } : doc));
}

/** The document's record, or a 404. */
export async function getDocument(
  store: Pick<DocumentStore, "get">,
  namespace: string,
  id: string,
): Promise<DocumentRecord> {
  const row = await store.get(namespace, id);
  if (!row) throw new AppError("not_found", `document "${id}" does not exist in namespace "${namespace}"`);
  return row;
}

export interface DeleteDeps extends SubmitDeps {
  /** The namespace's generation publisher (its coordinator). */
  publisher: (namespace: string) => GenerationPublisher;
  logger: Logger;
}

/** Deletes a document: it leaves search results at once, its vectors shortly after. */
export async function deleteDocument(deps: DeleteDeps, namespace: string, id: string): Promise<void> {
  await getDocument(deps.store, namespace, id);
  await deleteDocuments(deps, namespace, [id]);
  await publishGeneration(deps, namespace);
}

/** Deletes up to NAMESPACE_DELETE_MAX of the namespace's documents; says whether any remain. */
export async function deleteNamespaceDocuments(
  deps: DeleteDeps,
  namespace: string,
): Promise<{ accepted: number; remaining: boolean }> {
  let accepted = 0;
  while (accepted < NAMESPACE_DELETE_MAX) {
    const ids = await deps.store.listLiveIds(namespace, NAMESPACE_DELETE_PAGE);
    if (ids.length === 0) break;
    await deleteDocuments(deps, namespace, ids);
    accepted += ids.length;
  }
  if (accepted > 0) await publishGeneration(deps, namespace);
  const remaining = (await deps.store.listLiveIds(namespace, 1)).length > 0;
  return { accepted, remaining };
}

/**
 * Deletes those of `ids` that are still expired at `now` (a write since the purge listed them may
 * have moved or cleared their expiry), as a DELETE does; answers how many it deleted.
 */
export async function deleteExpired(
  deps: DeleteDeps,
  namespace: string,
  ids: string[],
  now: number,
): Promise<number> {
  const expired = await deps.store.expiredAmong(namespace, ids, now);
  if (expired.length === 0) return 0;
  await deleteDocuments(deps, namespace, expired);
  await publishGeneration(deps, namespace);
  return expired.length;
}

/** Publishes the namespace's new generation, so no cached answer from before a change is served. */
export function publishGeneration(deps: DeleteDeps, namespace: string): Promise<void> {
  return publishGenerations(deps.publisher, [namespace], deps.config.generationCacheTtlMs, deps.logger);
}
