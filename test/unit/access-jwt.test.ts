// Cloudflare Access tokens: only an RS256 token signed by one of the team's published keys, for
// this application's AUD, from this team, inside its lifetime, names an identity; the key set is
// fetched once and refetched at most once per ACCESS_KEYS_MIN_REFETCH_MS on an unknown kid.
import { beforeAll, describe, expect, it } from "vitest";
import {
  ACCESS_CLOCK_SKEW_SECONDS,
  ACCESS_KEYS_MAX_AGE_MS,
  ACCESS_KEYS_MIN_REFETCH_MS,
  AccessKeySet,
  AccessKeysUnavailable,
  AccessTokenError,
  normalizeTeamDomain,
  verifyAccessToken,
} from "../../src/auth/access-jwt";
import { base64url } from "../../src/util/encoding";
import {
  AUD,
  claimsFor,
  encodePart,
  FakeCerts,
  newSigningKey,
  type SigningKey,
  signToken,
  TEAM,
} from "../support/access";

const NOW = Date.UTC(2026, 11, 6, 0, 0, 0);
const expectations = { audience: AUD, issuer: TEAM };
let current: SigningKey;
let previous: SigningKey;
let stranger: SigningKey;

beforeAll(async () => {
  [current, previous, stranger] = await Promise.all([
    newSigningKey("kid-current"),
    newSigningKey("kid-previous"),
    newSigningKey("kid-stranger"),
  ]);
});

function team(keys = [current, previous]) {
  const certs = new FakeCerts(keys);
  return { certs, keys: new AccessKeySet(TEAM, certs.fetch) };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AccessTokenError);
  return (err as Error).message;
}

describe("verifyAccessToken", () => {
  it("names the identity of a valid token, signed by the current or the previous key", async () => {
    const { certs, keys } = team();
    for (const key of [current, previous]) {
      const token = await signToken(key, claimsFor("ops@example.com", NOW));
      const identity = await verifyAccessToken(token, expectations, keys, NOW);
      expect(identity).toMatchObject({
        email: "ops@example.com",
        expiresAt: (Math.floor(NOW / 1000) + 300) * 1000,
      });
    }
    // One fetch serves both tokens.
    expect(certs.calls).toBe(1);
  });

  it("accepts aud as a single string too", async () => {
    const { keys } = team();
    const token = await signToken(current, claimsFor("ops@example.com", NOW, { aud: AUD }));
    expect((await verifyAccessToken(token, expectations, keys, NOW)).email).toBe("ops@example.com");
  });

  it("refuses a token for another application (aud)", async () => {
    const { keys } = team();
    const token = await signToken(current, claimsFor("ops@example.com", NOW, { aud: ["another-app-aud"] }));
    expect(await refusal(verifyAccessToken(token, expectations, keys, NOW))).toContain("aud");
  });

  it("refuses a token from another team (iss)", async () => {
    const { keys } = team();
    const token = await signToken(
      current,
      claimsFor("ops@example.com", NOW, { iss: "https://other-team.cloudflareaccess.com" }),
    );
    expect(await refusal(verifyAccessToken(token, expectations, keys, NOW))).toContain("iss");
  });

  it("refuses an expired token and one not yet valid, past the clock skew only", async () => {
    const { keys } = team();
    const token = await signToken(current, claimsFor("ops@example.com", NOW));
    const exp = Math.floor(NOW / 1000) + 300;
    // Just inside the skew: still valid.
    await verifyAccessToken(token, expectations, keys, (exp + ACCESS_CLOCK_SKEW_SECONDS - 1) * 1000);
    expect(
      await refusal(verifyAccessToken(token, expectations, keys, (exp + ACCESS_CLOCK_SKEW_SECONDS) * 1000)),
    ).toContain("expired");
    const early = await signToken(
      current,
      claimsFor("ops@example.com", NOW, { nbf: Math.floor(NOW / 1000) + 120 }),
    );
    expect(await refusal(verifyAccessToken(early, expectations, keys, NOW))).toContain("nbf");
    const noExp = await signToken(current, { ...claimsFor("ops@example.com", NOW), exp: undefined });
    expect(await refusal(verifyAccessToken(noExp, expectations, keys, NOW))).toContain("claims");
  });

  it("refuses a bad signature: another key under a published kid, or a changed payload", async () => {
    const { keys } = team();
    const forged = await signToken({ ...stranger, kid: current.kid }, claimsFor("ops@example.com", NOW));
    expect(await refusal(verifyAccessToken(forged, expectations, keys, NOW))).toContain("signature");
    const genuine = await signToken(current, claimsFor("ops@example.com", NOW));
    const [h, , s] = genuine.split(".");
    const swapped = `${h}.${encodePart(claimsFor("root@example.com", NOW))}.${s}`;
    expect(await refusal(verifyAccessToken(swapped, expectations, keys, NOW))).toContain("signature");
  });

  it("refetches the key set once for an unknown kid, then refuses without fetching again", async () => {
    const { certs, keys } = team([current]);
    await verifyAccessToken(
      await signToken(current, claimsFor("a@example.com", NOW)),
      expectations,
      keys,
      NOW,
    );
    expect(certs.calls).toBe(1);
    const unknown = await signToken(stranger, claimsFor("a@example.com", NOW));
    const later = NOW + ACCESS_KEYS_MIN_REFETCH_MS;
    expect(await refusal(verifyAccessToken(unknown, expectations, keys, later))).toContain("key");
    expect(certs.calls).toBe(2);
    // A stream of made-up kids within the interval fetches nothing more.
    for (const kid of ["x1", "x2", "x3"]) {
      const madeUp = await signToken({ ...stranger, kid }, claimsFor("a@example.com", NOW));
      await refusal(verifyAccessToken(madeUp, expectations, keys, later + 1000));
    }
    expect(certs.calls).toBe(2);
  });

  it("takes a rotated-in key after one refetch, and refuses a key the team no longer lists", async () => {
    const { certs, keys } = team([previous]);
    await verifyAccessToken(
      await signToken(previous, claimsFor("a@example.com", NOW)),
      expectations,
      keys,
      NOW,
    );
    certs.keys = [current];
    const rotated = await signToken(current, claimsFor("a@example.com", NOW));
    const t = NOW + ACCESS_KEYS_MIN_REFETCH_MS;
    expect((await verifyAccessToken(rotated, expectations, keys, t)).email).toBe("a@example.com");
    expect(certs.calls).toBe(2);
    const old = await signToken(previous, claimsFor("a@example.com", t));
    expect(await refusal(verifyAccessToken(old, expectations, keys, t))).toContain("key");
    // Past the set's lifetime, the next token refetches it even for a kid it holds.
    const stale = t + ACCESS_KEYS_MAX_AGE_MS;
    await verifyAccessToken(
      await signToken(current, claimsFor("a@example.com", stale)),
      expectations,
      keys,
      stale,
    );
    expect(certs.calls).toBe(3);
  });

  it('refuses alg "none" and an HS256 token keyed with the public key, before fetching keys', async () => {
    const { certs, keys } = team();
    const claims = encodePart(claimsFor("ops@example.com", NOW));
    const none = `${encodePart({ alg: "none", typ: "JWT" })}.${claims}.AA`;
    expect(await refusal(verifyAccessToken(none, expectations, keys, NOW))).toContain('"none"');
    const noneEmptySig = `${encodePart({ alg: "none", typ: "JWT" })}.${claims}.`;
    expect(await refusal(verifyAccessToken(noneEmptySig, expectations, keys, NOW))).toContain("not a JWT");
    // The classic confusion: HMAC over the token with the RSA public key as the secret.
    const header = encodePart({ alg: "HS256", kid: current.kid, typ: "JWT" });
    const secret = new TextEncoder().encode(JSON.stringify(current.jwk));
    const hmac = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    const mac = await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(`${header}.${claims}`));
    const hs256 = `${header}.${claims}.${base64url(new Uint8Array(mac))}`;
    expect(await refusal(verifyAccessToken(hs256, expectations, keys, NOW))).toContain('"HS256"');
    // An RS256 header on a token the team's key did not sign is still a bad signature.
    const relabelled = `${encodePart({ alg: "RS256", kid: current.kid })}.${claims}.${base64url(new Uint8Array(mac))}`;
    expect(await refusal(verifyAccessToken(relabelled, expectations, keys, NOW))).toContain("signature");
    expect(certs.calls).toBe(1);
  });

  it("refuses malformed tokens with a clear reason", async () => {
    const { keys } = team();
    const cases: [string, string][] = [
      ["", "not a JWT"],
      ["abc", "not a JWT"],
      ["a.b", "not a JWT"],
      ["a.b.c.d", "not a JWT"],
      ["!!!.e30.AA", "base64url"],
      [`${base64url(new TextEncoder().encode("not json"))}.e30.AA`, "JSON"],
      [`${encodePart(["RS256"])}.e30.AA`, "header"],
      [`${encodePart({ alg: "RS256" })}.e30.AA`, "kid"],
      [`${encodePart({ alg: "RS256", kid: current.kid })}.e30.@@`, "base64url"],
      [`${"a".repeat(20_000)}.e30.AA`, "too long"],
    ];
    for (const [token, reason] of cases) {
      expect(await refusal(verifyAccessToken(token, expectations, keys, NOW)), token.slice(0, 40)).toContain(
        reason,
      );
    }
  });

  it("says the keys are unavailable when the certs endpoint fails, and does not hammer it", async () => {
    const { certs, keys } = team();
    certs.failing = true;
    const token = await signToken(current, claimsFor("a@example.com", NOW));
    await expect(verifyAccessToken(token, expectations, keys, NOW)).rejects.toBeInstanceOf(
      AccessKeysUnavailable,
    );
    await expect(verifyAccessToken(token, expectations, keys, NOW + 1000)).rejects.toBeInstanceOf(
      AccessKeysUnavailable,
    );
    expect(certs.calls).toBe(1);
    certs.failing = false;
    const later = NOW + ACCESS_KEYS_MIN_REFETCH_MS;
    expect((await verifyAccessToken(token, expectations, keys, later)).email).toBe("a@example.com");
  });
});

describe("normalizeTeamDomain", () => {
  it("reduces the team domain to the issuer Access writes", () => {
    expect(normalizeTeamDomain("https://team.cloudflareaccess.com/")).toBe(
      "https://team.cloudflareaccess.com",
    );
    expect(normalizeTeamDomain("team.cloudflareaccess.com")).toBe("https://team.cloudflareaccess.com");
  });
});
