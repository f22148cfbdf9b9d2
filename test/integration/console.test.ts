// The operator console at /console: sign-in sets a session cookie that never holds the key, forms
// need the session's CSRF token and this origin, a key sees only what it may, and sessions end on
// sign-out, expiry and revocation.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_PRINCIPAL } from "../../src/auth/authenticate";
import { issueSession } from "../../src/auth/session";
import { loadConfig } from "../../src/config";
import { adminKey, api, freshNamespace, TEST_ORIGIN, waitForStatus, writeIndexed } from "../support";
import { deadLetteredDocument } from "../support/queue";

interface Page {
  status: number;
  headers: Headers;
  text: string;
}

async function get(path: string, cookie?: string): Promise<Page> {
  const res = await exports.default.fetch(
    new Request(`${TEST_ORIGIN}${path}`, { headers: cookie ? { cookie } : {}, redirect: "manual" }),
  );
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function post(
  path: string,
  form: Record<string, string | string[]>,
  opts: { cookie?: string; origin?: string | null } = {},
): Promise<Page> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const one of [v].flat()) body.append(k, one);
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.origin !== null) headers.origin = opts.origin ?? TEST_ORIGIN;
  const res = await exports.default.fetch(
    new Request(`${TEST_ORIGIN}${path}`, { method: "POST", headers, body, redirect: "manual" }),
  );
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Signs in with `key`: the cookie pair to send back, and the Set-Cookie header it came in. */
async function signIn(key: string): Promise<{ cookie: string; setCookie: string }> {
  const res = await post("/console/sign-in", { key });
  expect(res.status).toBe(303);
  const setCookie = res.headers.get("set-cookie") ?? "";
  return { cookie: setCookie.split(";")[0] ?? "", setCookie };
}

function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error("no CSRF token on the page");
  return m[1];
}

async function createKey(namespaces: string[], roles: string[]): Promise<{ id: string; key: string }> {
  const res = await api<{ id: string; key: string }>("POST", "/v1/admin/keys", {
    name: "console test",
    namespaces,
    roles,
  });
  expect(res.status).toBe(201);
  return res.body;
}

describe("console", () => {
  it("signs in with a key and sets a strict, HttpOnly, Secure cookie that does not hold the key", async () => {
    const { key } = await createKey(["*"], ["admin"]);
    const { cookie, setCookie } = await signIn(key);
    expect(setCookie).toMatch(/^console_session=/);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; Secure/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).toMatch(/; Path=\/console/);
    expect(setCookie).toMatch(/; Max-Age=\d+/);
    const secret = key.split("_").slice(2).join("_");
    expect(setCookie).not.toContain(secret);
    const payload = atob((cookie.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/"));
    expect(JSON.parse(payload)).toMatchObject({ keyId: key.split("_")[1] });
    expect(payload).not.toContain(secret);
    const home = await get("/console/namespaces", cookie);
    expect(home.status).toBe(200);
    expect(home.text).toContain("Sign out");
    const csp = home.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/default-src 'none'; style-src 'nonce-[^']+'; script-src 'nonce-[^']+'/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("form-action 'self'");
    expect(csp).toContain("base-uri 'none'");
  });

  it("refuses a bad key and pages without a session", async () => {
    const bad = await post("/console/sign-in", { key: "es_0000000000000000_not-a-real-secret" });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("set-cookie")).toBeNull();
    expect(bad.text).toContain("invalid API key");
    const anonymous = await get("/console/keys");
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get("location")).toBe("/console/sign-in");
    const forged = await get("/console/keys", "console_session=v1.e30.AAAA");
    expect(forged.status).toBe(303);
  });

  it("refuses a form without its session's CSRF token or from another origin", async () => {
    const { cookie } = await signIn(adminKey());
    const page = await get("/console/keys", cookie);
    const csrf = csrfOf(page.text);
    const form = { name: "x", namespaces: "docs", roles: "search" };
    expect((await post("/console/keys", form, { cookie })).status).toBe(403);
    expect((await post("/console/keys", { ...form, _csrf: "AAAA" }, { cookie })).status).toBe(403);
    // Another session's token does not pass for this one.
    const other = await signIn(adminKey());
    const otherCsrf = csrfOf((await get("/console/keys", other.cookie)).text);
    expect((await post("/console/keys", { ...form, _csrf: otherCsrf }, { cookie })).status).toBe(403);
    const crossSite = await post(
      "/console/keys",
      { ...form, _csrf: csrf },
      { cookie, origin: "https://evil.example" },
    );
    expect(crossSite.status).toBe(403);
    const noOrigin = await post("/console/keys", { ...form, _csrf: csrf }, { cookie, origin: null });
    expect(noOrigin.status).toBe(403);
    const created = await post("/console/keys", { ...form, _csrf: csrf }, { cookie });
    expect(created.status).toBe(201);
    expect(created.text).toMatch(/id="new-key">es_[0-9A-Za-z]{16}_/);
  });

  it("shows a key scoped to one namespace nothing of another, on any page", async () => {
    const mine = freshNamespace("cmine");
    const theirs = freshNamespace("ctheirs");
    await writeIndexed(mine, [
      { id: "m1", text: "otters hold hands while sleeping", title: "Mine" } as { id: string },
    ]);
    await writeIndexed(theirs, [
      { id: "t1", text: "otters secret plans of the other tenant", title: "Theirs" } as { id: string },
    ]);
    const { key } = await createKey([mine], ["search", "write"]);
    const { cookie } = await signIn(key);

    const list = await get("/console/namespaces", cookie);
    expect(list.text).toContain(mine);
    expect(list.text).not.toContain(theirs);
    const found = await get(`/console/namespaces/${mine}/search?q=otters&mode=keyword`, cookie);
    expect(found.status).toBe(200);
    expect(found.text).toContain(`/console/namespaces/${mine}/documents/m1`);
    expect(found.text).toContain("<mark>otters</mark>");
    expect(found.text).toContain("Stage timings");
    const listed = await get(`/console/namespaces/${mine}/documents?status=indexed`, cookie);
    expect(listed.status).toBe(200);
    expect(listed.text).toContain(`/console/namespaces/${mine}/documents/m1`);
    const pages = [
      `/console/namespaces/${theirs}`,
      `/console/namespaces/${theirs}/documents?status=indexed`,
      `/console/namespaces/${theirs}/search?q=otters&mode=keyword`,
      `/console/namespaces/${theirs}/documents/t1`,
      `/console/namespaces/${theirs}/versions`,
    ];
    for (const path of pages) {
      const res = await get(path, cookie);
      expect(res.status, path).toBe(403);
      expect(res.text, path).not.toContain("secret plans");
      expect(res.text, path).not.toContain("Theirs");
    }
    const csrf = csrfOf(list.text);
    const del = await post(
      `/console/namespaces/${theirs}/documents/t1/delete`,
      { _csrf: csrf, confirm: "yes" },
      { cookie },
    );
    expect(del.status).toBe(403);
    const still = await api<{ status: string }>("GET", `/v1/namespaces/${theirs}/documents/t1`);
    expect(still.body.status).toBe("indexed");
    // Admin pages need the admin role.
    expect((await get("/console/keys", cookie)).status).toBe(403);
    expect((await get("/console/dead-letters", cookie)).status).toBe(403);
  });

  it("lists failed documents with their reasons and replays a dead letter once confirmed", async () => {
    const ns = freshNamespace("cdead");
    await deadLetteredDocument(
      ns,
      "flaky",
      "About kingfishers, once the outage is over.",
      "R2 read failed: 503",
    );
    const { cookie } = await signIn(adminKey());

    // The documents page lists through GET /v1/namespaces/{ns}/documents: its reasons, its checks.
    const failed = await get(`/console/namespaces/${ns}/documents?status=failed`, cookie);
    expect(failed.status).toBe(200);
    expect(failed.text).toContain(`/console/namespaces/${ns}/documents/flaky`);
    expect(failed.text).toContain("indexing failed after 6 attempts: R2 read failed: 503");
    const damaged = await get(`/console/namespaces/${ns}/documents?status=failed&cursor=nope`, cookie);
    expect(damaged.status).toBe(400);
    expect(damaged.text).toContain("invalid_cursor");

    const letters = await get("/console/dead-letters", cookie);
    const id = new RegExp(`<tr><td>(\\d+)</td><td>${ns}</td>`).exec(letters.text)?.[1] ?? "";
    expect(id).not.toBe("");
    const csrf = csrfOf(letters.text);
    const unconfirmed = await post("/console/dead-letters/replay", { _csrf: csrf, id }, { cookie });
    expect(unconfirmed.status).toBe(400);
    expect((await get("/console/dead-letters", cookie)).text).toContain(`<tr><td>${id}</td><td>${ns}</td>`);

    const replayed = await post(
      "/console/dead-letters/replay",
      { _csrf: csrf, id, confirm: "yes" },
      { cookie },
    );
    expect(replayed.status).toBe(303);
    const after = await get(replayed.headers.get("location") ?? "", cookie);
    expect(after.text).toContain(`Re-enqueued: ${id}`);
    expect(after.text).not.toContain(`<td>${ns}</td>`);
    await waitForStatus(ns, "flaky", "indexed");
    const indexed = await get(`/console/namespaces/${ns}/documents?status=indexed`, cookie);
    expect(indexed.text).toContain(`/console/namespaces/${ns}/documents/flaky`);
  });

  it("ends the session on sign-out, on revocation and at its expiry", async () => {
    const { cookie } = await signIn(adminKey());
    const page = await get("/console/namespaces", cookie);
    const out = await post("/console/sign-out", { _csrf: csrfOf(page.text) }, { cookie });
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toMatch(/^console_session=;/);
    expect((await get("/console/namespaces", cookie)).status).toBe(303);

    const { id, key } = await createKey(["*"], ["admin"]);
    const revoked = await signIn(key);
    expect((await get("/console/namespaces", revoked.cookie)).status).toBe(200);
    expect((await api("DELETE", `/v1/admin/keys/${id}`)).status).toBe(200);
    expect((await get("/console/namespaces", revoked.cookie)).status).toBe(303);

    // A key with under a minute left: its session's sign-out record still gets KV's shortest TTL.
    const brief = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "brief",
      namespaces: ["*"],
      roles: ["admin"],
      expiresAt: new Date(Date.now() + 20_000).toISOString(),
    });
    const short = await signIn(brief.body.key);
    const shortPage = await get("/console/namespaces", short.cookie);
    const shortOut = await post(
      "/console/sign-out",
      { _csrf: csrfOf(shortPage.text) },
      { cookie: short.cookie },
    );
    expect(shortOut.status).toBe(303);
    expect((await get("/console/namespaces", short.cookie)).status).toBe(303);

    const config = loadConfig(env);
    const { token } = await issueSession(config, ADMIN_PRINCIPAL, Date.now() - 31 * 60_000);
    expect((await get("/console/namespaces", `console_session=${token}`)).status).toBe(303);
    const { token: fresh } = await issueSession(config, ADMIN_PRINCIPAL);
    expect((await get("/console/namespaces", `console_session=${fresh}`)).status).toBe(200);
  });
});
