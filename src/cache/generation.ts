// Namespace write generations on the query path. D1 counts them (every indexed write or delete
// bumps it); the namespace's coordinator object publishes the new value to KV, and searches read
// it from KV through a short isolate cache. KV takes one write per second per key, so the
// coordinator paces the key's writes (workers/objects/paced-write.ts): a publication waits at
// most about a second for its turn, and many concurrent writers share one write. The queue
// consumer does not wait for it: the coordinator's alarm writes it in its turn. The isolate
// that asked for the publication sees the new generation at once; other isolates within that
// turn (about a second) plus GENERATION_CACHE_TTL in the coordinator's location and within KV's
// propagation (up to 60 s) elsewhere; cached answers also expire after their TTL. The publication time matters too:
// vector writes become visible asynchronously, so answers computed shortly after a write are not
// cached (see RESULT_CACHE_SETTLE_MS).
import { errorMessage } from "../errors";
import type { Logger } from "../observe/logger";

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

/** Forgets this isolate's generations (tests: an isolate that read none yet). */
export function clearGenerationCache(namespace?: string): void {
  if (namespace === undefined) isolateGenerations.clear();
  else isolateGenerations.delete(namespace);
}

/** The KV key of a namespace's generation ("gen1:" and a namespace of at most 63 bytes: far below KV's 512). */
export const generationKey = (namespace: string) => `gen1:${namespace}`;

function remember(namespace: string, value: Generation, until: number): void {
  isolateGenerations.delete(namespace);
  isolateGenerations.set(namespace, { ...value, until });
  if (isolateGenerations.size > MAX_CACHED) {
    const oldest = isolateGenerations.keys().next().value;
    if (oldest !== undefined) isolateGenerations.delete(oldest);
  }
}

/** KV value: "<generation>:<published at, ms>". */
export function formatGeneration(value: Generation): string {
  return `${value.generation}:${value.writtenAt}`;
}

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
    let value = parseGeneration(await kv.get(generationKey(namespace)));
    if (!value) return null;
    // A generation never goes back: an older one read from a lagging KV location is ignored.
    if (hit && hit.generation > value.generation)
      value = { generation: hit.generation, writtenAt: hit.writtenAt };
    remember(namespace, value, now + ttlMs);
    return value;
  } catch (err) {
    logger.warn("cache.read_failed", { layer: "kv-generation", namespace, error: errorMessage(err) });
    return null;
  }
}

/** Publishes a namespace's generation: its coordinator (src/versions/coordinator.ts). */
export interface GenerationPublisher {
  /** Resolves once a KV write covering every change made before the call is done. */
  publishGeneration(): Promise<Generation | null>;
  /**
   * Resolves once a KV write covering every change made before the call is scheduled (done
   * within about a second); returns the generation it will publish, null when unknown.
   */
  requestPublish(): Promise<Generation | null>;
}

/**
 * Has the namespaces' generations (D1's) published to KV, and remembers them in this isolate
 * for `ttlMs`. `wait`: until the paced KV write is done (an API answer that promises it), or
 * only until it is scheduled (the queue consumer: a batch never waits for KV's pacing). A
 * failure is logged, not thrown: cached answers then live until their TTL.
 */
export async function publishGenerations(
  publisher: (namespace: string) => GenerationPublisher,
  namespaces: Iterable<string>,
  ttlMs: number,
  logger: Logger,
  wait: "written" | "scheduled" = "written",
): Promise<void> {
  await Promise.all(
    [...new Set(namespaces)].map(async (namespace) => {
      try {
        const coordinator = publisher(namespace);
        const published =
          wait === "written" ? await coordinator.publishGeneration() : await coordinator.requestPublish();
        // This isolate (often the one that wrote) sees the new generation at once, wherever
        // KV's write happened.
        if (published) remember(namespace, published, Date.now() + ttlMs);
        else isolateGenerations.delete(namespace);
      } catch (err) {
        logger.warn("cache.generation_publish_failed", { namespace, error: errorMessage(err) });
      }
    }),
  );
}
