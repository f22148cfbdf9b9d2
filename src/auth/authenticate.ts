// Turns an Authorization header into a Principal, or a 401. Keys are looked up in D1 behind an
// isolate cache: a revoked key stops working within KEY_CACHE_TTL_SECONDS (30 s by default).
import { AppError } from "../errors";
import type { KeyStore } from "./key-store";
import { toPrincipal } from "./key-store";
import { matchesDigest, parseKey, sha256, sha256Hex, timingSafeEqualStrings } from "./keys";
import type { Principal } from "./scopes";

export const ADMIN_SECRET_KEY_ID = "admin-secret";
const MAX_CACHED_KEYS = 10_000;

interface CacheEntry {
  /** null: the key does not exist, or is revoked or expired (negative entries expire too). */
  principal: Principal | null;
  secretHash: string | null;
  expiresAt: number | null;
  cachedUntil: number;
}

// Isolate-lifetime cache of key lookups, bounded; oldest entries go first.
const keyCache = new Map<string, CacheEntry>();

// Isolate-lifetime: the digest of the configured admin key, computed once.
let adminDigest: { key: string; digest: Promise<Uint8Array> } | undefined;
function adminKeyDigest(key: string): Promise<Uint8Array> {
  if (adminDigest?.key !== key) adminDigest = { key, digest: sha256(key) };
  return adminDigest.digest;
}

export function clearKeyCache(): void {
  keyCache.clear();
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
    return {
      keyId: ADMIN_SECRET_KEY_ID,
      name: "admin (ADMIN_API_KEY)",
      namespaces: ["*"],
      roles: ["admin"],
      rateLimit: "unlimited",
      expiresAt: null,
    };
  }
  const parsed = parseKey(token);
  if (!parsed) throw new AppError("unauthorized", "invalid API key");
  let entry = keyCache.get(parsed.id);
  if (!entry || entry.cachedUntil <= now) {
    const found = await opts.keys.find(parsed.id);
    const usable = found && found.record.revokedAt === null;
    entry = {
      principal: usable ? toPrincipal(found.record) : null,
      secretHash: usable ? found.secretHash : null,
      expiresAt: found?.record.expiresAt ?? null,
      cachedUntil: now + opts.cacheTtlMs,
    };
    keyCache.delete(parsed.id);
    keyCache.set(parsed.id, entry);
    if (keyCache.size > MAX_CACHED_KEYS) {
      const oldest = keyCache.keys().next().value;
      if (oldest !== undefined) keyCache.delete(oldest);
    }
  }
  const hash = await sha256Hex(parsed.secret);
  if (!entry.principal || !entry.secretHash || !timingSafeEqualStrings(hash, entry.secretHash)) {
    throw new AppError("unauthorized", "invalid API key");
  }
  if (entry.expiresAt !== null && entry.expiresAt <= now)
    throw new AppError("unauthorized", "API key has expired");
  return entry.principal;
}
