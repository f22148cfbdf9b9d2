// Workers KV's per-key write limit, enforced where the local simulator does not enforce it, and
// its error mapped onto our vocabulary. KV allows one write per second to the same key
// ("Writes to same key: 1 per second", https://developers.cloudflare.com/kv/platform/limits/;
// "Writes made to the same key within 1 second will cause rate limiting (429) errors",
// https://developers.cloudflare.com/kv/api/write-key-value-pairs/), on every plan, and refuses
// the next write with the error "KV PUT failed: 429 Too Many Requests". Miniflare's KV (local
// mode, tests) accepts any number of writes; it does enforce the 512-byte key, 25 MiB value,
// 1024-byte metadata and 60 s expirationTtl limits itself, so only the write rate is added here.
import { AppError } from "../errors";

export const KV_SAME_KEY_WRITE_INTERVAL_MS = 1000;
/**
 * KV's shortest expirationTtl (https://developers.cloudflare.com/kv/api/write-key-value-pairs/);
 * under it: "KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration TTL must be at least 60."
 */
export const MIN_KV_TTL_SECONDS = 60;
/** The error KV's binding throws for a second write to a key within a second. */
export const KV_WRITE_RATE_LIMITED = "KV PUT failed: 429 Too Many Requests";

// Isolate-lifetime: when each key was last written through a strict binding. This Worker binds
// one KV namespace, so keys alone identify entries. Bounded by pruning what is past the window.
const lastWrites = new Map<string, number>();
const PRUNE_AT = 10_000;
let refused = 0;

/** Writes the strict bindings of this isolate refused so far (tests and dev logs read it). */
export function strictKvRefusals(): number {
  return refused;
}

/** `kv` with its put replaced; every other property is the binding's own. */
function withPut(kv: KVNamespace, put: KVNamespace["put"]): KVNamespace {
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === "put") return put;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function prune(now: number): void {
  for (const [key, at] of lastWrites) {
    if (now - at >= KV_SAME_KEY_WRITE_INTERVAL_MS) lastWrites.delete(key);
  }
}

/**
 * `kv` refusing, as Workers KV does, a put to a key written less than a second before, with the
 * platform's error. For local mode and tests only (BACKEND=local): there, Durable Objects and the
 * Worker share one isolate, so every writer of a key is seen; in production KV enforces it.
 */
export function strictKv(kv: KVNamespace, now: () => number = Date.now): KVNamespace {
  const put: KVNamespace["put"] = async (key, value, options) => {
    const at = now();
    const last = lastWrites.get(key);
    if (last !== undefined && at - last < KV_SAME_KEY_WRITE_INTERVAL_MS) {
      refused++;
      throw new Error(KV_WRITE_RATE_LIMITED);
    }
    if (lastWrites.size >= PRUNE_AT) prune(at);
    lastWrites.set(key, at);
    return kv.put(key, value, options);
  };
  return withPut(kv, put);
}

export function isKvWriteRateLimited(err: unknown): boolean {
  return err instanceof Error && err.message.includes("KV PUT failed: 429");
}

/**
 * `kv` whose per-key write limit surfaces as a non-retryable "rate_limited" AppError: another
 * writer wrote the key this second, so retrying now fails again, and it says nothing about KV's
 * health (the circuit breaker must not count it). Other failures pass through unchanged.
 */
export function kvWriteLimitErrors(kv: KVNamespace): KVNamespace {
  const put: KVNamespace["put"] = async (key, value, options) => {
    try {
      return await kv.put(key, value, options);
    } catch (err) {
      if (!isKvWriteRateLimited(err)) throw err;
      throw new AppError("rate_limited", `KV refused a second write to one key within a second: ${key}`, {
        retryable: false,
        cause: err,
      });
    }
  };
  return withPut(kv, put);
}
