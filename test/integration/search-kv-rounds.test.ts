// KV round trips of a search on a cold isolate: the namespace's version pointer (read for its
// running experiment) and its write generation are independent reads, so a search that finds
// neither in the isolate's caches waits for one KV round trip, not two in a row.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_PRINCIPAL } from "../../src/auth/authenticate";
import { generationKey } from "../../src/cache/generation";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/observe/logger";
import { createTimer, monotonicClock } from "../../src/search/timer";
import { clearPointerCache, pointerKey } from "../../src/versions/pointer";
import { runSearch } from "../../workers/api/routes/search";
import { workerEnv } from "../../workers/env";
import { buildServices } from "../../workers/services";
import { freshNamespace } from "../support";

/** What the KV binding saw of one get: its key and the keys of the gets still running when it started. */
interface Read {
  key: string;
  alongside: string[];
}

/**
 * The KV binding, recording each get with those in flight beside it. The gets of `held` keys
 * are answered once every held key was asked for (or after a second, so that reads made one
 * after the other still finish, recorded as such).
 */
function recordingKv(kv: KVNamespace, held: readonly string[]): { kv: KVNamespace; reads: Read[] } {
  const reads: Read[] = [];
  const inFlight = new Set<string>();
  const asked = new Set<string>();
  let release: () => void = () => undefined;
  const allAsked = new Promise<void>((resolve) => {
    release = resolve;
  });
  const get = async (key: string, ...rest: unknown[]) => {
    reads.push({ key, alongside: [...inFlight] });
    inFlight.add(key);
    try {
      if (held.includes(key)) {
        asked.add(key);
        if (held.every((k) => asked.has(k))) release();
        await Promise.race([allAsked, new Promise((resolve) => setTimeout(resolve, 1000))]);
      }
      return await (kv.get as (k: string, ...r: unknown[]) => Promise<unknown>).call(kv, key, ...rest);
    } finally {
      inFlight.delete(key);
    }
  };
  return {
    kv: new Proxy(kv, {
      get: (target, prop) => (prop === "get" ? get : Reflect.get(target, prop, target)),
    }),
    reads,
  };
}

describe("a search's KV reads on a cold isolate", () => {
  it("reads the version pointer and the write generation side by side", async () => {
    const ns = freshNamespace("kv-rounds");
    clearPointerCache(ns);
    const recorded = recordingKv(env.KV, [pointerKey(ns), generationKey(ns)]);
    const testEnv = { ...env, KV: recorded.kv };
    const services = buildServices(workerEnv(testEnv), loadConfig(testEnv), createLogger("error"), {
      defer: () => undefined,
      path: "search",
    });
    const answer = await runSearch(
      services,
      ADMIN_PRINCIPAL,
      ns,
      { query: "ibex", mode: "keyword", topK: 10, cache: "bypass" } as Parameters<typeof runSearch>[3],
      createTimer(monotonicClock),
    );
    expect(answer.results).toEqual([]);
    const pointer = recorded.reads.filter((r) => r.key === pointerKey(ns));
    const generation = recorded.reads.filter((r) => r.key === generationKey(ns));
    // Each once: the second user of each value finds it in the isolate's cache or in flight.
    expect(pointer).toHaveLength(1);
    expect(generation).toHaveLength(1);
    // Whichever started second started while the first was still running.
    const first = recorded.reads.find((r) => r.key === pointerKey(ns) || r.key === generationKey(ns));
    const second = first?.key === pointerKey(ns) ? generation[0] : pointer[0];
    expect(second?.alongside).toContain(first?.key);
  });
});
