// Byte encodings shared by ids and keys.

export function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export function base64url(bytes: Uint8Array): string {
  return base64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The bytes of standard base64 text; atob throws on anything else. */
export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

/** The bytes of a base64url text; null when it is not base64url. */
export function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

const utf8 = new TextEncoder();

/**
 * The longest prefix of `s` whose UTF-8 encoding fits in `maxBytes`, never splitting a character
 * (a cut inside a surrogate pair or a multi-byte sequence drops the whole character).
 */
export function truncateUtf8(s: string, maxBytes: number): string {
  // Each UTF-16 unit is at most 3 bytes of UTF-8: a string this short always fits.
  if (s.length * 3 <= maxBytes) return s;
  const bytes = utf8.encode(s);
  if (bytes.byteLength <= maxBytes) return s;
  let end = Math.max(0, maxBytes);
  // Back up over continuation bytes (10xxxxxx) to the start of the character that was cut.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
