// What a key may do: roles, and namespace patterns ("docs" exactly, "acme-*" by prefix, "*" all).
import { z } from "zod";

export const ROLES = ["search", "write", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** "unlimited" skips rate limiting (the bootstrap admin key; internal tools, benchmarks). */
export const RATE_LIMIT_TIERS = ["low", "standard", "high", "unlimited"] as const;
export type RateLimitTier = (typeof RATE_LIMIT_TIERS)[number];

/** "*" alone, an exact namespace name, or a namespace prefix followed by "*". */
export const NamespacePatternSchema = z
  .string()
  .regex(
    /^(\*|[a-z0-9][a-z0-9_-]{0,62}|[a-z0-9][a-z0-9_-]{0,61}\*)$/,
    'a namespace pattern is "*", a namespace name, or a name prefix followed by "*"',
  );

export interface Principal {
  keyId: string;
  name: string;
  namespaces: readonly string[];
  roles: readonly Role[];
  rateLimit: RateLimitTier;
  /** When the key stops working (epoch ms), or null if never. */
  expiresAt: number | null;
  /** How many namespaces the key may create; null or absent: the deployment's default. */
  maxNamespaces?: number | null;
}

export function patternCovers(pattern: string, namespace: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("*")) return namespace.startsWith(pattern.slice(0, -1));
  return pattern === namespace;
}

export function canAccessNamespace(p: Principal, namespace: string): boolean {
  return p.namespaces.some((pattern) => patternCovers(pattern, namespace));
}

/** admin implies write and search; write does not imply search. */
export function hasRole(p: Principal, role: Role): boolean {
  return p.roles.includes(role) || p.roles.includes("admin");
}

/** Whether every namespace `inner` matches is also matched by `outer`. */
export function patternWithin(inner: string, outer: string): boolean {
  if (outer === "*") return true;
  if (inner === "*") return false;
  if (outer.endsWith("*")) return inner.startsWith(outer.slice(0, -1));
  return !inner.endsWith("*") && inner === outer;
}

/** Whether tier `a` allows no more than tier `b` (tiers are listed from least to most). */
export function tierWithin(a: RateLimitTier, b: RateLimitTier): boolean {
  return RATE_LIMIT_TIERS.indexOf(a) <= RATE_LIMIT_TIERS.indexOf(b);
}

/**
 * An admin may only hand out what it holds: namespaces within its own, roles it has, and a rate
 * limit no more generous than its own. (Listing and revoking use this too, without an expiry.)
 */
export function scopeWithin(
  p: Principal,
  namespaces: readonly string[],
  roles: readonly Role[],
  rateLimit: RateLimitTier = "low",
): boolean {
  return (
    namespaces.every((n) => p.namespaces.some((own) => patternWithin(n, own))) &&
    roles.every((r) => hasRole(p, r)) &&
    tierWithin(rateLimit, p.rateLimit)
  );
}

/** A key a creator asks for. */
export interface GrantSpec {
  namespaces: readonly string[];
  roles: readonly Role[];
  rateLimit: RateLimitTier;
  expiresAt: number | null;
}

/** Which field of a requested key would outrank or outlive its creator, and why; null if none. */
export function grantDefect(creator: Principal, spec: GrantSpec): { field: string; message: string } | null {
  const wider = spec.namespaces.find((n) => !creator.namespaces.some((own) => patternWithin(n, own)));
  if (wider !== undefined)
    return {
      field: "body.namespaces",
      message: `namespace pattern "${wider}" is not within the creating key's`,
    };
  const role = spec.roles.find((r) => !hasRole(creator, r));
  if (role !== undefined)
    return { field: "body.roles", message: `role "${role}" is not held by the creating key` };
  if (!tierWithin(spec.rateLimit, creator.rateLimit))
    return {
      field: "body.rateLimit",
      message: `rate limit "${spec.rateLimit}" is above the creating key's "${creator.rateLimit}"`,
    };
  // A key never outlives its creator: a creator that expires hands out keys that expire no later.
  if (creator.expiresAt !== null && (spec.expiresAt === null || spec.expiresAt > creator.expiresAt)) {
    return {
      field: "body.expiresAt",
      message: `expiresAt must be set and no later than the creating key's expiry, ${new Date(creator.expiresAt).toISOString()}`,
    };
  }
  return null;
}
