// Console sessions: a browser signs in once with an API key and then carries a signed token, never
// the key. The token names the key's id, a random session id and an expiry, signed with HMAC-SHA-256
// under CONSOLE_SESSION_KEY or a key derived from ADMIN_API_KEY (HKDF, as backup manifests are
// signed: src/backup/signature.ts). Every request re-reads the key from the key store, so a revoked
// or expired key ends its sessions at once; a signed-out session id is kept in KV until the token
// would have expired anyway.
import type { Config } from "../config";
import { AppError } from "../errors";
import { base64url } from "../util/encoding";
import { derivedHmacKey, HMAC_SHA256 } from "../util/hmac-key";
import { ADMIN_PRINCIPAL, ADMIN_SECRET_KEY_ID } from "./authenticate";
import { type KeyStore, toPrincipal } from "./key-store";
import type { Principal } from "./scopes";

/** How long a console session lasts (never past the key's own expiry). */
export const SESSION_TTL_MS = 30 * 60_000;
const TOKEN_VERSION = "v1";
const DERIVATION_INFO = "edgesearch console session key v1";
const encoder = new TextEncoder();

export interface Session {
  keyId: string;
  /** Random per sign-in: what a sign-out revokes and what the CSRF token is bound to. */
  sessionId: string;
  expiresAt: number;
  /** For the ADMIN_API_KEY principal: a digest of that secret, so rotating it ends the session. */
  admin?: string;
}

type KeyConfig = Pick<Config, "consoleSessionKey" | "adminApiKey">;

// Isolate-lifetime: the derived signing key per secret, computed once.
let cached: { secret: string; key: Promise<CryptoKey> } | undefined;

async function signingKey(config: KeyConfig): Promise<CryptoKey> {
  const secret = config.consoleSessionKey ?? config.adminApiKey;
  if (!secret) {
    throw new AppError(
      "unavailable",
      "the console signs its sessions, and this deployment has no key to sign them with: set the secret CONSOLE_SESSION_KEY (or ADMIN_API_KEY)",
      { retryable: false },
    );
  }
  if (cached?.secret !== secret) {
    const key = config.consoleSessionKey
      ? crypto.subtle.importKey("raw", encoder.encode(secret), HMAC_SHA256, false, ["sign", "verify"])
      : derivedHmacKey(secret, DERIVATION_INFO);
    cached = { secret, key };
  }
  return cached.key;
}

async function mac(config: KeyConfig, text: string): Promise<string> {
  const sig = await crypto.subtle.sign("HMAC", await signingKey(config), encoder.encode(text));
  return base64url(new Uint8Array(sig));
}

async function adminDigest(config: KeyConfig): Promise<string> {
  return (await mac(config, `admin:${config.adminApiKey ?? ""}`)).slice(0, 22);
}

function base64UrlDecode(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

/** A new session for `principal`, and its token (the cookie's value). */
export async function issueSession(
  config: KeyConfig,
  principal: Principal,
  now = Date.now(),
): Promise<{ session: Session; token: string }> {
  const expiresAt = Math.min(now + SESSION_TTL_MS, principal.expiresAt ?? Number.POSITIVE_INFINITY);
  const session: Session = {
    keyId: principal.keyId,
    sessionId: base64url(crypto.getRandomValues(new Uint8Array(16))),
    expiresAt,
    ...(principal.keyId === ADMIN_SECRET_KEY_ID ? { admin: await adminDigest(config) } : {}),
  };
  const payload = base64url(encoder.encode(JSON.stringify(session)));
  const body = `${TOKEN_VERSION}.${payload}`;
  return { session, token: `${body}.${await mac(config, body)}` };
}

function parsePayload(payload: string): Session | null {
  try {
    const v: unknown = JSON.parse(new TextDecoder().decode(base64UrlDecode(payload)));
    if (typeof v !== "object" || v === null) return null;
    const s = v as Record<string, unknown>;
    if (typeof s.keyId !== "string" || typeof s.sessionId !== "string" || typeof s.expiresAt !== "number")
      return null;
    if (s.admin !== undefined && typeof s.admin !== "string") return null;
    return {
      keyId: s.keyId,
      sessionId: s.sessionId,
      expiresAt: s.expiresAt,
      ...(typeof s.admin === "string" ? { admin: s.admin } : {}),
    };
  } catch {
    return null;
  }
}

/** The session a token carries if its signature holds and it has not expired; else null. */
export async function verifySessionToken(
  config: KeyConfig,
  token: string,
  now = Date.now(),
): Promise<Session | null> {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== TOKEN_VERSION || !parts[1] || !parts[2]) return null;
  let sig: Uint8Array;
  try {
    sig = base64UrlDecode(parts[2]);
  } catch {
    return null;
  }
  const body = `${parts[0]}.${parts[1]}`;
  // crypto.subtle.verify compares in constant time.
  if (!(await crypto.subtle.verify("HMAC", await signingKey(config), sig, encoder.encode(body)))) return null;
  const session = parsePayload(parts[1]);
  if (!session || session.expiresAt <= now) return null;
  return session;
}

/**
 * The principal of a session's key as the key store holds it now: null when the key was revoked,
 * has expired, or (the ADMIN_API_KEY principal) the secret was rotated.
 */
export async function sessionPrincipal(
  config: KeyConfig,
  keys: KeyStore,
  session: Session,
  now = Date.now(),
): Promise<Principal | null> {
  if (session.keyId === ADMIN_SECRET_KEY_ID) {
    if (!config.adminApiKey || session.admin !== (await adminDigest(config))) return null;
    return ADMIN_PRINCIPAL;
  }
  const found = await keys.find(session.keyId);
  if (!found || found.record.revokedAt !== null) return null;
  if (found.record.expiresAt !== null && found.record.expiresAt <= now) return null;
  return toPrincipal(found.record);
}

/** The synchronizer token of a session's forms: bound to its session id, useless for any other. */
export function csrfToken(config: KeyConfig, session: Session): Promise<string> {
  return mac(config, `csrf:${session.sessionId}`);
}

/** Whether a form's token is its session's, compared in constant time. */
export async function csrfTokenValid(config: KeyConfig, session: Session, token: string): Promise<boolean> {
  let sig: Uint8Array;
  try {
    sig = base64UrlDecode(token);
  } catch {
    return false;
  }
  return crypto.subtle.verify(
    "HMAC",
    await signingKey(config),
    sig,
    encoder.encode(`csrf:${session.sessionId}`),
  );
}
