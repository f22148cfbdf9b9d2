// Authentication, authorization and rate limiting for every /v1 route. The role a key needs is
// the one the route declares; the namespace a request may touch is the one in its path, and only
// if the verified key covers it; nothing else the client sends widens that. Never skipped, in any
// mode.
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { authenticate } from "../../src/auth/authenticate";
import {
  AUTH_FAILURE_PERIOD_SECONDS,
  blockedFor,
  clientAddressKey,
  countFailure,
} from "../../src/auth/failure-limiter";
import { KeyStore } from "../../src/auth/key-store";
import {
  canAccessNamespace,
  hasRole,
  type Principal,
  type RateLimitTier,
  type Role,
} from "../../src/auth/scopes";
import { AppError } from "../../src/errors";
import type { WorkerEnv } from "../env";
import type { AppEnv } from "./types";

const RATE_LIMIT_PERIOD_SECONDS = 10;

// Isolate-lifetime: the role each route declares, keyed by its `requires` middleware, filled as
// the routes are registered.
const declaredRoles = new WeakMap<object, Role>();

/**
 * The role a key needs for a route, declared in the route's `middleware`. requireKey checks it
 * before anything else runs (rate limits, body checks); the middleware checks it again, so a
 * route reached some other way is refused too.
 */
export function requires(role: Role): MiddlewareHandler<AppEnv> {
  const check: MiddlewareHandler<AppEnv> = async (c, next) => {
    authorizeRole(c.get("principal"), role);
    await next();
  };
  declaredRoles.set(check, role);
  return check;
}

function authorizeRole(principal: Principal | undefined, role: Role): void {
  if (!principal || !hasRole(principal, role)) {
    throw new AppError("forbidden", `this key does not have the "${role}" role`);
  }
}

/**
 * The role the route that will answer declares; null when no route matches (a 404 follows). A
 * route that declares none is refused: every /v1 route must say who may call it.
 */
export function declaredRole(c: Context): Role | null {
  for (const route of matchedRoutes(c)) {
    // Middleware registered with app.use() matches every method; a route's own handlers name one.
    if (route.method === "ALL") continue;
    const role = declaredRoles.get(route.handler);
    if (role === undefined) {
      throw new AppError("internal", `${route.method} ${route.path} declares no required role`, {
        retryable: false,
      });
    }
    return role;
  }
  return null;
}

/**
 * The namespace named by the path, if the route is namespaced. `path` must be the path as the
 * router sees it (c.req.path, percent-decoded except for reserved characters), never the raw URL.
 */
export function pathNamespace(path: string): string | null {
  const m = /^\/v1\/namespaces\/([^/]+)/.exec(path);
  if (!m?.[1]) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

function limiter(env: WorkerEnv, tier: RateLimitTier): RateLimit | null {
  if (tier === "unlimited") return null;
  if (tier === "low") return env.RATE_LIMIT_LOW;
  if (tier === "high") return env.RATE_LIMIT_HIGH;
  return env.RATE_LIMIT_STANDARD;
}

function tooManyFailures(retryAfter: number): AppError {
  return new AppError("rate_limited", "too many failed authentications from this address", {
    extra: { retryAfter },
  });
}

/**
 * The request's key as a Principal, or a 401; failures are counted per client address, and an
 * address over the limit gets a 429 before its key is looked up (src/auth/failure-limiter.ts).
 */
export async function authenticateRequest<E extends AppEnv>(
  c: Context<E>,
  header: string | undefined = c.req.header("authorization"),
): Promise<Principal> {
  const config = c.get("config");
  const address = clientAddressKey(c.req.header("cf-connecting-ip"));
  const now = Date.now();
  const wait = address === null ? null : blockedFor(address, now);
  if (wait !== null) throw tooManyFailures(wait);
  try {
    return await authenticate(header, {
      keys: new KeyStore(c.env.DB),
      adminKey: config.adminApiKey,
      cacheTtlMs: config.keyCacheTtlMs,
      now,
    });
  } catch (err) {
    const failed = err instanceof AppError && err.code === "unauthorized";
    if (failed && address !== null && !(await countFailure(c.env.AUTH_FAILURE_LIMIT, address, now))) {
      throw tooManyFailures(AUTH_FAILURE_PERIOD_SECONDS);
    }
    throw err;
  }
}

// Requests the console builds in this isolate and hands to the app, each with the principal of
// the signed-in key, re-read from the key store (workers/console/session.ts). Only code holding
// the Request object can add one: nothing a client sends reaches this map.
const internalPrincipals = new WeakMap<Request, Principal>();

/** Marks a request built inside the Worker as made with `principal`'s key. */
export function asPrincipal(request: Request, principal: Principal): Request {
  internalPrincipals.set(request, principal);
  return request;
}

export const requireKey: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = internalPrincipals.get(c.req.raw) ?? (await authenticateRequest(c));
  const role = declaredRole(c);
  if (role !== null) authorizeRole(principal, role);
  // The router matches on the decoded path: authorize exactly what it will route.
  const namespace = pathNamespace(c.req.path);
  if (namespace !== null && !canAccessNamespace(principal, namespace)) {
    throw new AppError("forbidden", "this key does not grant access to this namespace");
  }
  const limit = limiter(c.env, principal.rateLimit);
  const allowed = limit ? (await limit.limit({ key: principal.keyId })).success : true;
  if (!allowed) {
    throw new AppError("rate_limited", `rate limit of the key's "${principal.rateLimit}" tier exceeded`, {
      extra: { retryAfter: RATE_LIMIT_PERIOD_SECONDS },
    });
  }
  c.set("principal", principal);
  c.set("logger", c.get("logger").child({ keyId: principal.keyId }));
  await next();
};

/**
 * Checked again by every namespaced handler against its validated `ns` parameter, so the
 * namespace a request touches is always one its key covers, whatever the path looked like.
 */
export function requireNamespace(principal: Principal, namespace: string): void {
  if (!canAccessNamespace(principal, namespace)) {
    throw new AppError("forbidden", "this key does not grant access to this namespace");
  }
}
