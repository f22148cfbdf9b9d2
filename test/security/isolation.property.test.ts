// Tenant isolation as properties: for generated pairs of namespaces and keys, a key whose patterns
// do not cover namespace A can neither read nor change anything of A through any route; a scoped
// admin can only create, list and revoke keys within its scope; a revocation applies at once.

import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { api, waitFor } from "../support";
import {
  grants,
  patternCovers,
  patternWithin,
  ROUTES,
  type Role,
  type RouteParams,
  routeName,
  routePath,
} from "./routes";
import {
  bearer,
  type CreatedKey,
  createKey,
  envNumber,
  expectNoneOf,
  expectProblem,
  insertDeadLetter,
  type RawResponse,
  revokeKey,
  send,
} from "./support";

/** Runs of the cross-tenant property; each indexes two namespaces (about a second). */
const ISOLATION_RUNS = envNumber("VITE_ISOLATION_RUNS", 15);
/** Runs of the key-scope property (a few requests each). */
const SCOPE_RUNS = envNumber("VITE_SCOPE_RUNS", 60);

const NAMESPACE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const PATTERN = /^(\*|[a-z0-9][a-z0-9_-]{0,62}|[a-z0-9][a-z0-9_-]{0,61}\*)$/;
const ALL_ROLES: Role[] = ["search", "write", "admin"];

const covers = (patterns: readonly string[], ns: string) => patterns.some((p) => patternCovers(p, ns));
const within = (inner: readonly string[], outer: readonly string[]) =>
  inner.every((i) => outer.some((o) => patternWithin(i, o)));
const prefixes = (s: string) => Array.from({ length: s.length }, (_, i) => s.slice(0, i + 1));

async function call(key: string, method: string, path: string, body?: unknown): Promise<RawResponse> {
  return send({
    method,
    path,
    headers: { ...bearer(key), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// Short names over a small alphabet, so that prefixes and near misses are common.
const shortName = fc.stringMatching(/^[a-c0-9][a-c0-9_-]{0,9}$/);

const namespacePair = shortName.chain((a) =>
  fc
    .oneof(
      shortName,
      fc.stringMatching(/^[a-c0-9_-]{1,4}$/).map((suffix) => a + suffix),
      fc.integer({ min: 1, max: a.length }).map((n) => a.slice(0, n)),
      fc.constantFrom("a", "b", "c", "0").map((last) => a.slice(0, -1) + last),
    )
    .filter((b) => b !== a && NAMESPACE.test(b))
    .map((b) => ({ a, b })),
);

interface Scenario {
  a: string;
  b: string;
  aPatterns: string[];
  aRoles: Role[];
  bPatterns: string[];
  bRoles: Role[];
  docIds: string[];
}

const scenario: fc.Arbitrary<Scenario> = namespacePair.chain(({ a, b }) => {
  // A's key covers A: exactly, by one of its prefixes, or "*"; plus unrelated patterns.
  const aCover = fc.constantFrom(a, ...prefixes(a).map((p) => `${p}*`), "*");
  // B's key covers B but not A, with near misses of A beside it.
  const bCover = fc.constantFrom(b, ...prefixes(b).map((p) => `${p}*`)).filter((p) => !patternCovers(p, a));
  const nearMisses = [
    a.slice(0, -1),
    `${a}x`,
    `${a}-*`,
    `${a}_*`,
    `${a.slice(0, -1)}${a.endsWith("z") ? "y" : "z"}*`,
    `${b}*`,
  ].filter((p) => PATTERN.test(p) && !patternCovers(p, a));
  return fc.record({
    a: fc.constant(a),
    b: fc.constant(b),
    aPatterns: fc.tuple(aCover, fc.array(shortName, { maxLength: 2 })).map(([c, extra]) => [c, ...extra]),
    aRoles: fc.constantFrom<Role[]>(["search", "write"], ["admin"], ["search", "write", "admin"]),
    bPatterns: fc.tuple(bCover, fc.subarray(nearMisses)).map(([c, extra]) => [...new Set([c, ...extra])]),
    bRoles: fc.subarray(ALL_ROLES, { minLength: 1 }),
    docIds: fc.uniqueArray(
      fc.oneof(
        // "." and ".." are dot segments: a URL cannot carry them as a path segment.
        fc.stringMatching(/^[A-Za-z0-9._~-]{1,16}$/).filter((id) => id !== "." && id !== ".."),
        fc.constantFrom("notes/day 1.md", "é-accent", "日本語", "emoji-🔑", "a%2Fb", "RTL\u200fmark"),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  });
});

const used = new Set<string>();
let run = 0;

function lettersOf(n: number): string {
  let s = "";
  let x = n;
  do {
    s = String.fromCharCode(97 + (x % 26)) + s;
    x = Math.floor(x / 26);
  } while (x > 0);
  return s;
}

interface Snapshot {
  stats: unknown;
  docs: unknown[];
}

async function snapshotOf(ns: string, key: string, ids: readonly string[]): Promise<Snapshot> {
  const stats = await call(key, "GET", `/v1/namespaces/${ns}`);
  expect(stats.status, stats.text).toBe(200);
  const docs: unknown[] = [];
  for (const id of ids) {
    const res = await call(key, "GET", `/v1/namespaces/${ns}/documents/${encodeURIComponent(id)}`);
    expect(res.status, res.text).toBe(200);
    docs.push(res.json);
  }
  return { stats: stats.json, docs };
}

async function keywordIds(ns: string, key: string, query: string): Promise<string[]> {
  const res = await call(key, "POST", `/v1/namespaces/${ns}/search`, {
    query,
    mode: "keyword",
    topK: 20,
    cache: "bypass",
  });
  expect(res.status, res.text).toBe(200);
  return (res.json as { results: { id: string }[] }).results.map((r) => r.id).sort();
}

async function waitIndexed(ns: string, key: string, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await waitFor(`${ns}/${id} indexed`, async () => {
      const res = await call(key, "GET", `/v1/namespaces/${ns}/documents/${encodeURIComponent(id)}`);
      return res.status === 200 && (res.json as { status: string }).status === "indexed";
    });
  }
}

let reader: CreatedKey | undefined;
/** A read-only key over every namespace, to watch B's indexing. */
async function anyReader(): Promise<CreatedKey> {
  reader ??= await createKey({ name: "isolation reader", namespaces: ["*"], roles: ["search"] });
  return reader;
}

describe("a key whose patterns do not cover namespace A", () => {
  it(
    "never reads or changes A's documents, results or stats, through any route",
    async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          fc.pre(!used.has(s.a) && !used.has(s.b));
          used.add(s.a);
          used.add(s.b);
          run += 1;
          // A word both namespaces contain (the query), and one only A's documents contain.
          const shared = `qv${lettersOf(run)}shared`;
          const secret = `qv${lettersOf(run)}secretofa`;
          const aDocs = s.docIds.map((id, i) => ({
            id,
            title: `Title ${i} ${secret}`,
            text: `Ledger entry ${i} mentions ${shared} and ${secret} with amount ${i * 7}.`,
          }));
          const bDoc = { id: "own-b", text: `B's own note about ${shared}.` };
          const keyA = {
            name: `key of A ${secret}`,
            ...(await createKey({ name: `key of A ${secret}`, namespaces: s.aPatterns, roles: s.aRoles })),
          };
          const keyB = await createKey({ name: `b ${s.b}`, namespaces: s.bPatterns, roles: s.bRoles });
          const secrets = [secret, ...aDocs.map((d) => d.title), ...aDocs.map((d) => d.text), keyA.name];

          const written = await call(keyA.key, "POST", `/v1/namespaces/${s.a}/documents`, {
            documents: aDocs,
          });
          expect(written.status, written.text).toBe(202);
          const ownB = await api("PUT", `/v1/namespaces/${s.b}/documents/${bDoc.id}`, { text: bDoc.text });
          expect(ownB.status).toBe(202);
          await waitIndexed(s.a, keyA.key, s.docIds);
          await waitIndexed(s.b, (await anyReader()).key, [bDoc.id]);

          const deadLetterA = await insertDeadLetter(s.a, s.docIds[0] ?? "x");
          const before = await snapshotOf(s.a, keyA.key, s.docIds);
          expect(await keywordIds(s.a, keyA.key, shared)).toEqual([...s.docIds].sort());

          // Every route, aimed at A (or at A's key), with B's key.
          for (const route of ROUTES) {
            const p: RouteParams = {
              ns: s.a,
              docId: route.method === "PUT" ? "planted-by-b" : (s.docIds[0] ?? "x"),
              keyId: keyA.id,
            };
            const body = route.body?.(p);
            const res = await call(keyB.key, route.method, routePath(route, p), body);
            const what = `${routeName(route)} with B's key ${JSON.stringify(s.bPatterns)} ${JSON.stringify(s.bRoles)} on A "${s.a}"`;
            expectNoneOf(res.text, secrets);
            if (route.namespaced || !grants(s.bRoles, "admin")) {
              expect(res.status, what).toBe(403);
              expectProblem(res, 403);
            } else if (route.template === "/v1/admin/keys" && route.method === "GET") {
              expect(res.status, what).toBe(200);
              const listed = (res.json as { keys: { id: string; namespaces: string[] }[] }).keys;
              expect(listed.map((k) => k.id)).not.toContain(keyA.id);
              for (const k of listed) expect(within(k.namespaces, s.bPatterns), JSON.stringify(k)).toBe(true);
            } else if (route.template === "/v1/admin/keys" && route.method === "POST") {
              expect(res.status, what).toBe(403);
            } else if (route.template === "/v1/admin/keys/{id}") {
              // Revoking a key out of scope answers as if it did not exist.
              expect(res.status, what).toBe(404);
            } else if (route.template === "/v1/admin/dead-letters") {
              expect(res.status, what).toBe(200);
              const listed = (res.json as { deadLetters: { id: number; namespace: string | null }[] })
                .deadLetters;
              expect(listed.map((d) => d.id)).not.toContain(deadLetterA);
              for (const d of listed)
                expect(d.namespace !== null && covers(s.bPatterns, d.namespace)).toBe(true);
            } else if (route.template === "/v1/admin/dead-letters/replay") {
              expect(res.status, what).toBe(200);
              expect((res.json as { replayed: number[] }).replayed).not.toContain(deadLetterA);
              const named = await call(keyB.key, "POST", route.template, { ids: [deadLetterA] });
              expectProblem(named, 404);
            } else if (route.template === "/v1/admin/metrics") {
              // Figures and health findings only of namespaces B's patterns cover.
              expect(res.status, what).toBe(200);
              const report = res.json as {
                namespaces: { namespace: string }[];
                health: { namespace: string }[];
              };
              for (const n of [...report.namespaces, ...report.health])
                expect(covers(s.bPatterns, n.namespace), n.namespace).toBe(true);
            } else if (route.template === "/v1/admin/shards") {
              // Index figures span every tenant: a key narrower than "*" gets no counts, no names.
              expect(res.status, what).toBe(200);
              // No value anywhere in the answer is A's name (the text may contain it by chance:
              // a one-letter namespace is in every index name).
              expect(stringValues(res.json)).not.toContain(s.a);
              const listed = (
                res.json as { indexes: { namespaces: number | null; vectors: number | null }[] }
              ).indexes;
              expect(listed.length).toBeGreaterThan(0);
              if (!s.bPatterns.includes("*")) {
                for (const i of listed) expect([i.namespaces, i.vectors]).toEqual([null, null]);
              }
            } else if (route.template === "/v1/admin/dashboard") {
              expect(res.status, what).toBe(200);
              expect(res.text).not.toContain(`"namespace":"${s.a}"`);
            } else {
              throw new Error(`no isolation rule for ${routeName(route)}: add one`);
            }
          }
          const replayed = await env.DB.prepare("SELECT replayed_at FROM dead_letters WHERE id = ?")
            .bind(deadLetterA)
            .first<{ replayed_at: number | null }>();
          expect(replayed?.replayed_at).toBeNull();

          // B searching its own namespace finds only its own document, in every mode.
          for (const mode of ["keyword", "vector", "hybrid"]) {
            const res = await call(keyB.key, "POST", `/v1/namespaces/${s.b}/search`, {
              query: `${shared} ${secret}`,
              mode,
              topK: 50,
              includeText: true,
            });
            expectNoneOf(res.text, secrets);
            if (!grants(s.bRoles, "search")) {
              expect(res.status).toBe(403);
              continue;
            }
            expect(res.status, res.text).toBe(200);
            for (const r of (res.json as { results: { id: string }[] }).results) expect(r.id).toBe(bDoc.id);
          }
          // Documents similar to B's own: none of A's, whose vectors share the index.
          if (grants(s.bRoles, "search")) {
            const path = `/v1/namespaces/${s.b}/documents/${encodeURIComponent(bDoc.id)}/similar`;
            const res = await call(keyB.key, "POST", path, { topK: 50, groupBy: "chunk" });
            expectNoneOf(res.text, secrets);
            // 409 while B's own vectors are still being applied.
            expect([200, 409], res.text).toContain(res.status);
            if (res.status === 200) expect((res.json as { results: unknown[] }).results).toEqual([]);
          }
          if (grants(s.bRoles, "search")) {
            const stats = await call(keyB.key, "GET", `/v1/namespaces/${s.b}`);
            expect(stats.json).toMatchObject({ namespace: s.b, documents: 1 });
          }

          // A is exactly as it was, and still searchable with its own key.
          expect(await snapshotOf(s.a, keyA.key, s.docIds)).toEqual(before);
          expect(await keywordIds(s.a, keyA.key, shared)).toEqual([...s.docIds].sort());
          expect(await env.DOCUMENTS.head(`${s.a}/planted-by-b`)).toBeNull();
        }),
        { numRuns: ISOLATION_RUNS },
      );
    },
    ISOLATION_RUNS * 5_000 + 30_000,
  );
});

describe('an admin whose scope is "acme-*"', () => {
  let acmeAdmin: CreatedKey;
  beforeAll(async () => {
    acmeAdmin = await createKey({ name: "acme admin", namespaces: ["acme-*"], roles: ["admin"] });
  });

  it.each([
    [["*"], 403],
    [["other"], 403],
    [["acme*"], 403],
    [["acme"], 403],
    [["acm"], 403],
    [["acme-x", "other"], 403],
    [["acme-x"], 201],
    [["acme-*"], 201],
    [["acme-x*"], 201],
    [["acme-x-*"], 201],
  ])("creating a key for %j answers %i", async (namespaces, status) => {
    const name = `acme grant ${JSON.stringify(namespaces)}`;
    const res = await call(acmeAdmin.key, "POST", "/v1/admin/keys", { name, namespaces, roles: ["search"] });
    expect(res.status, res.text).toBe(status);
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE name = ?")
      .bind(name)
      .first<{ n: number }>();
    expect(rows?.n).toBe(status === 201 ? 1 : 0);
    if (status === 403) expectProblem(res, 403);
  });

  it("lists only the keys within its scope", async () => {
    const inside = [
      await createKey({ namespaces: ["acme-a"], roles: ["search"] }),
      await createKey({ namespaces: ["acme-b*", "acme-c"], roles: ["write"] }),
    ];
    const outside = [
      await createKey({ namespaces: ["other"], roles: ["search"] }),
      await createKey({ namespaces: ["*"], roles: ["search"] }),
      await createKey({ namespaces: ["acme*"], roles: ["search"] }),
      await createKey({ namespaces: ["acme-a", "other"], roles: ["search"] }),
    ];
    const res = await call(acmeAdmin.key, "GET", "/v1/admin/keys");
    expect(res.status).toBe(200);
    const listed = (res.json as { keys: { id: string; namespaces: string[] }[] }).keys;
    const ids = listed.map((k) => k.id);
    for (const k of inside) expect(ids).toContain(k.id);
    for (const k of outside) expect(ids).not.toContain(k.id);
    for (const k of listed) expect(within(k.namespaces, ["acme-*"]), JSON.stringify(k)).toBe(true);
    expect(res.text).not.toMatch(/secret_hash|"key":/);
  });

  it("cannot revoke a key outside its scope, which keeps working", async () => {
    const other = await createKey({ namespaces: ["other"], roles: ["search"] });
    const res = await call(acmeAdmin.key, "DELETE", `/v1/admin/keys/${other.id}`);
    expectProblem(res, 404);
    expect((await call(other.key, "GET", "/v1/namespaces/other")).status).toBe(200);
  });

  it("revokes a key within its scope, which gets 401 on its next request", async () => {
    const inside = await createKey({ namespaces: ["acme-r"], roles: ["search"] });
    expect((await call(inside.key, "GET", "/v1/namespaces/acme-r")).status).toBe(200);
    expect((await call(acmeAdmin.key, "DELETE", `/v1/admin/keys/${inside.id}`)).status).toBe(200);
    expectProblem(await call(inside.key, "GET", "/v1/namespaces/acme-r"), 401);
  });

  // The page must be filtered to the caller's namespaces before its LIMIT: filtered after, other
  // tenants' dead letters could hide all of its own from a scoped admin.
  it("sees its own dead letters however many other tenants have", async () => {
    for (let i = 0; i < 100; i++) await insertDeadLetter("other-tenant-dl", `doc-${i}`);
    const own = await insertDeadLetter("acme-dl", "own-doc");
    const res = await call(acmeAdmin.key, "GET", "/v1/admin/dead-letters");
    expect(res.status).toBe(200);
    const listed = (res.json as { deadLetters: { id: number; namespace: string | null }[] }).deadLetters;
    expect(listed.every((d) => d.namespace === "acme-dl")).toBe(true);
    expect(listed.map((d) => d.id)).toContain(own);
  });

  describe("with the standard rate-limit tier", () => {
    let standardAdmin: CreatedKey;
    beforeAll(async () => {
      standardAdmin = await createKey({ namespaces: ["acme-*"], roles: ["admin"], rateLimit: "standard" });
    });
    // An admin cannot grant a more generous rate limit than its own.
    for (const [tier, status] of [
      ["low", 201],
      ["standard", 201],
      ["high", 403],
      ["unlimited", 403],
    ] as const) {
      it(`creating a key with the "${tier}" tier answers ${status}`, async () => {
        const res = await call(standardAdmin.key, "POST", "/v1/admin/keys", {
          name: `tier ${tier}`,
          namespaces: ["acme-t"],
          roles: ["search"],
          rateLimit: tier,
        });
        expect(res.status, res.text).toBe(status);
      });
    }
  });
});

describe("admins with generated scopes", () => {
  const pattern = fc.oneof(
    fc.constant("*"),
    fc.stringMatching(/^[ab][ab-]{0,3}$/),
    fc.stringMatching(/^[ab][ab-]{0,3}\*$/),
  );
  const scope = fc.uniqueArray(pattern, { minLength: 1, maxLength: 3 });

  it(
    "create, list and revoke exactly the keys within their scope",
    async () => {
      await fc.assert(
        fc.asyncProperty(scope, scope, scope, async (adminScope, requested, existing) => {
          const admin = await createKey({
            name: "generated admin",
            namespaces: adminScope,
            roles: ["admin"],
          });
          const allowed = within(requested, adminScope);
          const created = await call(admin.key, "POST", "/v1/admin/keys", {
            name: "generated grant",
            namespaces: requested,
            roles: ["search"],
          });
          expect(created.status, `${JSON.stringify(adminScope)} grants ${JSON.stringify(requested)}`).toBe(
            allowed ? 201 : 403,
          );

          const other = await createKey({
            name: "generated existing",
            namespaces: existing,
            roles: ["search"],
          });
          const visible = within(existing, adminScope);
          const list = await call(admin.key, "GET", "/v1/admin/keys");
          const listed = (list.json as { keys: { id: string; namespaces: string[] }[] }).keys;
          expect(listed.some((k) => k.id === other.id)).toBe(visible);
          for (const k of listed) expect(within(k.namespaces, adminScope), JSON.stringify(k)).toBe(true);

          const revoked = await call(admin.key, "DELETE", `/v1/admin/keys/${other.id}`);
          expect(revoked.status).toBe(visible ? 200 : 404);
          const probe = existing.find((p) => p !== "*" && !p.endsWith("*")) ?? "ab";
          const after = await call(other.key, "GET", `/v1/namespaces/${probe}`);
          expect(after.status).toBe(visible ? 401 : covers(existing, probe) ? 200 : 403);
        }),
        { numRuns: SCOPE_RUNS },
      );
    },
    SCOPE_RUNS * 1_000 + 30_000,
  );
});

describe("revocation", () => {
  it("applies to the very next request in the isolate that revoked the key", async () => {
    const key = await createKey({ namespaces: ["revocation-ns"], roles: ["search", "write"] });
    // Used first, so the key's lookup sits in the isolate's cache when it is revoked.
    for (let i = 0; i < 3; i++) {
      expect((await call(key.key, "GET", "/v1/namespaces/revocation-ns")).status).toBe(200);
    }
    await revokeKey(key.id);
    expectProblem(await call(key.key, "GET", "/v1/namespaces/revocation-ns"), 401);
    const put = await call(key.key, "PUT", "/v1/namespaces/revocation-ns/documents/after", { text: "late" });
    expectProblem(put, 401);
    expect(await env.DOCUMENTS.head("revocation-ns/after")).toBeNull();
  });

  it("also when a revoked admin key tries to list or create keys", async () => {
    const admin = await createKey({ namespaces: ["*"], roles: ["admin"] });
    expect((await call(admin.key, "GET", "/v1/admin/keys")).status).toBe(200);
    await revokeKey(admin.id);
    expectProblem(await call(admin.key, "GET", "/v1/admin/keys"), 401);
    const res = await call(admin.key, "POST", "/v1/admin/keys", {
      name: "made by a revoked key",
      namespaces: ["*"],
      roles: ["admin"],
    });
    expectProblem(res, 401);
  });
});

/** Every string value anywhere in a parsed JSON value (the keys are the schema's, not data). */
function stringValues(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringValues);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(stringValues);
  return [];
}
