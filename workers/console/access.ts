// The console's Cloudflare Access sign-in: when CONSOLE_ACCESS_TEAM_DOMAIN is set, Access's own
// token on each request (src/auth/access-jwt.ts) names the operator, and CONSOLE_ACCESS_IDENTITIES
// says what that identity may see (src/auth/access-identities.ts). Nothing is stored: each request
// carries its token, so Access's own session length and sign-out govern the console's.
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { ACCESS_KEY_ID_PREFIX, accessPrincipal } from "../../src/auth/access-identities";
import {
  AccessKeySet,
  AccessKeysUnavailable,
  AccessTokenError,
  type Fetcher,
  verifyAccessToken,
} from "../../src/auth/access-jwt";
import type { Principal } from "../../src/auth/scopes";
import type { Session } from "../../src/auth/session";
import type { ConsoleAccessConfig } from "../../src/config";
import { AppError } from "../../src/errors";
import { base64url } from "../../src/util/encoding";
import type { ConsoleEnv } from "./types";

/** The header Access adds to each request it lets through, and the cookie browsers also carry. */
export const ACCESS_HEADER = "cf-access-jwt-assertion";
export const ACCESS_COOKIE = "CF_Authorization";
/**
 * Ends the Access session of every Access application of the team; served by Cloudflare on the
 * application's own hostname (https://documentation.breadnet.co.uk/kb/cloudflare/cloudflare-cdn-cgi-endpoints/,
 * "/cdn-cgi/access/logout ... <application-domain>/cdn-cgi/access/logout").
 */
export const ACCESS_LOGOUT_PATH = "/cdn-cgi/access/logout";

/**
 * The Access token a request carries: the header (Cloudflare recommends it: "the cookie is not
 * guaranteed to be passed"), else the cookie; null when neither.
 */
export function accessToken(c: Context<ConsoleEnv>): string | null {
  return c.req.header(ACCESS_HEADER) || getCookie(c, ACCESS_COOKIE) || null;
}

export function isAccessSession(session: Session): boolean {
  return session.keyId.startsWith(ACCESS_KEY_ID_PREFIX);
}

/** The team signing keys per team domain, for one console app (itself isolate-lifetime). */
export class AccessKeyCache {
  private readonly sets = new Map<string, AccessKeySet>();
  constructor(private readonly fetcher: Fetcher) {}
  for(teamDomain: string): AccessKeySet {
    let set = this.sets.get(teamDomain);
    if (!set) {
      set = new AccessKeySet(teamDomain, this.fetcher);
      this.sets.set(teamDomain, set);
    }
    return set;
  }
}

/**
 * The principal and session of a request signed in through Access. A missing, invalid or expired
 * token is a 401 and an identity no rule names a 403: never a page without a principal.
 */
export async function accessSignIn(
  c: Context<ConsoleEnv>,
  access: ConsoleAccessConfig,
  keys: AccessKeyCache,
  now = Date.now(),
): Promise<{ principal: Principal; session: Session }> {
  const token = accessToken(c);
  if (token === null) {
    throw new AppError(
      "unauthorized",
      "this console signs in through Cloudflare Access: open it at the hostname the Access application protects",
    );
  }
  let identity: Awaited<ReturnType<typeof verifyAccessToken>>;
  try {
    identity = await verifyAccessToken(
      token,
      { audience: access.audience, issuer: access.teamDomain },
      keys.for(access.teamDomain),
      now,
    );
  } catch (err) {
    if (err instanceof AccessTokenError) {
      c.get("logger").warn("console.access_refused", { reason: err.message });
      throw new AppError("unauthorized", `${err.message}: reload the page to sign in through Access again`);
    }
    if (err instanceof AccessKeysUnavailable) {
      c.get("logger").warn("console.access_keys_unavailable", { reason: err.message });
      throw new AppError(
        "unavailable",
        "the Cloudflare Access signing keys cannot be fetched now; retry shortly",
      );
    }
    throw err;
  }
  const principal = accessPrincipal(access.identities, identity);
  if (principal === null) {
    throw new AppError(
      "forbidden",
      `the Access identity ${identity.email ?? `(service token ${identity.sub || "without a subject"})`} is not granted this console: CONSOLE_ACCESS_IDENTITIES names no rule for it`,
    );
  }
  // The CSRF token is bound to this id: one per Access sign-in, never the token itself.
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`access:${identity.signInId}`),
  );
  const session: Session = {
    keyId: principal.keyId,
    sessionId: base64url(new Uint8Array(digest)).slice(0, 22),
    expiresAt: identity.expiresAt,
  };
  return { principal, session };
}
