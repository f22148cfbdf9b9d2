// API keys end to end: create, use, list without secrets, revoke; rate limits per tier; CORS
// and security headers.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, freshNamespace, waitForStatus } from "../support";

interface CreatedKey {
  id: string;
  key: string;
  name: string;
  namespaces: string[];
  roles: string[];
  rateLimit: string;
  revokedAt: string | null;
}

async function createKey(spec: Record<string, unknown>, as?: string): Promise<CreatedKey> {
  const res = await api<CreatedKey>(
    "POST",
    "/v1/admin/keys",
    { name: "test", ...spec },
    as ? { authorization: `Bearer ${as}` } : {},
  );
  expect(res.status).toBe(201);
  return res.body;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe("API keys", () => {
  it("creates a key that works for its namespace and role, stored only as a hash", async () => {
    const ns = freshNamespace("k");
    const writer = await createKey({ namespaces: [ns], roles: ["write", "search"] });
    expect(writer.key).toMatch(/^es_[0-9A-Za-z]{16}_[A-Za-z0-9_-]{43}$/);
    const put = await api(
      "PUT",
      `/v1/namespaces/${ns}/documents/d1`,
      { text: "kingfishers dive" },
      bearer(writer.key),
    );
    expect(put.status).toBe(202);
    await waitForStatus(ns, "d1", "indexed");
    const found = await api<{ results: { id: string }[] }>(
      "POST",
      `/v1/namespaces/${ns}/search`,
      { query: "kingfishers", mode: "keyword" },
      bearer(writer.key),
    );
    expect(found.body.results.map((r) => r.id)).toEqual(["d1"]);

    const row = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?")
      .bind(writer.id)
      .first<Record<string, unknown>>();
    const secret = writer.key.slice("es_".length + 16 + 1);
    expect(secret).toHaveLength(43);
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(row?.secret_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("lists keys without their secrets and revokes them at once", async () => {
    const ns = freshNamespace("k");
    const key = await createKey({ namespaces: [`${ns}-*`], roles: ["search"], rateLimit: "low" });
    const list = await api<{ keys: Record<string, unknown>[] }>("GET", "/v1/admin/keys");
    const listed = list.body.keys.find((k) => k.id === key.id);
    expect(listed).toMatchObject({
      namespaces: [`${ns}-*`],
      roles: ["search"],
      rateLimit: "low",
      revokedAt: null,
    });
    expect(JSON.stringify(list.body)).not.toContain(key.key);

    const ok = await api("GET", `/v1/namespaces/${ns}-a`, undefined, bearer(key.key));
    expect(ok.status).toBe(200);
    const revoked = await api<CreatedKey>("DELETE", `/v1/admin/keys/${key.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    const denied = await api("GET", `/v1/namespaces/${ns}-a`, undefined, bearer(key.key));
    expect(denied.status).toBe(401);
    expect(denied.headers.get("www-authenticate")).toContain("Bearer");
  });

  it("rejects keys past their expiry", async () => {
    const key = await createKey({
      namespaces: ["*"],
      roles: ["search"],
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect((await api("GET", "/v1/namespaces/any", undefined, bearer(key.key))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    const res = await api<{ detail: string }>("GET", "/v1/namespaces/any", undefined, bearer(key.key));
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/expired/);
  });

  it("lets an admin grant only what it holds", async () => {
    const ns = freshNamespace("k");
    const tenantAdmin = await createKey({ namespaces: [`${ns}-*`], roles: ["admin"] });
    const wider = await api(
      "POST",
      "/v1/admin/keys",
      { name: "x", namespaces: ["*"], roles: ["search"] },
      bearer(tenantAdmin.key),
    );
    expect(wider.status).toBe(403);
    const narrower = await api<CreatedKey>(
      "POST",
      "/v1/admin/keys",
      { name: "x", namespaces: [`${ns}-docs`], roles: ["search"] },
      bearer(tenantAdmin.key),
    );
    expect(narrower.status).toBe(201);
    const list = await api<{ keys: { id: string }[] }>(
      "GET",
      "/v1/admin/keys",
      undefined,
      bearer(tenantAdmin.key),
    );
    expect(list.body.keys.map((k) => k.id).sort()).toEqual([tenantAdmin.id, narrower.body.id].sort());
  });

  it("validates key specs", async () => {
    for (const body of [
      { name: "x", namespaces: ["Bad Name"], roles: ["search"] },
      { name: "x", namespaces: ["a*b"], roles: ["search"] },
      { name: "x", namespaces: ["docs"], roles: ["root"] },
      { name: "x", namespaces: [], roles: ["search"] },
      { name: "x", namespaces: ["docs"], roles: ["search"], expiresAt: "2001-01-01T00:00:00Z" },
      { name: "x", namespaces: ["docs"], roles: ["search"], rateLimit: "infinite" },
    ]) {
      const res = await api("POST", "/v1/admin/keys", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe("rate limits", () => {
  it("answers 429 with Retry-After once a key exceeds its tier", async () => {
    const key = await createKey({ namespaces: ["*"], roles: ["search"], rateLimit: "low" });
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof api>> | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const res = await api("GET", "/v1/namespaces/rl", undefined, bearer(key.key));
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(limited?.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(limited?.headers.get("content-type")).toBe("application/problem+json");
    // The "low" tier allows 20 requests per 10 s.
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(20);
    // Another key is not affected.
    const other = await createKey({ namespaces: ["*"], roles: ["search"], rateLimit: "low" });
    expect((await api("GET", "/v1/namespaces/rl", undefined, bearer(other.key))).status).toBe(200);
  });
});

describe("headers", () => {
  it("sets security headers on API answers", async () => {
    const res = await api("GET", "/v1/namespaces/h");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(res.headers.get("strict-transport-security")).toContain("max-age=");
  });

  it("allows the docs page its inline script", async () => {
    const res = await api("GET", "/docs");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'unsafe-inline'");
  });

  it("answers CORS preflights only for configured origins", async () => {
    // CORS_ORIGINS is empty in wrangler.toml: no origin is allowed.
    const res = await api("OPTIONS", "/v1/namespaces/h/search", undefined, {
      origin: "https://evil.example",
      "access-control-request-method": "POST",
      authorization: "",
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});
