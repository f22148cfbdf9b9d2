// A stand-in Cloudflare Access team for tests: RSA signing keys made with WebCrypto, tokens shaped
// like Access's application tokens, and a certs endpoint served by an injected fetcher that counts
// its calls (tests never reach the network).
import { base64url } from "../../src/util/encoding";

export const TEAM = "https://edgesearch-test.cloudflareaccess.com";
export const AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  /** The public key as the certs endpoint lists it. */
  jwk: JsonWebKey & { kid: string };
}

const RS256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
const encoder = new TextEncoder();

export async function newSigningKey(kid: string): Promise<SigningKey> {
  const pair = (await crypto.subtle.generateKey(
    { ...RS256, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
  return {
    kid,
    privateKey: pair.privateKey,
    jwk: { kty: "RSA", n: jwk.n, e: jwk.e, kid, alg: "RS256", use: "sig" },
  };
}

export const encodePart = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)));

/** The claims of an Access application token for `email`, valid for 5 minutes from `now`. */
export function claimsFor(email: string | undefined, now = Date.now(), extra: Record<string, unknown> = {}) {
  const iat = Math.floor(now / 1000);
  return {
    aud: [AUD],
    ...(email === undefined ? {} : { email }),
    exp: iat + 300,
    iat,
    nbf: iat,
    iss: TEAM,
    type: "app",
    identity_nonce: "6ei69kawdKzMIAPF",
    sub: "7335d417-61da-459d-899c-0a01c76a2f94",
    country: "US",
    ...extra,
  };
}

/** A token signed by `key`, with Access's header unless `header` replaces fields of it. */
export async function signToken(
  key: SigningKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const body = `${encodePart({ alg: "RS256", kid: key.kid, typ: "JWT", ...header })}.${encodePart(claims)}`;
  const sig = await crypto.subtle.sign(RS256, key.privateKey, encoder.encode(body));
  return `${body}.${base64url(new Uint8Array(sig))}`;
}

/** The team's certs endpoint: lists `keys`, counts fetches, fails while `failing` is set. */
export class FakeCerts {
  calls = 0;
  failing = false;
  constructor(public keys: SigningKey[]) {}

  readonly fetch = async (request: Request): Promise<Response> => {
    if (request.url !== `${TEAM}/cdn-cgi/access/certs`) {
      return new Response("not found", { status: 404 });
    }
    this.calls += 1;
    if (this.failing) return new Response("upstream down", { status: 502 });
    return Response.json({ keys: this.keys.map((k) => k.jwk), public_cert: {}, public_certs: [] });
  };
}
