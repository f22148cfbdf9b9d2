// KV's one write per second per key: the local simulator accepts what Workers KV refuses, so
// local mode and tests go through a binding that refuses it with the platform's error; and the
// refusal reaches callers as a non-retryable rate_limited error, not a KV failure.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AppError, isRetryable } from "../../src/errors";
import {
  KV_WRITE_RATE_LIMITED,
  kvWriteLimitErrors,
  strictKv,
  strictKvRefusals,
} from "../../src/store/kv-limits";

const uniqueKey = (label: string) => `test:${label}:${crypto.randomUUID()}`;

describe("strictKv", () => {
  it("refuses a second write to one key within a second, as Workers KV does", async () => {
    let now = 1_000_000;
    const kv = strictKv(env.KV, () => now);
    const key = uniqueKey("same");
    const before = strictKvRefusals();
    await kv.put(key, "first");
    now += 999;
    await expect(kv.put(key, "second")).rejects.toThrow(KV_WRITE_RATE_LIMITED);
    expect(strictKvRefusals()).toBe(before + 1);
    // The refused write did not land.
    expect(await env.KV.get(key)).toBe("first");
    // Another key is another limit.
    await kv.put(uniqueKey("other"), "x");
    now += 1;
    await kv.put(key, "third");
    expect(await env.KV.get(key)).toBe("third");
  });

  it("sees writes made through any strict binding of the isolate", async () => {
    const key = uniqueKey("shared");
    await strictKv(env.KV).put(key, "a");
    await expect(strictKv(env.KV).put(key, "b")).rejects.toThrow(KV_WRITE_RATE_LIMITED);
  });

  it("passes reads and other calls to the binding", async () => {
    const key = uniqueKey("read");
    const kv = strictKv(env.KV);
    await kv.put(key, "v", { metadata: { m: 1 } });
    expect(await kv.get(key)).toBe("v");
    expect((await kv.getWithMetadata(key)).metadata).toEqual({ m: 1 });
    await kv.delete(key);
    expect(await kv.get(key)).toBeNull();
  });

  it("is needed: the local simulator alone accepts two writes to a key in the same second", async () => {
    const key = uniqueKey("raw");
    await env.KV.put(key, "a");
    await env.KV.put(key, "b");
    expect(await env.KV.get(key)).toBe("b");
  });
});

describe("kvWriteLimitErrors", () => {
  it("turns KV's 429 into a non-retryable rate_limited error and passes other failures", async () => {
    const failing = (message: string) =>
      ({ put: async () => Promise.reject(new Error(message)) }) as unknown as KVNamespace;
    const limited = await kvWriteLimitErrors(failing(KV_WRITE_RATE_LIMITED))
      .put("k", "v")
      .catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(AppError);
    expect((limited as AppError).code).toBe("rate_limited");
    expect(isRetryable(limited)).toBe(false);
    const other = await kvWriteLimitErrors(failing("KV PUT failed: 500 Internal Server Error"))
      .put("k", "v")
      .catch((e: unknown) => e);
    expect(other).not.toBeInstanceOf(AppError);
    expect(isRetryable(other)).toBe(true);
  });
});
