// Namespace write generations on the query path. D1 counts them (every indexed write or delete
// bumps it); writers publish the new value to KV, and searches read it from KV through a short
// isolate cache. A search sees a write within GENERATION_CACHE_TTL in the writer's location and
// within KV's propagation (about 60 s) elsewhere; cached answers also expire after their TTL.
// The publication time matters too: vector writes become visible asynchronously, so answers
// computed shortly after a write are not cached (see RESULT_CACHE_SETTLE_MS).
import { errorMessage } from "../errors";
import type { Logger } from "../observe/logger";
import { d1 } from "../store/d1";

export interface Generation {
  generation: number;
  /** When the generation was published (ms); 0 when never written. */
  writtenAt: number;
}

interface Cached extends Generation {
  until: number;
}

// Isolate-lifetime: generations read recently, per namespace (bounded).
const isolateGenerations = new Map<string, Cached>();
const MAX_CACHED = 10_000;

const kvKey = (namespace: string) => `gen1:${namespace}`;

function remember(namespace: string, value: Generation, until: number): void {
  isolateGenerations.delete(namespace);
  isolateGenerations.set(namespace, { ...value, until });
  if (isolateGenerations.size > MAX_CACHED) {
    const oldest = isolateGenerations.keys().next().value;
    if (oldest !== undefined) isolateGenerations.delete(oldest);
  }
}

/** KV value: "<generation>:<published at, ms>". */
export function parseGeneration(raw: string | null): Generation | null {
  if (raw === null) return { generation: 0, writtenAt: 0 };
  const m = /^(\d+):(\d+)$/.exec(raw);
  return m ? { generation: Number(m[1]), writtenAt: Number(m[2]) } : null;
}

/** The namespace's generation as the query path sees it; null when KV cannot say (do not cache). */
export async function readGeneration(
  kv: KVNamespace,
  namespace: string,
  ttlMs: number,
  logger: Logger,
  now = Date.now(),
): Promise<Generation | null> {
  const hit = isolateGenerations.get(namespace);
  if (hit && hit.until > now) return { generation: hit.generation, writtenAt: hit.writtenAt };
  try {
    const value = parseGeneration(await kv.get(kvKey(namespace)));
    if (!value) return null;
    remember(namespace, value, now + ttlMs);
    return value;
  } catch (err) {
    logger.warn("cache.read_failed", { layer: "kv-generation", namespace, error: errorMessage(err) });
    return null;
  }
}

/** Reads the namespaces' generations from D1 and publishes them to KV and this isolate. */
export async function publishGenerations(
  db: D1Database,
  kv: KVNamespace,
  namespaces: Iterable<string>,
  logger: Logger,
): Promise<void> {
  const names = [...new Set(namespaces)];
  if (names.length === 0) return;
  try {
    const { results } = await d1("read generations", () =>
      db
        .prepare("SELECT name, generation FROM namespaces WHERE name IN (SELECT value FROM json_each(?1))")
        .bind(JSON.stringify(names))
        .all<{ name: string; generation: number }>(),
    );
    await Promise.all(
      results.map(async (r) => {
        // This isolate (often the one that wrote) sees the new generation at once.
        isolateGenerations.delete(r.name);
        await kv.put(kvKey(r.name), `${r.generation}:${Date.now()}`);
      }),
    );
  } catch (err) {
    // Cached answers then live until their TTL; logged so a persistent failure is visible.
    logger.warn("cache.generation_publish_failed", { namespaces: names, error: errorMessage(err) });
  }
}
