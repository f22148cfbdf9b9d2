// Which scopes an Access identity gets in the console (CONSOLE_ACCESS_IDENTITIES), and how the
// console's Access settings are read and refused.
import { describe, expect, it } from "vitest";
import { AccessIdentityRulesSchema, accessPrincipal } from "../../src/auth/access-identities";
import type { AccessIdentity } from "../../src/auth/access-jwt";
import { loadConfig } from "../../src/config";

const rules = AccessIdentityRulesSchema.parse([
  { emailDomain: "example.com", namespaces: ["docs"], roles: ["search"] },
  { email: "Ops@Example.com", namespaces: ["*"], roles: ["admin"], rateLimit: "high" },
]);

const identity = (email: string | null): AccessIdentity => ({
  email,
  sub: "sub-1",
  expiresAt: 1_800_000_000_000,
  signInId: "sub-1:nonce",
});

describe("accessPrincipal", () => {
  it("gives an exact email its own rule before its domain's, case-insensitively", () => {
    expect(accessPrincipal(rules, identity("OPS@example.com"))).toEqual({
      keyId: "access:ops@example.com",
      name: "ops@example.com",
      namespaces: ["*"],
      roles: ["admin"],
      rateLimit: "high",
      expiresAt: null,
      maxNamespaces: null,
    });
    expect(accessPrincipal(rules, identity("dev@example.com"))).toMatchObject({
      namespaces: ["docs"],
      roles: ["search"],
      rateLimit: "standard",
    });
  });

  it("grants nothing to another domain, a subdomain, a look-alike, or a token without an email", () => {
    for (const email of ["dev@example.org", "dev@corp.example.com", "dev@badexample.com", "example.com"]) {
      expect(accessPrincipal(rules, identity(email)), email).toBeNull();
    }
    expect(accessPrincipal(rules, identity(null))).toBeNull();
  });
});

describe("console Access settings", () => {
  const on = {
    CONSOLE_ACCESS_TEAM_DOMAIN: "https://team.cloudflareaccess.com/",
    CONSOLE_ACCESS_AUD: "a1b2c3",
    CONSOLE_ACCESS_IDENTITIES: '[{"email":"ops@example.com","namespaces":["*"],"roles":["admin"]}]',
  };

  it("is off by default, with API-key sign-in on", () => {
    const config = loadConfig({});
    expect(config.consoleAccess).toBeNull();
    expect(config.consoleKeySignIn).toBe(true);
  });

  it("turns API-key sign-in off behind Access unless asked to keep it", () => {
    const config = loadConfig(on);
    expect(config.consoleAccess).toMatchObject({
      teamDomain: "https://team.cloudflareaccess.com",
      audience: "a1b2c3",
    });
    expect(config.consoleAccess?.identities).toHaveLength(1);
    expect(config.consoleKeySignIn).toBe(false);
    expect(loadConfig({ ...on, CONSOLE_API_KEY_SIGN_IN: "true" }).consoleKeySignIn).toBe(true);
  });

  it("refuses half a configuration, a bad mapping, and a console with no sign-in at all", () => {
    expect(() => loadConfig({ CONSOLE_ACCESS_TEAM_DOMAIN: on.CONSOLE_ACCESS_TEAM_DOMAIN })).toThrow(
      /CONSOLE_ACCESS_AUD/,
    );
    expect(() =>
      loadConfig({ ...on, CONSOLE_ACCESS_TEAM_DOMAIN: "http://team.cloudflareaccess.com" }),
    ).toThrow(/CONSOLE_ACCESS_TEAM_DOMAIN/);
    expect(() => loadConfig({ ...on, CONSOLE_ACCESS_IDENTITIES: "{not json" })).toThrow(
      /CONSOLE_ACCESS_IDENTITIES/,
    );
    expect(() =>
      loadConfig({ ...on, CONSOLE_ACCESS_IDENTITIES: '[{"email":"ops@example.com","namespaces":["*"]}]' }),
    ).toThrow(/CONSOLE_ACCESS_IDENTITIES/);
    expect(() =>
      loadConfig({
        ...on,
        CONSOLE_ACCESS_IDENTITIES:
          '[{"email":"a@example.com","emailDomain":"example.com","namespaces":["*"],"roles":["admin"]}]',
      }),
    ).toThrow(/CONSOLE_ACCESS_IDENTITIES/);
    expect(() => loadConfig({ CONSOLE_API_KEY_SIGN_IN: "false" })).toThrow(/CONSOLE_API_KEY_SIGN_IN/);
  });
});
