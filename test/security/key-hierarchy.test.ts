// Keys created by keys: a key never outranks nor outlives its creator, and revoking a key revokes
// every key created from it, at any depth, here at once and in other isolates within
// KEY_CACHE_TTL_SECONDS.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { authenticate, clearKeyCache } from "../../src/auth/authenticate";
import { KeyStore } from "../../src/auth/key-store";
import { AppError } from "../../src/errors";
import { api, freshNamespace } from "../support";
import { bearer, createKey, expectProblem, type KeySpec, revokeKey, send } from "./support";

const HOUR = 3_600_000;

/** Asks `creator` for a key; the raw answer. */
function requestKey(creator: string, spec: KeySpec) {
  return send({
    method: "POST",
    path: "/v1/admin/keys",
    headers: { ...bearer(creator), "content-type": "application/json" },
    body: JSON.stringify({ name: "child", ...spec }),
  });
}

async function status(key: string, ns: string): Promise<number> {
  return (await send({ method: "GET", path: `/v1/namespaces/${ns}`, headers: bearer(key) })).status;
}

describe("creating keys", () => {
  it("refuses a key that would outlive its creator, naming expiresAt", async () => {
    const ns = freshNamespace("kh");
    const until = Date.now() + HOUR;
    const parent = await createKey({
      namespaces: [`${ns}-*`],
      roles: ["admin"],
      expiresAt: new Date(until).toISOString(),
    });
    for (const expiresAt of [undefined, new Date(until + 1000).toISOString()]) {
      const res = await requestKey(parent.key, {
        namespaces: [`${ns}-a`],
        roles: ["search"],
        rateLimit: "low",
        ...(expiresAt ? { expiresAt } : {}),
      });
      const problem = expectProblem(res, 403);
      expect(res.json).toMatchObject({ field: "body.expiresAt" });
      expect(problem.detail).toContain(new Date(until).toISOString());
    }
    const within = await requestKey(parent.key, {
      namespaces: [`${ns}-a`],
      roles: ["search"],
      rateLimit: "low",
      expiresAt: new Date(until).toISOString(),
    });
    expect(within.status, within.text).toBe(201);
  });

  it("lets a creator without expiry give any expiry, or none", async () => {
    const ns = freshNamespace("kh");
    const parent = await createKey({ namespaces: [`${ns}-*`], roles: ["admin"] });
    for (const expiresAt of [undefined, new Date(Date.now() + 1000 * HOUR).toISOString()]) {
      const res = await requestKey(parent.key, {
        namespaces: [`${ns}-a`],
        roles: ["search"],
        rateLimit: "low",
        ...(expiresAt ? { expiresAt } : {}),
      });
      expect(res.status, res.text).toBe(201);
    }
  });

  it("refuses a key that would outrank its creator, naming the field", async () => {
    const ns = freshNamespace("kh");
    const parent = await createKey({ namespaces: [`${ns}-*`], roles: ["admin"], rateLimit: "standard" });
    const cases: [KeySpec, string][] = [
      [{ namespaces: ["*"], roles: ["search"], rateLimit: "low" }, "body.namespaces"],
      // "<ns>*" also covers "<ns>x", which "<ns>-*" does not.
      [{ namespaces: [`${ns}*`], roles: ["search"], rateLimit: "low" }, "body.namespaces"],
      [{ namespaces: [`${ns}-a`, "other"], roles: ["search"], rateLimit: "low" }, "body.namespaces"],
      [{ namespaces: [`${ns}-a`], roles: ["search"], rateLimit: "high" }, "body.rateLimit"],
      [{ namespaces: [`${ns}-a`], roles: ["search"], rateLimit: "unlimited" }, "body.rateLimit"],
    ];
    for (const [spec, field] of cases) {
      const res = await requestKey(parent.key, spec);
      expectProblem(res, 403);
      expect(res.json, JSON.stringify(spec)).toMatchObject({ field });
    }
    const equal = await requestKey(parent.key, {
      namespaces: [`${ns}-a*`],
      roles: ["admin"],
      rateLimit: "standard",
    });
    expect(equal.status, equal.text).toBe(201);
  });

  it("refuses a key to a creator revoked since this isolate cached it", async () => {
    const ns = freshNamespace("kh");
    const parent = await createKey({ namespaces: [`${ns}-*`], roles: ["admin"] });
    expect(await status(parent.key, `${ns}-a`)).toBe(200);
    // Revoked by another isolate: this one still holds the key as valid.
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1")
      .bind(parent.id, Date.now())
      .run();
    expect(await status(parent.key, `${ns}-a`)).toBe(200);
    const res = await requestKey(parent.key, {
      namespaces: [`${ns}-a`],
      roles: ["search"],
      rateLimit: "low",
    });
    expectProblem(res, 401);
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE created_by = ?")
      .bind(parent.id)
      .first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });
});

describe("revoking keys", () => {
  it("revokes the keys a key created, and theirs: children and grandchildren answer 401", async () => {
    const ns = freshNamespace("kh");
    const parent = await createKey({ namespaces: [`${ns}-*`], roles: ["admin"] });
    const child = await createKey(
      { namespaces: [`${ns}-a*`], roles: ["admin"], rateLimit: "high" },
      parent.key,
    );
    const grandchild = await createKey({ namespaces: [`${ns}-a1`], roles: ["search"] }, child.key);
    const sibling = await createKey({ namespaces: [`${ns}-b`], roles: ["search"] }, parent.key);
    const unrelated = await createKey({ namespaces: [`${ns}-a1`], roles: ["search"] });
    for (const k of [parent, child, grandchild, sibling, unrelated])
      expect(await status(k.key, `${ns}-a1`)).not.toBe(401);

    const res = await api<{ revokedAt: string | null; revokedDescendants: number }>(
      "DELETE",
      `/v1/admin/keys/${parent.id}`,
    );
    expect(res.status).toBe(200);
    expect(res.body.revokedDescendants).toBe(3);
    for (const k of [parent, child, grandchild, sibling]) {
      expectProblem(
        await send({ method: "GET", path: `/v1/namespaces/${ns}-a1`, headers: bearer(k.key) }),
        401,
      );
    }
    expect(await status(unrelated.key, `${ns}-a1`)).toBe(200);
  });

  it("revoking a child leaves its creator working", async () => {
    const ns = freshNamespace("kh");
    const parent = await createKey({ namespaces: [`${ns}-*`], roles: ["admin"] });
    const child = await createKey({ namespaces: [`${ns}-a`], roles: ["admin"] }, parent.key);
    await revokeKey(child.id, parent.key);
    expect(await status(child.key, `${ns}-a`)).toBe(401);
    expect(await status(parent.key, `${ns}-a`)).toBe(200);
  });

  it("stops descendants cached by another isolate once KEY_CACHE_TTL has passed", async () => {
    clearKeyCache();
    const store = new KeyStore(env.DB);
    const ns = freshNamespace("kh");
    const spec = { name: "k", namespaces: [`${ns}-*`], roles: ["admin" as const], rateLimit: "low" as const };
    const parent = await store.create({ ...spec, expiresAt: null }, "admin-secret");
    const child = await store.create({ ...spec, expiresAt: null }, parent.record.id);
    const grandchild = await store.create({ ...spec, expiresAt: null }, child.record.id);
    const ttl = 30_000;
    const t0 = Date.now();
    const auth = (key: string, now: number) =>
      authenticate(`Bearer ${key}`, { keys: store, adminKey: undefined, cacheTtlMs: ttl, now });
    for (const k of [child, grandchild]) await auth(k.key, t0);
    // Revoked in D1 by another isolate: this isolate's cache is not cleared.
    const revoked = await store.revoke(parent.record.id, t0);
    expect(revoked?.descendants).toBe(2);
    for (const k of [child, grandchild]) {
      // Within the bound the cached lookup may still answer; once it has passed, never.
      await expect(auth(k.key, t0 + ttl - 1)).resolves.toMatchObject({ keyId: k.record.id });
      const late = await auth(k.key, t0 + ttl).catch((e: unknown) => e);
      expect(late).toBeInstanceOf(AppError);
      expect((late as AppError).code).toBe("unauthorized");
    }
  });
});

describe("migration 0007", () => {
  it("revokes the descendants of keys revoked before, and clamps their expiry to their ancestors'", async () => {
    const migration = env.TEST_MIGRATIONS.find((m) => m.name.startsWith("0007_"));
    expect(migration).toBeDefined();
    const p = freshNamespace("mig");
    const insert = (id: string, createdBy: string, expiresAt: number | null, revokedAt: number | null) =>
      env.DB.prepare(
        `INSERT INTO api_keys (id, name, secret_hash, namespaces, roles, rate_limit, created_by, created_at, expires_at, revoked_at)
         VALUES (?1, 'm', 'x', '["*"]', '["admin"]', 'low', ?2, 0, ?3, ?4)`,
      )
        .bind(
          `${p}-${id}`,
          createdBy === "admin-secret" ? createdBy : `${p}-${createdBy}`,
          expiresAt,
          revokedAt,
        )
        .run();
    await insert("root", "admin-secret", 5000, 100);
    await insert("child", "root", null, null);
    await insert("grandchild", "child", 9000, null);
    await insert("other", "admin-secret", 7000, null);
    await insert("other-child", "other", 8000, null);
    await insert("other-early", "other", 6000, null);
    for (const query of migration?.queries ?? []) await env.DB.prepare(query).run();
    const rows = await env.DB.prepare(
      "SELECT id, expires_at, revoked_at FROM api_keys WHERE id LIKE ?1 ORDER BY id",
    )
      .bind(`${p}-%`)
      .all<{ id: string; expires_at: number | null; revoked_at: number | null }>();
    const byId = Object.fromEntries(rows.results.map((r) => [r.id.slice(p.length + 1), r]));
    expect(byId.child).toMatchObject({ revoked_at: 100, expires_at: 5000 });
    expect(byId.grandchild).toMatchObject({ revoked_at: 100, expires_at: 5000 });
    expect(byId.other).toMatchObject({ revoked_at: null, expires_at: 7000 });
    expect(byId["other-child"]).toMatchObject({ revoked_at: null, expires_at: 7000 });
    expect(byId["other-early"]).toMatchObject({ revoked_at: null, expires_at: 6000 });
  });
});
