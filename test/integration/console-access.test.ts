// The console behind Cloudflare Access: Access's token on each request names the operator, whose
// mapped scopes decide every page; a missing, invalid or expired token is refused (401), an
// identity no rule names gets 403, and nothing falls back to an unauthenticated page or, by
// default, to API-key sign-in. The team's keys come from an injected fetcher, never the network.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_PRINCIPAL } from "../../src/auth/authenticate";
import { issueSession } from "../../src/auth/session";
import { loadConfig } from "../../src/config";
import { base64url } from "../../src/util/encoding";
import { createConsoleApp } from "../../workers/console/app";
import worker from "../../workers/index";
import { adminKey, freshNamespace, TEST_ORIGIN, writeIndexed } from "../support";
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

const mine = freshNamespace("amine");
const theirs = freshNamespace("atheirs");

const IDENTITIES = [
  { email: "ops@example.com", namespaces: ["*"], roles: ["admin"] },
  { email: "tenant@example.com", namespaces: [mine], roles: ["search", "write"] },
];
const accessVars = {
  CONSOLE_ACCESS_TEAM_DOMAIN: TEAM,
  CONSOLE_ACCESS_AUD: AUD,
  CONSOLE_ACCESS_IDENTITIES: JSON.stringify(IDENTITIES),
};
// One object per setting: the config is parsed once per env object.
const ACCESS_ONLY = { ...env, ...accessVars } as unknown as Env;
const ACCESS_AND_KEYS = { ...env, ...accessVars, CONSOLE_API_KEY_SIGN_IN: "true" } as unknown as Env;

let teamKey: SigningKey;
let strangerKey: SigningKey;

beforeAll(async () => {
  [teamKey, strangerKey] = await Promise.all([newSigningKey("kid-team"), newSigningKey("kid-stranger")]);
  await writeIndexed(mine, [
    { id: "m1", text: "otters hold hands while sleeping", title: "Mine" } as { id: string },
  ]);
  await writeIndexed(theirs, [
    { id: "t1", text: "otters secret plans of the other tenant", title: "Theirs" } as { id: string },
  ]);
});

interface Page {
  status: number;
  headers: Headers;
  text: string;
}

/** A console app of its own (its own key cache) over the real API, with the team's certs faked. */
function consoleWith(environment: Env) {
  const certs = new FakeCerts([teamKey]);
  const app = createConsoleApp(
    (request, e, ctx) =>
      worker.fetch(
        request as Request<unknown, IncomingRequestCfProperties>,
        e as unknown as Env,
        ctx as unknown as ExecutionContext<unknown>,
      ),
    { accessFetch: certs.fetch },
  );
  async function send(
    path: string,
    opts: { token?: string; cookie?: string; form?: Record<string, string> } = {},
  ): Promise<Page> {
    const headers: Record<string, string> = {};
    if (opts.token) headers["cf-access-jwt-assertion"] = opts.token;
    if (opts.cookie) headers.cookie = opts.cookie;
    let init: RequestInit = { headers, redirect: "manual" };
    if (opts.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      headers.origin = TEST_ORIGIN;
      init = { ...init, method: "POST", body: new URLSearchParams(opts.form) };
    }
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`${TEST_ORIGIN}${path}`, init), environment, ctx);
    const text = await res.text();
    await waitOnExecutionContext(ctx);
    return { status: res.status, headers: res.headers, text };
  }
  return { certs, send };
}

const tokenFor = (email: string, extra: Record<string, unknown> = {}) =>
  signToken(teamKey, claimsFor(email, Date.now(), extra));

function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error("no CSRF token on the page");
  return m[1];
}

describe("console behind Cloudflare Access", () => {
  it("shows an identity mapped to one namespace that namespace only, on any page", async () => {
    const { send } = consoleWith(ACCESS_ONLY);
    const token = await tokenFor("tenant@example.com");
    const list = await send("/console/namespaces", { token });
    expect(list.status).toBe(200);
    expect(list.text).toContain("tenant@example.com");
    expect(list.text).toContain(mine);
    expect(list.text).not.toContain(theirs);
    const found = await send(`/console/namespaces/${mine}/search?q=otters&mode=keyword`, { token });
    expect(found.status).toBe(200);
    expect(found.text).toContain(`/console/namespaces/${mine}/documents/m1`);
    for (const path of [
      `/console/namespaces/${theirs}`,
      `/console/namespaces/${theirs}/documents?status=indexed`,
      `/console/namespaces/${theirs}/search?q=otters&mode=keyword`,
      `/console/namespaces/${theirs}/documents/t1`,
    ]) {
      const res = await send(path, { token });
      expect(res.status, path).toBe(403);
      expect(res.text, path).not.toContain("secret plans");
    }
    // Admin pages need the admin role the mapping did not give.
    expect((await send("/console/keys", { token })).status).toBe(403);
    // Browsers also carry the token as the CF_Authorization cookie.
    const viaCookie = await send("/console/namespaces", { cookie: `CF_Authorization=${token}` });
    expect(viaCookie.status).toBe(200);
    expect(viaCookie.text).toContain(mine);
  });

  it("lets a mapped admin use forms with the CSRF token, and signs out through Access", async () => {
    const { certs, send } = consoleWith(ACCESS_ONLY);
    const token = await tokenFor("ops@example.com");
    const keys = await send("/console/keys", { token });
    expect(keys.status).toBe(200);
    const form = { name: "from access", namespaces: mine, roles: "search" };
    expect((await send("/console/keys", { token, form: { ...form, _csrf: "AAAA" } })).status).toBe(403);
    const created = await send("/console/keys", { token, form: { ...form, _csrf: csrfOf(keys.text) } });
    expect(created.status).toBe(201);
    expect(created.text).toMatch(/id="new-key">es_[0-9A-Za-z]{16}_/);
    const out = await send("/console/sign-out", { token, form: { _csrf: csrfOf(keys.text) } });
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/cdn-cgi/access/logout");
    // The key set was fetched once for all of it.
    expect(certs.calls).toBe(1);
  });

  it("refuses invalid tokens with a 401 naming the reason, never a page or a 500", async () => {
    const { certs, send } = consoleWith(ACCESS_ONLY);
    const now = Date.now();
    const claims = claimsFor("ops@example.com", now);
    const header = encodePart({ alg: "HS256", kid: teamKey.kid });
    const hmacKey = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(JSON.stringify(teamKey.jwk)),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = await crypto.subtle.sign(
      "HMAC",
      hmacKey,
      new TextEncoder().encode(`${header}.${encodePart(claims)}`),
    );
    const cases: [string, string, string][] = [
      ["wrong aud", await tokenFor("ops@example.com", { aud: ["other-app"] }), "aud"],
      ["wrong iss", await tokenFor("ops@example.com", { iss: "https://other.cloudflareaccess.com" }), "iss"],
      ["expired", await signToken(teamKey, claimsFor("ops@example.com", now - 3_600_000)), "expired"],
      ["bad signature", await signToken({ ...strangerKey, kid: teamKey.kid }, claims), "signature"],
      ["unknown kid", await signToken(strangerKey, claims), "key this team does not publish"],
      ["alg none", `${encodePart({ alg: "none" })}.${encodePart(claims)}.AA`, "&quot;none&quot;"],
      ["HS256", `${header}.${encodePart(claims)}.${base64url(new Uint8Array(mac))}`, "&quot;HS256&quot;"],
      ["malformed", "not-a-jwt", "not a JWT"],
    ];
    for (const [name, token, reason] of cases) {
      const res = await send("/console/namespaces", { token });
      expect(res.status, name).toBe(401);
      expect(res.text, name).toContain(reason);
      expect(res.text, name).not.toContain(mine);
      expect(res.text, name).not.toContain("Sign out");
    }
    // Made-up kids do not turn into fetches of the key set: at most the first and one refetch.
    for (const kid of ["k1", "k2", "k3"]) {
      expect(
        (await send("/console/keys", { token: await signToken({ ...strangerKey, kid }, claims) })).status,
      ).toBe(401);
    }
    expect(certs.calls).toBeLessThanOrEqual(2);
  });

  it("refuses a valid identity that no rule names with 403", async () => {
    const { send } = consoleWith(ACCESS_ONLY);
    const res = await send("/console/namespaces", { token: await tokenFor("stranger@elsewhere.net") });
    expect(res.status).toBe(403);
    expect(res.text).toContain("stranger@elsewhere.net");
    expect(res.text).toContain("CONSOLE_ACCESS_IDENTITIES");
    expect(res.text).not.toContain(mine);
    // A service token carries no email: no rule can name it.
    const service = await signToken(teamKey, {
      ...claimsFor(undefined, Date.now()),
      common_name: "abc.access",
    });
    expect((await send("/console/namespaces", { token: service })).status).toBe(403);
  });

  it("without a token refuses every page and API-key sign-in, even with a key's session cookie", async () => {
    const { send } = consoleWith(ACCESS_ONLY);
    const page = await send("/console/namespaces");
    expect(page.status).toBe(401);
    expect(page.text).toContain("Cloudflare Access");
    const signIn = await send("/console/sign-in", { form: { key: adminKey() } });
    expect(signIn.status).toBe(401);
    expect(signIn.headers.get("set-cookie")).toBeNull();
    const { token } = await issueSession(loadConfig(env), ADMIN_PRINCIPAL);
    expect((await send("/console/namespaces", { cookie: `console_session=${token}` })).status).toBe(401);
    // With a valid Access identity the key form is still refused.
    const accessToken = await tokenFor("ops@example.com");
    const viaForm = await send("/console/sign-in", { token: accessToken, form: { key: adminKey() } });
    expect(viaForm.status).toBe(403);
    expect(viaForm.headers.get("set-cookie")).toBeNull();
  });

  it("keeps API-key sign-in beside Access when asked, without letting a session cookie outvote a bad token", async () => {
    const { send } = consoleWith(ACCESS_AND_KEYS);
    const signIn = await send("/console/sign-in", { form: { key: adminKey() } });
    expect(signIn.status).toBe(303);
    const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    expect((await send("/console/namespaces", { cookie })).status).toBe(200);
    const bad = await signToken(strangerKey, claimsFor("ops@example.com", Date.now()));
    expect((await send("/console/namespaces", { cookie, token: bad })).status).toBe(401);
    const unmapped = await tokenFor("stranger@elsewhere.net");
    expect((await send("/console/namespaces", { cookie, token: unmapped })).status).toBe(403);
  });

  it("answers 503 when the team's keys cannot be fetched", async () => {
    const { certs, send } = consoleWith(ACCESS_ONLY);
    certs.failing = true;
    const res = await send("/console/namespaces", { token: await tokenFor("ops@example.com") });
    expect(res.status).toBe(503);
    expect(res.text).toContain("signing keys");
  });

  it("is off by default: the deployed console keeps API-key sign-in", async () => {
    expect(loadConfig(env).consoleAccess).toBeNull();
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`${TEST_ORIGIN}/console/namespaces`, {
        headers: { "cf-access-jwt-assertion": await tokenFor("ops@example.com") },
        redirect: "manual",
      }) as Request<unknown, IncomingRequestCfProperties>,
      env as unknown as Env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    // The Access header means nothing there: no session, so to the key sign-in.
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/console/sign-in");
  });
});
