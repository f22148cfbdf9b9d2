// Every /v1 route against every way a caller can lack the right to call it: no key, a malformed
// header, a key that does not exist or no longer works, a key for another namespace, a key without
// the role. Each answer must be exactly 401 or 403 as problem+json, carry none of the stored data,
// and leave storage exactly as it was.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { adminKey, api } from "../support";
import {
  encodedRoutePath,
  grants,
  openApiOperations,
  PUBLIC_ROUTES,
  ROUTES,
  type Role,
  type RouteParams,
  type RouteSpec,
  routeName,
  routePath,
} from "./routes";
import {
  bearer,
  type CreatedKey,
  createKey,
  expectNoneOf,
  expectProblem,
  insertDeadLetter,
  revokeKey,
  type SeedDocument,
  seed,
  send,
  snapshotStorage,
  unknownKey,
} from "./support";

const VICTIM = "tenant-a";
// Namespaces that prefix patterns must not reach: "acme-*" covers neither of these.
const PREFIX_VICTIMS = ["acmex", "acm", "acme"];
const SEEDED = [VICTIM, ...PREFIX_VICTIMS];

function documentsOf(ns: string): SeedDocument[] {
  const marker = `zqx${ns.replace(/[^a-z]/g, "")}ledger`;
  return [1, 2].map((i) => ({
    id: `secret-${ns}-${i}`,
    title: `Confidential ${ns} title ${i}`,
    text: `The ${marker} of ${ns} holds payroll figures number ${i} and ${marker}${i} entries.`,
  }));
}

interface Keys {
  revoked: CreatedKey;
  revokedParent: CreatedKey;
  orphan: CreatedKey;
  expired: CreatedKey;
  searchOnly: CreatedKey;
  writeOnly: CreatedKey;
  searchWrite: CreatedKey;
  otherTenant: CreatedKey;
  exactName: CreatedKey;
  acmeAdmin: CreatedKey;
  acmeReadWrite: CreatedKey;
  manyPatterns: CreatedKey;
  victimReader: CreatedKey;
}

let keys: Keys;
/** Strings that must never appear in an answer to a refused request. */
let secrets: string[] = [];

interface SecurityCase {
  name: string;
  status: 401 | 403;
  applies: (route: RouteSpec) => boolean;
  /** The namespace the request targets (or that a created key would cover, on admin routes). */
  ns: string;
  headers: () => Record<string, string>;
  /** The roles of the key sent, when it is a valid key covering the namespace. */
  roles?: Role[];
}

const all = () => true;
const namespaced = (r: RouteSpec) => r.namespaced;

const CASES: SecurityCase[] = [
  { name: "no Authorization header", status: 401, applies: all, ns: VICTIM, headers: () => ({}) },
  {
    name: "Basic credentials",
    status: 401,
    applies: all,
    ns: VICTIM,
    headers: () => ({ authorization: "Basic dXNlcjpwYXNzd29yZA==" }),
  },
  {
    name: 'scheme without a key ("Bearer")',
    status: 401,
    applies: all,
    ns: VICTIM,
    headers: () => ({ authorization: "Bearer" }),
  },
  {
    name: 'two spaces and two words ("Bearer  two words")',
    status: 401,
    applies: all,
    ns: VICTIM,
    headers: () => ({ authorization: "Bearer  two words" }),
  },
  {
    name: "a valid key followed by a second word",
    status: 401,
    applies: all,
    ns: VICTIM,
    headers: () => ({ authorization: `Bearer ${adminKey()} extra` }),
  },
  {
    name: "non-ASCII key",
    status: 401,
    applies: all,
    ns: VICTIM,
    // workerd sends non-ASCII header text as its UTF-8 bytes (and logs a warning about it).
    headers: () => ({ authorization: "Bearer es_ключ_🔑é" }),
  },
  {
    name: "two credentials in one header",
    status: 401,
    applies: all,
    ns: VICTIM,
    headers: () => ({ authorization: `Bearer ${unknownKey()}, Bearer ${adminKey()}` }),
  },
  {
    name: "unknown key (well-formed, never issued)",
    status: 401,
    applies: all,
    ns: VICTIM,
    headers: () => bearer(unknownKey()),
  },
  {
    name: "issued key id with a forged secret",
    status: 401,
    applies: all,
    ns: VICTIM,
    headers: () => bearer(`es_${keys.searchWrite.id}_${unknownKey().slice(-43)}`),
  },
  {
    name: "bootstrap admin key missing its last character",
    status: 401,
    applies: all,
    ns: VICTIM,
    headers: () => bearer(adminKey().slice(0, -1)),
  },
  { name: "revoked key", status: 401, applies: all, ns: VICTIM, headers: () => bearer(keys.revoked.key) },
  { name: "expired key", status: 401, applies: all, ns: VICTIM, headers: () => bearer(keys.expired.key) },
  {
    name: "key created by a key since revoked",
    status: 401,
    applies: all,
    ns: VICTIM,
    headers: () => bearer(keys.orphan.key),
  },
  {
    name: "search-only key",
    status: 403,
    applies: (r) => !grants(["search"], r.role),
    ns: VICTIM,
    headers: () => bearer(keys.searchOnly.key),
    roles: ["search"],
  },
  {
    name: "write-only key",
    status: 403,
    applies: (r) => !grants(["write"], r.role),
    ns: VICTIM,
    headers: () => bearer(keys.writeOnly.key),
    roles: ["write"],
  },
  {
    name: "search and write key",
    status: 403,
    applies: (r) => !grants(["search", "write"], r.role),
    ns: VICTIM,
    headers: () => bearer(keys.searchWrite.key),
    roles: ["search", "write"],
  },
  {
    name: 'key for "tenant-b" on "tenant-a"',
    status: 403,
    applies: namespaced,
    ns: VICTIM,
    headers: () => bearer(keys.otherTenant.key),
  },
  {
    name: 'key for "tenant" (an exact name, not a prefix) on "tenant-a"',
    status: 403,
    applies: namespaced,
    ns: VICTIM,
    headers: () => bearer(keys.exactName.key),
  },
  {
    name: 'admin key for "acme-*" on "acmex"',
    status: 403,
    applies: namespaced,
    ns: "acmex",
    headers: () => bearer(keys.acmeAdmin.key),
  },
  {
    name: 'key for "acme-*" on "acm"',
    status: 403,
    applies: namespaced,
    ns: "acm",
    headers: () => bearer(keys.acmeReadWrite.key),
  },
  {
    name: 'key for "acme-*" on "acme"',
    status: 403,
    applies: namespaced,
    ns: "acme",
    headers: () => bearer(keys.acmeReadWrite.key),
  },
  {
    name: 'key for "tenant-b", "acme-*", "tenant-a-*", "tenant-a_" on "tenant-a"',
    status: 403,
    applies: namespaced,
    ns: VICTIM,
    headers: () => bearer(keys.manyPatterns.key),
  },
];

// Every cell is sent twice: Hono routes on the percent-decoded path, so authorization must judge
// that path too, or "/v1/%6eamespaces/tenant-a/..." would reach tenant-a's handlers with no
// namespace check and "/v1/%61dmin/..." would ask only for the role of a plain read or write.
type Variant = "plain path" | "percent-encoded path";
const VARIANTS: Variant[] = ["plain path", "percent-encoded path"];

function params(c: SecurityCase, route: RouteSpec): RouteParams {
  // Reads and deletes target a stored document; a write targets a new id, so that the absence
  // of its object and row afterwards shows it was not written.
  const docId = route.method === "PUT" ? `new-${c.ns}` : `secret-${c.ns}-1`;
  return { ns: c.ns, docId, keyId: keys.victimReader.id };
}

async function settledSnapshot(): Promise<unknown> {
  // Indexing finishes a little after a document reads as indexed (generation bump, ack).
  for (;;) {
    const a = await snapshotStorage();
    await new Promise((r) => setTimeout(r, 250));
    const b = await snapshotStorage();
    if (JSON.stringify(a) === JSON.stringify(b)) return b;
  }
}

const EXPIRES_IN_MS = 3000;

beforeAll(async () => {
  const star = ["*"];
  // The short-lived key is created and used first, so a slow setup cannot outlive it before its use.
  const expiresAt = Date.now() + EXPIRES_IN_MS;
  const expired = await createKey({
    namespaces: star,
    roles: ["admin"],
    expiresAt: new Date(expiresAt).toISOString(),
  });
  expect(
    (await send({ method: "GET", path: `/v1/namespaces/${VICTIM}`, headers: bearer(expired.key) })).status,
  ).toBe(200);
  keys = {
    expired,
    revoked: await createKey({ namespaces: star, roles: ["admin"] }),
    revokedParent: await createKey({ namespaces: star, roles: ["admin"] }),
    orphan: { id: "", key: "" },
    searchOnly: await createKey({ namespaces: star, roles: ["search"] }),
    writeOnly: await createKey({ namespaces: star, roles: ["write"] }),
    searchWrite: await createKey({ namespaces: star, roles: ["search", "write"] }),
    otherTenant: await createKey({ namespaces: ["tenant-b"], roles: ["search", "write"] }),
    exactName: await createKey({ namespaces: ["tenant"], roles: ["search", "write"] }),
    acmeAdmin: await createKey({ namespaces: ["acme-*"], roles: ["admin"] }),
    acmeReadWrite: await createKey({ namespaces: ["acme-*"], roles: ["search", "write"] }),
    manyPatterns: await createKey({
      namespaces: ["tenant-b", "acme-*", "tenant-a-*", "tenant-a_"],
      roles: ["search", "write"],
    }),
    victimReader: await createKey({ name: "tenant-a reader", namespaces: [VICTIM], roles: ["search"] }),
  };
  keys.orphan = await createKey({ namespaces: star, roles: ["admin"] }, keys.revokedParent.key);
  // These keys have been used before they stop working, so a cached lookup cannot excuse them.
  for (const k of [keys.revoked, keys.orphan]) {
    expect(
      (await send({ method: "GET", path: `/v1/namespaces/${VICTIM}`, headers: bearer(k.key) })).status,
    ).toBe(200);
  }
  await revokeKey(keys.revoked.id);
  await revokeKey(keys.revokedParent.id);
  // A dead letter per namespace, so a refused list or replay has something to reveal or replay.
  for (const ns of SEEDED) await insertDeadLetter(ns, `secret-${ns}-2`);
  for (const ns of SEEDED) await seed(ns, documentsOf(ns));
  secrets = [
    ...SEEDED.flatMap((ns) => documentsOf(ns).flatMap((d) => [d.id, d.title, d.text])),
    ...Object.values(keys).map((k) => k.id),
    "tenant-a reader",
  ];
  const wait = expiresAt - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait + 50));
  await settledSnapshot();
}, 60_000);

describe("the route table", () => {
  it("lists exactly the operations of /openapi.json, with the public routes it documents", async () => {
    const res = await send({ method: "GET", path: "/openapi.json" });
    expect(res.status).toBe(200);
    const declared = openApiOperations(res.json).sort();
    expect(declared.length).toBeGreaterThan(0);
    const publicDocumented = PUBLIC_ROUTES.filter((r) => r.documented).map((r) => `${r.method} ${r.path}`);
    expect([...ROUTES.map(routeName), ...publicDocumented].sort()).toEqual(declared);
    const cells = ROUTES.reduce((n, r) => n + CASES.filter((c) => c.applies(r)).length, 0);
    console.log(
      `auth table: ${ROUTES.length} routes x ${CASES.length} cases (${cells} applicable) x ${VARIANTS.length} path variants = ${cells * VARIANTS.length} cells`,
    );
  });

  it("guards the whole /v1 tree, not route by route: an unknown /v1 path is 401 without a key", async () => {
    for (const path of ["/v1/namespaces/tenant-a/unknown", "/v1/admin/unknown", "/v1"]) {
      expectProblem(await send({ method: "GET", path }), 401);
      expectProblem(await send({ method: "GET", path, headers: bearer(adminKey()) }), 404);
    }
  });
});

describe("public routes", () => {
  it.each(PUBLIC_ROUTES)("$method $path answers without a key and carries no stored data", async (route) => {
    const res = await send({ method: route.method, path: route.path });
    expect(res.status).toBe(200);
    expectNoneOf(res.text, secrets);
  });
});

for (const variant of VARIANTS) {
  describe(variant, () => {
    for (const route of ROUTES) {
      describe(routeName(route), () => {
        for (const c of CASES.filter((x) => x.applies(route))) {
          it(`${c.name}: ${c.status}, no data, nothing written`, async () => {
            const p = params(c, route);
            const body = route.body?.(p);
            const before = await snapshotStorage();
            const res = await send({
              method: route.method,
              path: variant === "plain path" ? routePath(route, p) : encodedRoutePath(route, p),
              headers: { ...c.headers(), "content-type": "application/json" },
              body: body === undefined ? undefined : JSON.stringify(body),
            });
            expectProblem(res, c.status);
            expectNoneOf(res.text, secrets);
            expect(await snapshotStorage(), "storage changed").toEqual(before);
            if (route.method === "PUT") {
              expect(await env.DOCUMENTS.head(`${p.ns}/${p.docId}`)).toBeNull();
              const row = await env.DB.prepare("SELECT 1 FROM documents WHERE namespace = ? AND id = ?")
                .bind(p.ns, p.docId)
                .first();
              expect(row).toBeNull();
            }
          });
        }
      });
    }

    it("leaves the stored documents in place, readable with a key that covers them", async () => {
      for (const ns of SEEDED) {
        for (const d of documentsOf(ns)) {
          const res = await api("GET", `/v1/namespaces/${ns}/documents/${d.id}`);
          expect(res.body).toMatchObject({ status: "indexed", title: d.title });
        }
      }
    });
  });
}

// Last: these writes are indexed asynchronously and would otherwise change storage under the
// cells above.
describe("the route table's requests", () => {
  it("holds a valid request for every route: a key with exactly the route's role and namespace succeeds", async () => {
    const ns = "control-ns";
    for (const route of ROUTES) {
      const key = await createKey({ namespaces: [ns], roles: [route.role] });
      const target = await createKey({ name: "control target", namespaces: [ns], roles: ["search"] });
      const p: RouteParams = { ns, docId: "control-doc", keyId: target.id };
      const body = route.body?.(p);
      const res = await send({
        method: route.method,
        path: routePath(route, p),
        headers: { ...bearer(key.key), "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (route.freshStatus !== undefined) {
        expect(res.status, `${routeName(route)}: ${res.text}`).toBe(route.freshStatus);
        continue;
      }
      expect(res.status, `${routeName(route)}: ${res.text}`).toBeGreaterThanOrEqual(200);
      expect(res.status, `${routeName(route)}: ${res.text}`).toBeLessThan(300);
    }
  });
});
