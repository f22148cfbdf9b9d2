// What authentication costs and reveals to a client without a valid key: the bootstrap admin key is
// compared the same way whatever the token's length; unknown key ids reach D1 once per TTL and
// never push real keys out of the isolate cache; failed attempts are limited per client address.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { authenticate, clearKeyCache, KEY_CACHE_LIMITS } from "../../src/auth/authenticate";
import { clearBlockedAddresses, clientAddressKey } from "../../src/auth/failure-limiter";
import { KeyStore } from "../../src/auth/key-store";
import { adminKey, freshNamespace } from "../support";
import { bearer, createKey, expectProblem, send, unknownKey } from "./support";

const ADMIN = "bootstrap-admin-key-0123456789abcdef0123";

function rejects(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("authenticated");
    },
    (err: unknown) => err,
  );
}

describe("the bootstrap admin key", () => {
  afterEach(() => vi.restoreAllMocks());

  it("is compared through the same 32-byte digest comparison whatever the token's length", async () => {
    const store = new KeyStore(env.DB);
    vi.spyOn(store, "find").mockResolvedValue(null);
    const compare = vi.spyOn(crypto.subtle, "timingSafeEqual");
    const tokens = [
      "x",
      "y".repeat(ADMIN.length - 1),
      "z".repeat(ADMIN.length),
      "w".repeat(300),
      unknownKey(),
    ];
    const seen: number[][] = [];
    for (const token of tokens) {
      compare.mockClear();
      await rejects(authenticate(`Bearer ${token}`, { keys: store, adminKey: ADMIN, cacheTtlMs: 0 }));
      seen.push(
        compare.mock.calls.flatMap(([a, b]) => [
          ArrayBuffer.isView(a) ? a.byteLength : -1,
          ArrayBuffer.isView(b) ? b.byteLength : -1,
        ]),
      );
    }
    // Exactly one comparison per token, of two SHA-256 digests, for every length.
    expect(seen).toEqual(tokens.map(() => [32, 32]));
    const ok = await authenticate(`Bearer ${ADMIN}`, { keys: store, adminKey: ADMIN, cacheTtlMs: 0 });
    expect(ok.keyId).toBe("admin-secret");
  });
});

describe("unknown key ids", () => {
  beforeEach(() => clearKeyCache());
  afterEach(() => vi.restoreAllMocks());

  async function storeWith(realId: string) {
    const store = new KeyStore(env.DB);
    const find = store.find.bind(store);
    const spy = vi
      .spyOn(store, "find")
      .mockImplementation((id) => (id === realId ? find(id) : Promise.resolve(null)));
    return { store, spy };
  }

  it("reach D1 once per KEY_CACHE_TTL, however often they are sent", async () => {
    const { store, spy } = await storeWith("none");
    const key = unknownKey();
    const opts = { keys: store, adminKey: undefined, cacheTtlMs: 30_000, now: 1_000 };
    for (let i = 0; i < 5; i++) await rejects(authenticate(`Bearer ${key}`, opts));
    expect(spy).toHaveBeenCalledTimes(1);
    await rejects(authenticate(`Bearer ${key}`, { ...opts, now: 1_000 + 30_000 }));
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it("do not push a real key out of the cache, and are themselves bounded", async () => {
    const real = await createKey({ namespaces: [freshNamespace("au")], roles: ["search"] });
    const { store, spy } = await storeWith(real.id);
    const opts = { keys: store, adminKey: undefined, cacheTtlMs: 60_000, now: 1_000 };
    await authenticate(`Bearer ${real.key}`, opts);
    expect(spy).toHaveBeenCalledTimes(1);
    const flood = KEY_CACHE_LIMITS.known + KEY_CACHE_LIMITS.unknown + 1;
    const first = unknownKey();
    await rejects(authenticate(`Bearer ${first}`, opts));
    for (let i = 0; i < flood; i++) {
      await rejects(authenticate(`Bearer es_${i.toString().padStart(16, "0")}_${"a".repeat(43)}`, opts));
    }
    spy.mockClear();
    // The real key is still answered from the cache: no lookup.
    await expect(authenticate(`Bearer ${real.key}`, opts)).resolves.toMatchObject({ keyId: real.id });
    expect(spy).not.toHaveBeenCalled();
    // The oldest unknown id was forgotten: the structure holding them is bounded.
    await rejects(authenticate(`Bearer ${first}`, opts));
    expect(spy).toHaveBeenCalledTimes(1);
  });
});

describe("client addresses", () => {
  it("are counted as sent for IPv4, by their /64 for IPv6", () => {
    expect(clientAddressKey(undefined)).toBeNull();
    expect(clientAddressKey("")).toBeNull();
    expect(clientAddressKey("198.51.100.7")).toBe("198.51.100.7");
    expect(clientAddressKey("::ffff:198.51.100.7")).toBe("198.51.100.7");
    expect(clientAddressKey("2001:db8:0:12:aaaa::1")).toBe("2001:db8:0:12::/64");
    expect(clientAddressKey("2001:0db8:0000:0012:bbbb:cccc:dddd:eeee")).toBe("2001:db8:0:12::/64");
    expect(clientAddressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientAddressKey("::1")).toBe("0:0:0:0::/64");
  });
});

describe("failed authentications per client address", () => {
  beforeEach(() => clearBlockedAddresses());

  // AUTH_FAILURE_LIMIT in wrangler.toml: 30 per 60 s.
  const LIMIT = 30;
  let n = 0;
  const address = () => {
    n += 1;
    return `198.51.100.${n}`;
  };
  const get = (ip: string, key: string) =>
    send({
      method: "GET",
      path: "/v1/namespaces/au-limit",
      headers: { ...bearer(key), "cf-connecting-ip": ip },
    });

  it("are answered 429 with Retry-After past the limit, before the key is looked up", async () => {
    const ip = address();
    // Windows are aligned to the clock: crossing one restarts the count, once.
    const statuses: number[] = [];
    while (statuses.at(-1) !== 429 && statuses.length < 2 * LIMIT + 5) {
      statuses.push((await get(ip, unknownKey())).status);
    }
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(LIMIT);
    const limited = await get(ip, adminKey());
    expectProblem(limited, 429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another address is not affected.
    expect((await get(address(), unknownKey())).status).toBe(401);
    expect((await get(address(), adminKey())).status).toBe(200);
  });

  it("count only failures: an address whose requests authenticate is never limited", async () => {
    const ip = address();
    const key = await createKey({ namespaces: ["*"], roles: ["search"], rateLimit: "unlimited" });
    for (let i = 0; i < LIMIT + 5; i++) expect((await get(ip, key.key)).status).toBe(200);
    expect((await get(ip, unknownKey())).status).toBe(401);
  });
});
