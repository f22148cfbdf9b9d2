// Authentication, authorization and rate limiting for every /v1 route. The namespace a request
// may touch is the one in its path, and only if the verified key covers it; nothing else the
// client sends widens that. Never skipped, in any mode.
import type { Context, MiddlewareHandler } from "hono";
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

/**
 * The role a request needs: reads need search, writes need write; /v1/admin and a namespace's
 * index versions, golden queries, backups, restores and quotas (what changes or exports the
 * whole namespace, or what it may hold) and raw R2 object writes need admin.
 */
export function requiredRole(method: string, path: string): Role {
  if (path.startsWith("/v1/admin/") || path === "/v1/admin") return "admin";
  if (/^\/v1\/namespaces\/[^/]+\/(versions|golden-queries|backups|restore|objects|quotas)(\/|$)/.test(path))
    return "admin";
  if (method === "GET" || method === "HEAD") return "search";
  if (method === "POST" && /^\/v1\/namespaces\/[^/]+\/search$/.test(path)) return "search";
  return "write";
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
export async function authenticateRequest(c: Context<AppEnv>): Promise<Principal> {
  const config = c.get("config");
  const address = clientAddressKey(c.req.header("cf-connecting-ip"));
  const now = Date.now();
  const wait = address === null ? null : blockedFor(address, now);
  if (wait !== null) throw tooManyFailures(wait);
  try {
    return await authenticate(c.req.header("authorization"), {
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

export const requireKey: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = await authenticateRequest(c);
  // The router matches on the decoded path: authorize exactly what it will route.
  const path = c.req.path;
  const role = requiredRole(c.req.method, path);
  if (!hasRole(principal, role)) {
    throw new AppError("forbidden", `this key does not have the "${role}" role`);
  }
  const namespace = pathNamespace(path);
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
