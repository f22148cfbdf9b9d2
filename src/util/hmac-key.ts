// HMAC-SHA-256 keys derived from a secret with HKDF: one secret (ADMIN_API_KEY) signs several
// kinds of things, each under its own derived key, so a signature of one kind never verifies as
// another.

export const HMAC_SHA256 = { name: "HMAC", hash: "SHA-256" } as const;

const encoder = new TextEncoder();

/** The HMAC-SHA-256 key HKDF-SHA-256 derives from `secret` for `info` (what the key signs). */
export async function derivedHmacKey(secret: string, info: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", encoder.encode(secret), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode(info) },
    base,
    { ...HMAC_SHA256, length: 256 },
    false,
    ["sign", "verify"],
  );
}

/**
 * The key HKDF derives for `info` from a secret, derived once per secret (isolate-lifetime: the
 * last secret seen, one per deployment); null without a secret.
 */
export function derivedKeyOf(info: string): (secret: string | undefined) => Promise<CryptoKey | null> {
  let derived: { secret: string; key: Promise<CryptoKey> } | undefined;
  return (secret) => {
    if (!secret) return Promise.resolve(null);
    if (derived?.secret !== secret) derived = { secret, key: derivedHmacKey(secret, info) };
    return derived.key;
  };
}
