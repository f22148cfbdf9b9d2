// The operator console at /console: sign-in sets a session cookie that never holds the key, forms
// need the session's CSRF token and this origin, a key sees only what it may, and sessions end on
// sign-out, expiry and revocation.
import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_PRINCIPAL } from "../../src/auth/authenticate";
import { issueSession } from "../../src/auth/session";
import { loadConfig } from "../../src/config";
import worker from "../../workers/index";
import { HeldQueue } from "../fakes/held-queue";
import {
  adminKey,
  api,
  apiWithEnv,
  freshNamespace,
  TEST_ORIGIN,
  waitFor,
  waitForStatus,
  writeIndexed,
} from "../support";
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
  opts: { cookie?: string; origin?: string | null; env?: Env } = {},
): Promise<Page> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const one of [v].flat()) body.append(k, one);
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.origin !== null) headers.origin = opts.origin ?? TEST_ORIGIN;
  const request = new Request(`${TEST_ORIGIN}${path}`, { method: "POST", headers, body, redirect: "manual" });
  // With `env`, the Worker runs with it (a held queue, say) in place of the test environment.
  const res = opts.env
    ? await worker.fetch(
        request as Request<unknown, IncomingRequestCfProperties>,
        opts.env,
        createExecutionContext(),
      )
    : await exports.default.fetch(request);
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

interface BackupJob {
  id: string;
  state: string;
}

const REFRESH = '<meta http-equiv="refresh" content="3">';

/** The test environment with the ingest queue replaced by one that only holds what it is sent. */
const heldEnv = (queue: HeldQueue) => ({ ...env, INGEST_QUEUE: queue }) as unknown as Env;

/** Sends what `queue` held on to the real ingest queue, whose consumer then runs the job's steps. */
async function release(queue: HeldQueue): Promise<void> {
  for (const message of queue.take()) await env.INGEST_QUEUE.send(message);
}

async function jobState(path: string): Promise<BackupJob> {
  const res = await api<BackupJob>("GET", path);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

const complete = (path: string) =>
  waitFor(`${path} to complete`, async () => (await jobState(path)).state === "complete", 60_000, 100);

describe("console backups", () => {
  const ns = freshNamespace("cbk");
  const docs = [
    { id: "b1", title: "Herons", text: "Grey herons stand still in shallow water, waiting for fish." },
    { id: "b2", title: "Egrets", text: "Little egrets stir the mud with their yellow feet." },
  ];
  let backupId = "";

  beforeAll(() => writeIndexed(ns, docs));

  /** The namespace's complete backup: the first test's, or one started here when that did not run. */
  async function completedBackup(): Promise<string> {
    if (!backupId) {
      const started = await api<BackupJob>("POST", `/v1/namespaces/${ns}/backups`, {});
      expect(started.status).toBe(202);
      backupId = started.body.id;
      await complete(`/v1/namespaces/${ns}/backups/${backupId}`);
    }
    return backupId;
  }

  it("starts a backup through the form, lists it and reloads only while it runs", async () => {
    const { cookie } = await signIn(adminKey());
    const home = await get(`/console/namespaces/${ns}`, cookie);
    expect(home.text).toContain(`href="/console/namespaces/${ns}/backups"`);
    const empty = await get(`/console/namespaces/${ns}/backups`, cookie);
    expect(empty.status).toBe(200);
    expect(empty.text).toContain("No backups yet.");
    expect(empty.text).not.toContain(REFRESH);

    // The queue holds the backup's first step: the backup stays running until it is released.
    const queue = new HeldQueue();
    const started = await post(
      `/console/namespaces/${ns}/backups`,
      { _csrf: csrfOf(empty.text) },
      { cookie, env: heldEnv(queue) },
    );
    expect(started.status).toBe(303);
    expect(started.headers.get("location")).toBe(`/console/namespaces/${ns}/backups`);
    const listed = await api<{ jobs: BackupJob[] }>("GET", `/v1/namespaces/${ns}/backups`);
    expect(listed.body.jobs).toHaveLength(1);
    backupId = listed.body.jobs[0]?.id ?? "";
    const running = await get(`/console/namespaces/${ns}/backups`, cookie);
    expect(running.text).toContain(`<code>${backupId}</code>`);
    expect(running.text).toContain("running");
    expect(running.text).toContain(REFRESH);
    // A second backup while one runs: the API's 409, shown on the page.
    const again = await post(
      `/console/namespaces/${ns}/backups`,
      { _csrf: csrfOf(running.text) },
      { cookie },
    );
    expect(again.status).toBe(409);
    expect(again.text).toContain('class="problem"');

    await release(queue);
    await complete(`/v1/namespaces/${ns}/backups/${backupId}`);
    const done = await get(`/console/namespaces/${ns}/backups`, cookie);
    expect(done.text).toContain('<span class="ok">complete</span>');
    expect(done.text).toContain("documents 2/2");
    expect(done.text).not.toContain(REFRESH);
    expect(done.text).toContain(`<option value="${backupId}">`);
  });

  it("restores a backup once confirmed, showing its progress until it completes", async () => {
    const { cookie } = await signIn(adminKey());
    const csrf = csrfOf((await get(`/console/namespaces/${ns}/backups`, cookie)).text);
    const target = freshNamespace("cbk-to");
    const backupId = await completedBackup();
    const form = { _csrf: csrf, backupId, target };

    const unconfirmed = await post(`/console/namespaces/${ns}/restore`, form, { cookie });
    expect(unconfirmed.status).toBe(400);
    expect(unconfirmed.text).toContain("tick the confirmation box");
    const none = await api<{ jobs: BackupJob[] }>("GET", `/v1/namespaces/${target}/restore`);
    expect(none.body.jobs).toEqual([]);

    const queue = new HeldQueue();
    const started = await post(
      `/console/namespaces/${ns}/restore`,
      { ...form, confirm: "yes" },
      { cookie, env: heldEnv(queue) },
    );
    expect(started.status).toBe(303);
    const location = started.headers.get("location") ?? "";
    const id = /\/restores\/([^/]+)$/.exec(location)?.[1] ?? "";
    expect(location).toBe(`/console/namespaces/${target}/restores/${id}`);
    const running = await get(location, cookie);
    expect(running.status).toBe(200);
    expect(running.text).toContain("running");
    expect(running.text).toContain(`${ns} / ${backupId}`);
    expect(running.text).toContain(REFRESH);

    await release(queue);
    await complete(`/v1/namespaces/${target}/restore/${id}`);
    const done = await get(location, cookie);
    expect(done.text).toContain('<span class="ok">complete</span>');
    expect(done.text).toContain("documents 2/2");
    expect(done.text).not.toContain(REFRESH);
    // The target's backups page lists the restore into it.
    const targetPage = await get(`/console/namespaces/${target}/backups`, cookie);
    expect(targetPage.text).toContain(`/console/namespaces/${target}/restores/${id}`);
    expect((await api("GET", `/v1/namespaces/${target}/documents/b2`)).status).toBe(200);
  });

  it("shows another namespace's backups to no key scoped elsewhere, and none to a non-admin key", async () => {
    const other = freshNamespace("cbk-other");
    const backupId = await completedBackup();
    const scoped = await signIn((await createKey([other], ["admin"])).key);
    const refused = await get(`/console/namespaces/${ns}/backups`, scoped.cookie);
    expect(refused.status).toBe(403);
    expect(refused.text).not.toContain(backupId);
    const csrf = csrfOf((await get(`/console/namespaces/${other}/backups`, scoped.cookie)).text);
    const start = await post(`/console/namespaces/${ns}/backups`, { _csrf: csrf }, { cookie: scoped.cookie });
    expect(start.status).toBe(403);
    // Nor restores one of them into a namespace it covers.
    const restore = await post(
      `/console/namespaces/${ns}/restore`,
      { _csrf: csrf, backupId, target: other, confirm: "yes" },
      { cookie: scoped.cookie },
    );
    expect(restore.status).toBe(403);
    expect((await api<{ jobs: unknown[] }>("GET", `/v1/namespaces/${ns}/backups`)).body.jobs).toHaveLength(1);

    const writer = await signIn((await createKey([ns], ["search", "write"])).key);
    const noAdmin = await get(`/console/namespaces/${ns}/backups`, writer.cookie);
    expect(noAdmin.status).toBe(403);
    expect(noAdmin.text).toContain("this key does not have the &quot;admin&quot; role");
    expect(noAdmin.text).not.toContain(backupId);
  });

  it("reloads the versions page only while a version builds", async () => {
    const vns = freshNamespace("cbk-ver");
    await writeIndexed(vns, docs.slice(0, 1));
    const { cookie } = await signIn(adminKey());
    const idle = await get(`/console/namespaces/${vns}/versions`, cookie);
    expect(idle.status).toBe(200);
    expect(idle.text).not.toContain(REFRESH);
    // The build's steps wait in the held queue: the version stays building.
    const queue = new HeldQueue();
    const built = await apiWithEnv(heldEnv(queue), "POST", `/v1/namespaces/${vns}/versions`, {
      model: "@cf/baai/bge-small-en-v1.5",
    });
    expect(built.status, JSON.stringify(built.body)).toBe(202);
    const building = await get(`/console/namespaces/${vns}/versions`, cookie);
    expect(building.text).toContain("<td>building</td>");
    expect(building.text).toContain(REFRESH);
  });
});
