// Console session tokens: what they carry, and which tokens and CSRF tokens are refused.
import { describe, expect, it } from "vitest";
import { ADMIN_PRINCIPAL } from "../../src/auth/authenticate";
import type { Principal } from "../../src/auth/scopes";
import {
  csrfToken,
  csrfTokenValid,
  issueSession,
  SESSION_TTL_MS,
  verifySessionToken,
} from "../../src/auth/session";
import { AppError } from "../../src/errors";

const ADMIN = "admin-key-0123456789abcdef0123456789abcdef";
const CONFIG = { adminApiKey: ADMIN, consoleSessionKey: undefined };
const NOW = 1_800_000_000_000;
const KEY: Principal = {
  keyId: "abcdefghijklmnop",
  name: "ops",
  namespaces: ["docs"],
  roles: ["search"],
  rateLimit: "standard",
  expiresAt: NOW + 60_000,
};

describe("console sessions", () => {
  it("carries the key id and an expiry no later than the key's, and verifies until then", async () => {
    const { session, token } = await issueSession(CONFIG, KEY, NOW);
    expect(session.keyId).toBe(KEY.keyId);
    expect(session.expiresAt).toBe(NOW + 60_000);
    expect(await verifySessionToken(CONFIG, token, NOW + 59_999)).toEqual(session);
    expect(await verifySessionToken(CONFIG, token, NOW + 60_000)).toBeNull();
    const admin = await issueSession(CONFIG, ADMIN_PRINCIPAL, NOW);
    expect(admin.session.expiresAt).toBe(NOW + SESSION_TTL_MS);
    expect(admin.token).not.toContain(ADMIN);
  });

  it("refuses a token whose payload was changed, or that another secret signed", async () => {
    const { token } = await issueSession(CONFIG, KEY, NOW);
    const [v, payload, sig] = token.split(".");
    const json = atob((payload ?? "").replace(/-/g, "+").replace(/_/g, "/"));
    const changed = btoa(json.replace(KEY.keyId, "zzzzzzzzzzzzzzzz"))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    expect(await verifySessionToken(CONFIG, `${v}.${changed}.${sig}`, NOW)).toBeNull();
    const other = { adminApiKey: ADMIN, consoleSessionKey: "another-secret-0123456789abcdef0123456789" };
    expect(await verifySessionToken(other, token, NOW)).toBeNull();
    expect(await verifySessionToken(CONFIG, "not a token", NOW)).toBeNull();
  });

  it("binds a CSRF token to its session", async () => {
    const a = await issueSession(CONFIG, KEY, NOW);
    const b = await issueSession(CONFIG, KEY, NOW);
    const token = await csrfToken(CONFIG, a.session);
    expect(await csrfTokenValid(CONFIG, a.session, token)).toBe(true);
    expect(await csrfTokenValid(CONFIG, b.session, token)).toBe(false);
    expect(await csrfTokenValid(CONFIG, a.session, "")).toBe(false);
  });

  it("refuses to sign without a secret", async () => {
    await expect(
      issueSession({ adminApiKey: undefined, consoleSessionKey: undefined }, KEY, NOW),
    ).rejects.toThrow(AppError);
  });
});
