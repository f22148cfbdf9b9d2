// The operator console at /console: server-rendered pages over the API's own routes, signed in
// with an API key once, or through Cloudflare Access when configured (./access.ts). The session
// cookie carries a signed token (src/auth/session.ts), never the key; every state-changing form
// carries a CSRF token bound to the session and must come from this origin. Pages work without
// JavaScript and run none.
import { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Fetcher } from "../../src/auth/access-jwt";
import { KeyStore } from "../../src/auth/key-store";
import {
  csrfToken,
  csrfTokenValid,
  issueSession,
  type Session,
  sessionPrincipal,
  verifySessionToken,
} from "../../src/auth/session";
import { AppError } from "../../src/errors";
import { MIN_KV_TTL_SECONDS } from "../../src/store/kv-limits";
import { setBounded } from "../../src/util/bounded-map";
import { authenticateRequest } from "../api/auth";
import { requestContext, withServices } from "../api/middleware";
import { ACCESS_LOGOUT_PATH, AccessKeyCache, accessSignIn, accessToken, isAccessSession } from "./access";
import { registerAdminPages } from "./admin-pages";
import { registerBackupPages } from "./backup-pages";
import { registerNamespacePages } from "./namespace-pages";
import { contentSecurityPolicy, html, newNonce, page, problemBox } from "./render";
import type { ApiFetch, ConsoleEnv } from "./types";

export const COOKIE = "console_session";
const COOKIE_PATH = "/console";
const SIGNED_OUT_PREFIX = "console:signed-out:";

// Isolate-lifetime: session ids signed out here, so this isolate refuses them before KV's write
// reaches every location (up to 60 s elsewhere: https://developers.cloudflare.com/kv/concepts/how-kv-works/).
const signedOut = new Map<string, number>();

async function isSignedOut(kv: KVNamespace, session: Session): Promise<boolean> {
  if (signedOut.has(session.sessionId)) return true;
  return (await kv.get(SIGNED_OUT_PREFIX + session.sessionId)) !== null;
}

/** Whether a POST comes from a page of this origin (the Origin header browsers send with forms). */
function sameOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  if (origin !== null) return origin === new URL(request.url).origin;
  return request.headers.get("sec-fetch-site") === "same-origin";
}

function forbidden(detail: string): AppError {
  return new AppError("forbidden", detail);
}

export interface ConsoleOptions {
  /** How the Access signing keys are fetched (tests pass a fake; never the network there). */
  accessFetch?: Fetcher;
}

export function createConsoleApp(api: ApiFetch, options: ConsoleOptions = {}): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  // Lives as long as the app, which the Worker builds once per isolate.
  const accessKeys = new AccessKeyCache(options.accessFetch ?? ((request) => fetch(request)));

  app.use("*", requestContext);
  app.use("*", async (c, next) => {
    const nonce = newNonce();
    c.set("nonce", nonce);
    await next();
    const h = c.res.headers;
    // The dashboard page sets its own policy (its script); every other page runs no script.
    if (!h.has("content-security-policy")) h.set("content-security-policy", contentSecurityPolicy(nonce));
    h.set("x-frame-options", "DENY");
    h.set("x-content-type-options", "nosniff");
    // Not "no-referrer": under it, browsers send "Origin: null" with the console's own form posts,
    // which the origin check must then refuse. "same-origin" sends nothing to other sites.
    h.set("referrer-policy", "same-origin");
    h.set("strict-transport-security", "max-age=31536000; includeSubDomains");
    h.set("cache-control", "no-store");
  });
  app.use("*", withServices);

  // The session: a verified token whose key still works and that was not signed out, or, behind
  // Cloudflare Access, the request's Access token (a request carrying one is judged by it alone;
  // without one, Access-only consoles refuse it). Pages other than sign-in need one;
  // state-changing requests also need the same origin and the CSRF token.
  app.use("*", async (c, next) => {
    const config = c.get("config");
    const access = config.consoleAccess;
    const viaAccess = access !== null && (!config.consoleKeySignIn || accessToken(c) !== null);
    const token = viaAccess ? undefined : getCookie(c, COOKIE);
    let session: Session | null = null;
    let principal: Awaited<ReturnType<typeof sessionPrincipal>> = null;
    if (access !== null && viaAccess) {
      ({ session, principal } = await accessSignIn(c, access, accessKeys));
    } else if (token) {
      session = await verifySessionToken(config, token);
      principal =
        session && !(await isSignedOut(c.env.KV, session))
          ? await sessionPrincipal(config, new KeyStore(c.env.DB), session)
          : null;
    }
    const isSignIn = c.req.path === "/console/sign-in";
    if (session && principal) {
      c.set("session", session);
      c.set("principal", principal);
      c.set("csrf", await csrfToken(config, session));
    } else if (!isSignIn) {
      if (token) deleteCookie(c, COOKIE, { path: COOKIE_PATH, secure: true });
      if (c.req.method === "GET" || c.req.method === "HEAD") return c.redirect("/console/sign-in", 303);
      throw new AppError("unauthorized", "not signed in, or the session has ended: sign in again");
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      if (!sameOrigin(c.req.raw)) {
        throw forbidden(
          `this form was not sent from this console's origin (${new URL(c.req.url).origin}), but from ${c.req.header("origin") ?? "an unnamed origin"}`,
        );
      }
      if (!isSignIn) {
        const form = await c.req.parseBody();
        const sent = typeof form._csrf === "string" ? form._csrf : "";
        if (!session || !(await csrfTokenValid(config, session, sent))) {
          throw forbidden("the form's CSRF token is missing or not this session's: reload the page");
        }
      }
    }
    await next();
  });

  app.get("/console", (c) => c.redirect("/console/namespaces", 303));

  app.get("/console/sign-in", (c) => {
    if (c.get("session")) return c.redirect("/console/namespaces", 303);
    return signInPage(c);
  });

  app.post("/console/sign-in", async (c) => {
    if (!c.get("config").consoleKeySignIn) {
      throw forbidden("API-key sign-in is off for this console: it signs in through Cloudflare Access");
    }
    const form = await c.req.parseBody();
    const key = typeof form.key === "string" ? form.key.trim() : "";
    let principal: Awaited<ReturnType<typeof authenticateRequest>>;
    try {
      // The same check as an Authorization header, failure limits included.
      principal = await authenticateRequest(c, `Bearer ${key}`);
    } catch (err) {
      if (err instanceof AppError && err.code === "unauthorized") {
        return signInPage(c, err.message, 401);
      }
      throw err;
    }
    const config = c.get("config");
    const { session, token } = await issueSession(config, principal);
    setCookie(c, COOKIE, token, {
      path: COOKIE_PATH,
      httpOnly: true,
      secure: true,
      sameSite: "Strict",
      maxAge: Math.max(1, Math.floor((session.expiresAt - Date.now()) / 1000)),
    });
    return c.redirect("/console/namespaces", 303);
  });

  app.post("/console/sign-out", async (c) => {
    const session = c.get("session");
    // Access holds that session: only its own logout ends it.
    if (session && isAccessSession(session)) return c.redirect(ACCESS_LOGOUT_PATH, 303);
    if (session) {
      setBounded(signedOut, session.sessionId, session.expiresAt, 10_000);
      // A session with under a minute left still gets KV's shortest TTL.
      const ttl = Math.max(MIN_KV_TTL_SECONDS, Math.ceil((session.expiresAt - Date.now()) / 1000));
      await c.env.KV.put(SIGNED_OUT_PREFIX + session.sessionId, "1", { expirationTtl: ttl });
    }
    deleteCookie(c, COOKIE, { path: COOKIE_PATH, secure: true });
    return c.redirect("/console/sign-in", 303);
  });

  registerNamespacePages(app, api);
  registerAdminPages(app, api);
  registerBackupPages(app, api);

  app.notFound((c) => page(c, "Not found", html`<p>No console page here.</p>`, 404));
  app.onError((err, c) => {
    const status = err instanceof AppError ? err.status : 500;
    if (status >= 500) c.get("logger")?.error("console.failed", { err });
    const detail = err instanceof AppError ? err.message : "the console failed; see the logs";
    const code = err instanceof AppError ? err.code : "internal";
    return page(c, "Something went wrong", problemBox({ status, code, detail }), status);
  });
  return app;
}

function signInPage(c: Parameters<typeof page>[0], error?: string, status = 200) {
  return page(
    c,
    "Sign in",
    html`${error ? problemBox({ status, code: "unauthorized", detail: error }) : ""}
<form method="post" action="/console/sign-in"><fieldset><legend>API key</legend>
<p>The key is checked once; the browser then holds a session of at most 30 minutes, never the key.</p>
<label for="key">Key</label> <input id="key" name="key" type="password" autocomplete="off" required size="48">
<button type="submit">Sign in</button></fieldset></form>`,
    status,
  );
}
