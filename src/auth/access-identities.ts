// Who may use the console behind Cloudflare Access, and with what scope: CONSOLE_ACCESS_IDENTITIES
// maps an Access identity (an exact email, or every email of a domain) to what an API key would
// hold (namespace patterns, roles, rate-limit tier; src/auth/scopes.ts). An identity no rule names
// gets no console at all: Access decides who reaches the hostname, this list what each one sees.
import { z } from "zod";
import type { AccessIdentity } from "./access-jwt";
import { NamespacePatternSchema, type Principal, RATE_LIMIT_TIERS, ROLES } from "./scopes";

/** The key id an Access identity's requests carry (rate limits, logs, keys' created_by). */
export const ACCESS_KEY_ID_PREFIX = "access:";

const ScopeFields = {
  namespaces: z.array(NamespacePatternSchema).min(1).max(100),
  roles: z.array(z.enum(ROLES)).min(1),
  rateLimit: z.enum(RATE_LIMIT_TIERS).default("standard"),
  maxNamespaces: z.number().int().min(0).max(1_000_000).nullable().default(null),
};

export const AccessIdentityRuleSchema = z.union([
  z
    .object({
      email: z
        .string()
        .toLowerCase()
        .regex(/^[^@\s]+@[a-z0-9.-]+\.[a-z]{2,}$/, "an email address"),
      ...ScopeFields,
    })
    .strict(),
  z
    .object({
      emailDomain: z
        .string()
        .toLowerCase()
        .regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, 'an email domain such as "example.com", without "@"'),
      ...ScopeFields,
    })
    .strict(),
]);
export type AccessIdentityRule = z.infer<typeof AccessIdentityRuleSchema>;

export const AccessIdentityRulesSchema = z.array(AccessIdentityRuleSchema).max(1000);

/**
 * The rule for `email`: the one naming it exactly, else the one for its domain (exact domain only:
 * "example.com" does not cover "corp.example.com"). The first such rule in the list wins.
 */
export function ruleFor(rules: readonly AccessIdentityRule[], email: string): AccessIdentityRule | null {
  const lower = email.toLowerCase();
  const domain = lower.slice(lower.lastIndexOf("@") + 1);
  return (
    rules.find((r) => "email" in r && r.email === lower) ??
    rules.find((r) => "emailDomain" in r && r.emailDomain === domain) ??
    null
  );
}

/** The principal a verified Access identity acts as, or null when no rule names it. */
export function accessPrincipal(
  rules: readonly AccessIdentityRule[],
  identity: AccessIdentity,
): Principal | null {
  if (identity.email === null || !identity.email.includes("@")) return null;
  const rule = ruleFor(rules, identity.email);
  if (!rule) return null;
  const email = identity.email.toLowerCase();
  return {
    keyId: `${ACCESS_KEY_ID_PREFIX}${email}`,
    name: email,
    namespaces: rule.namespaces,
    roles: rule.roles,
    rateLimit: rule.rateLimit,
    // The rule, not the token, is what is granted: a token's expiry ends the request's sign-in
    // (the session), and a key this identity creates may outlive it as one an admin key creates.
    expiresAt: null,
    maxNamespaces: rule.maxNamespaces,
  };
}
