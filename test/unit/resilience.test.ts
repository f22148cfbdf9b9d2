// Retries, deadlines, fault plans and the circuit breakers (the object's transitions and the
// isolate client's behaviour).
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { AppError } from "../../src/errors";
import {
  BREAKER_SETTINGS,
  type BreakerBackend,
  BreakerClient,
  type BreakerSnapshot,
  type OutcomeCounts,
} from "../../src/resilience/breaker";
import { FaultInjector, parseFaultPlan } from "../../src/resilience/faults";
import { guardedCall } from "../../src/resilience/guard";
import { Deadline, jitteredDelay, withRetry } from "../../src/resilience/retry";
import type { CircuitBreaker } from "../../workers/objects/circuit-breaker";

const noSleep = async () => undefined;
const transient = () => new AppError("upstream_failed", "503", { retryable: true });

describe("withRetry", () => {
  it("retries retryable errors and returns the first success", async () => {
    let calls = 0;
    const value = await withRetry(
      "op",
      async () => {
        calls++;
        if (calls < 3) throw transient();
        return "ok";
      },
      { attempts: 3, baseDelayMs: 10, maxDelayMs: 100, timeoutMs: 1000, sleep: noSleep },
    );
    expect(value).toBe("ok");
    expect(calls).toBe(3);
  });

  it("never retries a 4xx", async () => {
    let calls = 0;
    await expect(
      withRetry(
        "op",
        async () => {
          calls++;
          throw new AppError("bad_request", "no", { retryable: false });
        },
        { attempts: 5, baseDelayMs: 1, maxDelayMs: 1, timeoutMs: 1000, sleep: noSleep },
      ),
    ).rejects.toMatchObject({ code: "bad_request" });
    expect(calls).toBe(1);
  });

  it("times out a hung attempt and stops at the deadline", async () => {
    const started = Date.now();
    await expect(
      withRetry("hang", () => new Promise<never>(() => undefined), {
        attempts: 10,
        baseDelayMs: 1,
        maxDelayMs: 1,
        timeoutMs: 50,
        deadline: new Deadline(120),
      }),
    ).rejects.toMatchObject({ code: "timeout", retryable: true });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("draws full-jitter delays below the exponential ceiling", () => {
    expect(jitteredDelay(0, 100, 10_000, () => 0.999)).toBe(99);
    expect(jitteredDelay(3, 100, 10_000, () => 0.5)).toBe(400);
    expect(jitteredDelay(20, 100, 1000, () => 0.5)).toBe(500);
    expect(jitteredDelay(3, 100, 10_000, () => 0)).toBe(0);
  });
});

describe("fault plans", () => {
  it("inject errors, 429s and latency by rate and method", async () => {
    const f = new FaultInjector(
      { d1: { error: 1, methods: ["commitIndexed"] }, kv: { rateLimited: 1 } },
      () => 0.5,
    );
    await expect(f.before("d1", "commitIndexed")).rejects.toMatchObject({
      code: "upstream_failed",
      retryable: true,
    });
    await expect(f.before("d1", "get")).resolves.toBeUndefined();
    await expect(f.before("kv", "get")).rejects.toMatchObject({ code: "rate_limited" });
    await expect(f.before("vectorize", "query")).resolves.toBeUndefined();
  });

  it("are refused in a Cloudflare configuration and validated", () => {
    expect(() => loadConfig({ BACKEND: "cloudflare", FAULT_INJECTION: "true" })).toThrow(/fault injection/);
    expect(() => loadConfig({ BACKEND: "local", FAULTS: '{"d1":{"error":1}}' })).toThrow(/FAULT_INJECTION/);
    expect(() =>
      loadConfig({ BACKEND: "local", FAULT_INJECTION: "true", FAULTS: '{"d1":{"error":2}}' }),
    ).toThrow(/FAULTS/);
    expect(() => parseFaultPlan('{"mystery":{}}')).toThrow();
    expect(
      loadConfig({ BACKEND: "local", FAULT_INJECTION: "true", FAULTS: '{"d1":{"error":0.5}}' }).faults,
    ).toEqual({
      d1: { error: 0.5 },
    });
  });
});

function stubFor(name: string) {
  return env.BREAKER.get(env.BREAKER.idFromName(name)) as unknown as DurableObjectStub<CircuitBreaker>;
}

describe("circuit breaker object", () => {
  const settings = {
    ...BREAKER_SETTINGS,
    minimumVolume: 10,
    failureRate: 0.5,
    coolDownMs: 50,
    halfOpenSuccesses: 2,
  };

  it("opens on a failure rate over the window with enough volume, then half-opens and closes", async () => {
    const name = `t-${Date.now()}:workers-ai`;
    const stub = stubFor(name);
    // Below the minimum volume nothing happens, whatever the rate.
    expect((await stub.report(name, { ok: 0, fail: 9 }, settings)).state).toBe("closed");
    const opened = await stub.report(name, { ok: 0, fail: 1 }, settings);
    expect(opened.state).toBe("open");
    expect(opened.opens).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect((await stub.snapshot(name, settings)).state).toBe("half-open");
    expect((await stub.report(name, { ok: 1, fail: 0 }, settings)).state).toBe("half-open");
    expect((await stub.report(name, { ok: 1, fail: 0 }, settings)).state).toBe("closed");
  });

  it("re-opens on a failed probe and keeps its state across restarts of the object", async () => {
    const name = `t2-${Date.now()}:vectorize`;
    const stub = stubFor(name);
    await stub.report(name, { ok: 2, fail: 10 }, settings);
    await new Promise((r) => setTimeout(r, 60));
    expect((await stub.snapshot(name, settings)).state).toBe("half-open");
    expect((await stub.report(name, { ok: 0, fail: 1 }, settings)).state).toBe("open");
    const stored = await runInDurableObject(stub, async (_obj, state) => state.storage.get("breaker"));
    expect(stored).toMatchObject({ state: "open", opens: 2 });
  });

  it("stays closed when failures are a minority", async () => {
    const name = `t3-${Date.now()}:d1`;
    expect((await stubFor(name).report(name, { ok: 60, fail: 20 }, settings)).state).toBe("closed");
  });
});

class MemoryBackend implements BreakerBackend {
  reported: OutcomeCounts[] = [];
  constructor(public next: BreakerSnapshot) {}
  async report(_name: string, counts: OutcomeCounts) {
    this.reported.push(counts);
    return this.next;
  }
  async snapshot() {
    return this.next;
  }
}

const snap = (state: BreakerSnapshot["state"], retryAt: number | null = null): BreakerSnapshot => ({
  state,
  retryAt,
  window: { ok: 0, fail: 0 },
  opens: 0,
  transitions: 0,
});

/**
 * A breaker client on a clock the test moves (`clock.now`), over a closed MemoryBackend; `settle`
 * waits for the reports it deferred.
 */
function clientOnClock(options: { stateTtlMs: number; flushEvery: number; flushIntervalMs: number }) {
  const clock = { now: 1_000 };
  const client = new BreakerClient({ ...options, probesPerPeriod: 2 }, () => clock.now);
  const backend = new MemoryBackend(snap("closed"));
  const work: Promise<unknown>[] = [];
  const defer = (p: Promise<unknown>) => void work.push(p);
  return { clock, client, backend, defer, settle: () => Promise.all(work) };
}

describe("breaker client", () => {
  it("batches outcomes, fails fast when open, and lets limited probes through after the cool-down", async () => {
    const { clock, client, backend, defer, settle } = clientOnClock({
      stateTtlMs: 1000,
      flushEvery: 5,
      flushIntervalMs: 60_000,
    });
    expect(client.allow("dep", backend, defer)).toBe(true);
    for (let i = 0; i < 4; i++) client.record("dep", false, backend, defer);
    expect(backend.reported).toEqual([]);
    backend.next = snap("open", clock.now + 5000);
    client.record("dep", false, backend, defer);
    await settle();
    expect(backend.reported).toEqual([{ ok: 0, fail: 5 }]);
    expect(client.allow("dep", backend, defer)).toBe(false);
    clock.now += 5000;
    // After retryAt: two probes per state period, then fail fast again.
    expect([client.allow("dep", backend, defer), client.allow("dep", backend, defer)]).toEqual([true, true]);
    expect(client.allow("dep", backend, defer)).toBe(false);
  });

  it("reports successes once per interval and a batch holding a failure as soon as it is full", async () => {
    const { clock, client, backend, defer, settle } = clientOnClock({
      stateTtlMs: 60_000,
      flushEvery: 5,
      flushIntervalMs: 1000,
    });
    for (let i = 0; i < 50; i++) client.record("dep", true, backend, defer);
    await settle();
    expect(backend.reported).toEqual([]);
    clock.now += 1000;
    client.record("dep", true, backend, defer);
    await settle();
    expect(backend.reported).toEqual([{ ok: 51, fail: 0 }]);
    for (let i = 0; i < 3; i++) client.record("dep", true, backend, defer);
    client.record("dep", false, backend, defer);
    await settle();
    expect(backend.reported).toHaveLength(1);
    client.record("dep", true, backend, defer);
    await settle();
    expect(backend.reported).toEqual([
      { ok: 51, fail: 0 },
      { ok: 4, fail: 1 },
    ]);
  });

  it("fails fast with a 503-class error naming the dependency when the circuit is open", async () => {
    const backend = new MemoryBackend(snap("open", Date.now() + 10_000));
    const breakers = new BreakerClient({
      stateTtlMs: 60_000,
      flushEvery: 1,
      flushIntervalMs: 0,
      probesPerPeriod: 0,
    });
    const ctx = {
      breakers,
      backend,
      defer: () => undefined,
      faults: null,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, timeoutMs: 1000 },
    };
    breakers.record("vectorize", false, backend, async (p) => p);
    await new Promise((r) => setTimeout(r, 0));
    let called = false;
    await expect(
      guardedCall("vectorize", "query", ctx, async () => {
        called = true;
      }),
    ).rejects.toMatchObject({ code: "unavailable", extra: { dependency: "vectorize" } });
    expect(called).toBe(false);
  });
});
