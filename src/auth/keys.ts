// API key format and hashing. A key is "es_<id>_<secret>": the id (16 base62 characters) finds
// the record, the secret (32 random bytes, base64url) proves possession. Only SHA-256 of the
// secret is stored (the secret has 256 bits of entropy, so a slow hash adds nothing), and it is
// compared in constant time.
import { base64url } from "../util/encoding";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const KEY_PATTERN = /^es_([0-9A-Za-z]{16})_([A-Za-z0-9_-]{43})$/;
const encoder = new TextEncoder();

export interface ParsedKey {
  id: string;
  secret: string;
}

export function generateKey(): { id: string; secret: string; key: string } {
  const idBytes = crypto.getRandomValues(new Uint8Array(16));
  const id = Array.from(idBytes, (b) => ALPHABET[b % 62]).join("");
  const secret = base64url(crypto.getRandomValues(new Uint8Array(32)));
  return { id, secret, key: `es_${id}_${secret}` };
}

export function parseKey(key: string): ParsedKey | null {
  const m = KEY_PATTERN.exec(key);
  return m?.[1] && m[2] ? { id: m[1], secret: m[2] } : null;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/**
 * Whether `candidate` is the secret whose SHA-256 digest is `digest`. Both sides of the
 * comparison are 32-byte digests, so its time depends on neither value nor on their lengths.
 */
export async function matchesDigest(candidate: string, digest: Uint8Array): Promise<boolean> {
  return crypto.subtle.timingSafeEqual(await sha256(candidate), digest);
}

/** Constant-time equality of two strings of equal length (hex digests). */
export function timingSafeEqualStrings(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  if (x.byteLength !== y.byteLength) return false;
  return crypto.subtle.timingSafeEqual(x, y);
}
