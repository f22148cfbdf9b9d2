// Cloudflare Access application tokens: RS256 JWTs that Access adds to every request it lets through
// (the Cf-Access-Jwt-Assertion header; browsers also carry the CF_Authorization cookie). Verified
// with WebCrypto against the team's signing keys, fetched from <team domain>/cdn-cgi/access/certs.
// Source: https://developers.cloudflare.com/cloudflare-one/access-controls/applications/http-apps/authorization-cookie/validating-json/
// (the certs URL, the header, the cookie; "Access rotates the signing key every 6 weeks ... Previous
// keys remain valid for 7 days after rotation") and
// https://developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/application-token
// (header {alg: "RS256", kid, typ}; claims aud (a list), email, exp, iat, nbf, iss, type, sub).
import { z } from "zod";
import { fromBase64url } from "../util/encoding";

/** How far a token's exp and nbf may be off this machine's clock. */
export const ACCESS_CLOCK_SKEW_SECONDS = 60;
/** The least time between two fetches of the key set (a stream of unknown kids fetches it once). */
export const ACCESS_KEYS_MIN_REFETCH_MS = 30_000;
/** How long a fetched key set is trusted before the next token refetches it (a removed key's end). */
export const ACCESS_KEYS_MAX_AGE_MS = 60 * 60_000;
/** A token longer than this is refused unread (Access's tokens are about 1 KB). */
const MAX_TOKEN_CHARS = 16 * 1024;
const MAX_KEYS = 16;

// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518, section 3.1). The algorithm is fixed here, not
// taken from the token, so a token saying "none" or "HS256" cannot choose how it is checked.
const RS256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

export type Fetcher = (request: Request) => Promise<Response>;

export interface AccessIdentity {
  /** The signed-in user's email; absent for service tokens. */
  email: string | null;
  sub: string;
  /** When the token expires, epoch ms. */
  expiresAt: number;
  /** Per Access sign-in (identity_nonce, else iat): what the console's CSRF token is bound to. */
  signInId: string;
}

/** Why a token was refused: said to the user (it names no secret), and logged. */
export class AccessTokenError extends Error {}

const JwkSchema = z.object({
  kid: z.string().min(1).max(256),
  kty: z.literal("RSA"),
  n: z.string().min(1),
  e: z.string().min(1),
  alg: z.string().optional(),
  use: z.string().optional(),
});
const JwksSchema = z.object({ keys: z.array(z.unknown()).max(64) });

const HeaderSchema = z.object({ alg: z.string(), kid: z.string().optional() });
const ClaimsSchema = z.object({
  aud: z.union([z.string(), z.array(z.string())]),
  iss: z.string(),
  exp: z.number(),
  nbf: z.number().optional(),
  iat: z.number().optional(),
  sub: z.string().default(""),
  email: z.string().optional(),
  identity_nonce: z.string().optional(),
});

/** "https://team.cloudflareaccess.com" however it was written (no path, no trailing slash). */
export function normalizeTeamDomain(domain: string): string {
  const url = new URL(/^https?:\/\//.test(domain) ? domain : `https://${domain}`);
  return url.origin;
}

/**
 * The team's signing keys, by kid. Fetched on first use, again after ACCESS_KEYS_MAX_AGE_MS, and
 * again when a token names a kid it lacks (a rotation), but never twice within
 * ACCESS_KEYS_MIN_REFETCH_MS: tokens with made-up kids cannot turn into a stream of fetches.
 */
export class AccessKeySet {
  private keys = new Map<string, CryptoKey>();
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | null = null;

  constructor(
    readonly teamDomain: string,
    private readonly fetcher: Fetcher,
  ) {}

  get certsUrl(): string {
    return `${this.teamDomain}/cdn-cgi/access/certs`;
  }

  /** The key named `kid`, or null when the team has none by that name. */
  async key(kid: string, now: number): Promise<CryptoKey | null> {
    const stale = now - this.fetchedAt >= ACCESS_KEYS_MAX_AGE_MS;
    if (!stale && this.keys.has(kid)) return this.keys.get(kid) ?? null;
    if (now - this.attemptedAt >= ACCESS_KEYS_MIN_REFETCH_MS) {
      this.attemptedAt = now;
      this.inflight ??= this.refresh(now).finally(() => {
        this.inflight = null;
      });
    }
    if (this.inflight) await this.inflight;
    else if (this.fetchedAt === Number.NEGATIVE_INFINITY) {
      throw new AccessKeysUnavailable(
        `the Access signing keys at ${this.certsUrl} could not be fetched a moment ago`,
      );
    }
    return this.keys.get(kid) ?? null;
  }

  private async refresh(now: number): Promise<void> {
    let body: unknown;
    try {
      const res = await this.fetcher(new Request(this.certsUrl, { headers: { accept: "application/json" } }));
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = await res.json();
    } catch (err) {
      // Keep the keys held so far: a failed fetch must not sign everyone out.
      throw new AccessKeysUnavailable(
        `the Access signing keys could not be fetched from ${this.certsUrl}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const parsed = JwksSchema.safeParse(body);
    if (!parsed.success) throw new AccessKeysUnavailable(`${this.certsUrl} did not answer with a key set`);
    const next = new Map<string, CryptoKey>();
    for (const raw of parsed.data.keys) {
      const jwk = JwkSchema.safeParse(raw);
      if (!jwk.success || (jwk.data.alg !== undefined && jwk.data.alg !== "RS256")) continue;
      if (jwk.data.use !== undefined && jwk.data.use !== "sig") continue;
      const { kid, kty, n, e } = jwk.data;
      try {
        next.set(kid, await crypto.subtle.importKey("jwk", { kty, n, e }, RS256, false, ["verify"]));
      } catch {
        // A key WebCrypto cannot import verifies nothing; the others still do.
      }
      if (next.size >= MAX_KEYS) break;
    }
    this.keys = next;
    this.fetchedAt = now;
  }
}

/** The key set could not be fetched: the console answers 503, not "signed out". */
export class AccessKeysUnavailable extends Error {}

function decodeJson(part: string): unknown {
  const bytes = fromBase64url(part);
  if (bytes === null) throw new AccessTokenError("the Access token is not a JWT (bad base64url)");
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw new AccessTokenError("the Access token is not a JWT (bad JSON)");
  }
}

export interface AccessExpectations {
  /** The application's audience (AUD) tag: the token's aud must contain it. */
  audience: string;
  /** The normalized team domain: the token's iss must equal it. */
  issuer: string;
}

/** The identity a valid token carries; AccessTokenError when it is not one this application may trust. */
export async function verifyAccessToken(
  token: string,
  expect: AccessExpectations,
  keys: AccessKeySet,
  now = Date.now(),
): Promise<AccessIdentity> {
  if (token.length > MAX_TOKEN_CHARS) throw new AccessTokenError("the Access token is too long");
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) {
    throw new AccessTokenError("the Access token is not a JWT (three dot-separated parts)");
  }
  const [h, p, s] = parts as [string, string, string];
  const header = HeaderSchema.safeParse(decodeJson(h));
  if (!header.success) throw new AccessTokenError("the Access token's header is malformed");
  if (header.data.alg !== "RS256") {
    throw new AccessTokenError(`the Access token is signed with "${header.data.alg}", not RS256`);
  }
  if (!header.data.kid) throw new AccessTokenError("the Access token names no signing key (kid)");
  const signature = fromBase64url(s);
  if (signature === null) throw new AccessTokenError("the Access token's signature is not base64url");
  const key = await keys.key(header.data.kid, now);
  if (key === null)
    throw new AccessTokenError("the Access token is signed with a key this team does not publish");
  const valid = await crypto.subtle.verify(RS256, key, signature, new TextEncoder().encode(`${h}.${p}`));
  if (!valid) throw new AccessTokenError("the Access token's signature does not verify");

  const claims = ClaimsSchema.safeParse(decodeJson(p));
  if (!claims.success) throw new AccessTokenError("the Access token's claims are malformed");
  const c = claims.data;
  const audiences = typeof c.aud === "string" ? [c.aud] : c.aud;
  if (!audiences.includes(expect.audience)) {
    throw new AccessTokenError("the Access token is for another Access application (aud)");
  }
  if (c.iss !== expect.issuer) throw new AccessTokenError("the Access token is from another team (iss)");
  const seconds = now / 1000;
  if (c.exp + ACCESS_CLOCK_SKEW_SECONDS <= seconds)
    throw new AccessTokenError("the Access token has expired");
  if (c.nbf !== undefined && c.nbf - ACCESS_CLOCK_SKEW_SECONDS > seconds) {
    throw new AccessTokenError("the Access token is not valid yet (nbf)");
  }
  return {
    email: c.email ?? null,
    sub: c.sub,
    expiresAt: c.exp * 1000,
    signInId: `${c.sub}:${c.identity_nonce ?? String(c.iat ?? c.exp)}`,
  };
}
