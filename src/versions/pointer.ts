// The active-version pointer on the query path: published to KV by the namespace's coordinator,
// read through an isolate cache, so a search never waits on the coordinator object. A namespace
// that never had a pointer published is on the default version.
import { z } from "zod";
import type { Logger } from "../observe/logger";
import { type VersionPointer, type VersionSpec, VersionSpecSchema } from "./model";

export function pointerKey(namespace: string): string {
  return `ver1:${namespace}`;
}

export const VersionPointerSchema = z.object({
  active: VersionSpecSchema,
  live: z.array(VersionSpecSchema),
  epoch: z.number().int().min(0),
  // Absent in pointers published before the pool of data databases: those namespaces are on DB.
  database: z.string().min(1).max(64).optional(),
  moving: z.string().min(1).max(64).nullable().optional(),
  experiment: z
    .object({
      id: z.string().regex(/^e[0-9]{1,6}$/),
      control: z.string(),
      candidate: VersionSpecSchema,
      share: z.number().min(0).max(1),
      shadowShare: z.number().min(0).max(1),
    })
    .optional(),
});

interface Entry {
  pointer: VersionPointer | null;
  expiresAt: number;
}

// Isolate-lifetime cache; bounded by clearing (entries are cheap to read again).
const cache = new Map<string, Entry>();
const CACHE_LIMIT = 10_000;

/** Forgets this isolate's pointers (tests, and the coordinator's own isolate after a change). */
export function clearPointerCache(namespace?: string): void {
  if (namespace === undefined) cache.clear();
  else cache.delete(namespace);
}

/** Keeps a pointer the coordinator answered with, unless this isolate holds a newer one. */
export function rememberPointer(
  namespace: string,
  pointer: VersionPointer,
  ttlMs: number,
  now = Date.now(),
): void {
  const hit = cache.get(namespace);
  if (hit?.pointer && hit.pointer.epoch > pointer.epoch) return;
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(namespace, { pointer, expiresAt: now + ttlMs });
}

/**
 * The namespace's active version: from the isolate cache when younger than `ttlMs`, else from KV.
 * When KV fails, the last pointer this isolate saw (however old) or the default version answers,
 * since a search must not fail because the pointer could not be refreshed.
 */
export async function readActiveVersion(
  kv: KVNamespace,
  namespace: string,
  ttlMs: number,
  fallback: VersionSpec,
  logger: Logger,
  now = Date.now(),
): Promise<VersionSpec> {
  return (await readPointer(kv, namespace, ttlMs, logger, now))?.active ?? fallback;
}

/**
 * The namespace's published pointer (null: none was ever published), through the isolate cache
 * as readActiveVersion reads it; when KV fails, the last one this isolate saw.
 */
export async function readPointer(
  kv: KVNamespace,
  namespace: string,
  ttlMs: number,
  logger: Logger,
  now = Date.now(),
): Promise<VersionPointer | null> {
  const hit = cache.get(namespace);
  if (hit && hit.expiresAt > now) return hit.pointer;
  let pointer: VersionPointer | null;
  try {
    const raw = await kv.get(pointerKey(namespace), "json");
    const parsed = raw === null ? null : VersionPointerSchema.safeParse(raw);
    if (parsed && !parsed.success) {
      logger.error("versions.pointer_invalid", { namespace, issue: parsed.error.issues[0]?.message });
    }
    pointer = parsed?.success ? parsed.data : null;
  } catch (err) {
    logger.warn("versions.pointer_unavailable", { namespace, error: String(err) });
    return hit?.pointer ?? null;
  }
  // A pointer never goes back: an older epoch read from a lagging KV replica is ignored.
  if (hit?.pointer && (pointer === null || pointer.epoch < hit.pointer.epoch)) pointer = hit.pointer;
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(namespace, { pointer, expiresAt: now + ttlMs });
  return pointer;
}
