// Turns an Authorization header into a Principal, or a 401. Keys are looked up in D1 behind an
// isolate cache: a revoked key (and every key created from it) stops working within
// KEY_CACHE_TTL_SECONDS (30 s by default) in every isolate, at once in the one that revoked it.
import { AppError } from "../errors";
import { setBounded } from "../util/bounded-map";
import type { KeyStore } from "./key-store";
import { toPrincipal } from "./key-store";
import { matchesDigest, parseKey, sha256, sha256Hex, timingSafeEqualStrings } from "./keys";
import type { Principal } from "./scopes";

export const ADMIN_SECRET_KEY_ID = "admin-secret";

/** The principal of the ADMIN_API_KEY secret. */
export const ADMIN_PRINCIPAL: Principal = {
  keyId: ADMIN_SECRET_KEY_ID,
  name: "admin (ADMIN_API_KEY)",
  namespaces: ["*"],
  roles: ["admin"],
  rateLimit: "unlimited",
  expiresAt: null,
};

/**
 * How many key lookups an isolate keeps. Keys that exist and key ids that do not are kept apart,
 * each bounded, oldest first out: a flood of made-up ids neither reaches D1 twice per id within
 * the TTL nor pushes real keys out of the cache.
 */
export const KEY_CACHE_LIMITS = { known: 10_000, unknown: 10_000 } as const;

interface CacheEntry {
  principal: Principal;
  secretHash: string;
  expiresAt: number | null;
  cachedUntil: number;
}

// Isolate-lifetime caches of key lookups: usable keys, and ids that are unknown or revoked (the
// time each stops being trusted). Both expire after KEY_CACHE_TTL_SECONDS.
const keyCache = new Map<string, CacheEntry>();
const unknownKeys = new Map<string, number>();

// Isolate-lifetime: the digest of the configured admin key, computed once.
let adminDigest: { key: string; digest: Promise<Uint8Array> } | undefined;
function adminKeyDigest(key: string): Promise<Uint8Array> {
  if (adminDigest?.key !== key) adminDigest = { key, digest: sha256(key) };
  return adminDigest.digest;
}

export function clearKeyCache(): void {
  keyCache.clear();
  unknownKeys.clear();
}

export interface AuthOptions {
  keys: KeyStore;
  /** The bootstrap admin key from the ADMIN_API_KEY secret, if set. */
  adminKey: string | undefined;
  cacheTtlMs: number;
  now?: number;
}

export function bearerToken(header: string | undefined): string {
  if (!header)
    throw new AppError("unauthorized", "missing Authorization header; send 'Authorization: Bearer <key>'");
  // The scheme name is case-insensitive (RFC 9110).
  const m = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header.trim());
  if (!m?.[1]) throw new AppError("unauthorized", "malformed Authorization header; expected 'Bearer <key>'");
  return m[1];
}

export async function authenticate(header: string | undefined, opts: AuthOptions): Promise<Principal> {
  const token = bearerToken(header);
  const now = opts.now ?? Date.now();
  // Every token is compared with the admin key, whatever its length (digests: see matchesDigest).
  if (opts.adminKey && (await matchesDigest(token, await adminKeyDigest(opts.adminKey)))) {
    return ADMIN_PRINCIPAL;
  }
  const parsed = parseKey(token);
  if (!parsed) throw new AppError("unauthorized", "invalid API key");
  let entry = keyCache.get(parsed.id);
  if (!entry || entry.cachedUntil <= now) {
    const unknownUntil = unknownKeys.get(parsed.id);
    if (unknownUntil !== undefined && unknownUntil > now)
      throw new AppError("unauthorized", "invalid API key");
    const found = await opts.keys.find(parsed.id);
    if (!found || found.record.revokedAt !== null) {
      keyCache.delete(parsed.id);
      setBounded(unknownKeys, parsed.id, now + opts.cacheTtlMs, KEY_CACHE_LIMITS.unknown);
      throw new AppError("unauthorized", "invalid API key");
    }
    entry = {
      principal: toPrincipal(found.record),
      secretHash: found.secretHash,
      expiresAt: found.record.expiresAt,
      cachedUntil: now + opts.cacheTtlMs,
    };
    unknownKeys.delete(parsed.id);
    setBounded(keyCache, parsed.id, entry, KEY_CACHE_LIMITS.known);
  }
  const hash = await sha256Hex(parsed.secret);
  if (!timingSafeEqualStrings(hash, entry.secretHash)) throw new AppError("unauthorized", "invalid API key");
  if (entry.expiresAt !== null && entry.expiresAt <= now)
    throw new AppError("unauthorized", "API key has expired");
  return entry.principal;
}
