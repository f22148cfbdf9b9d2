// The fault matrix: dependencies failing under searches. Wherever another path can answer, the
// answer comes (no 5xx) and says why it is degraded; a breaker opens on a failing dependency
// and closes again after it recovers. Faults are injected per request (x-edgesearch-faults,
// honoured only in test/dev configurations), each test with its own set of breakers (scope).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CircuitBreaker } from "../../workers/objects/circuit-breaker";
import { freshNamespace, waitFor, writeIndexed } from "../support";
import { searchApi, waitVectorsApplied } from "../support/search";

const DOCS = [
  {
    id: "gannet",
    title: "Gannets",
    text: "Gannets plunge-dive into the sea from thirty metres to catch fish.",
  },
  { id: "auk", title: "Auks", text: "Auks swim underwater with their wings, chasing fish in cold seas." },
  { id: "tern", title: "Terns", text: "Arctic terns migrate from pole to pole every year." },
];

async function seed(): Promise<string> {
  const ns = freshNamespace("fm");
  await writeIndexed(ns, DOCS);
  await waitVectorsApplied(ns, "gannets auks terns sea fish", DOCS.length);
  return ns;
}

const faulty = (ns: string, faults: Record<string, unknown>, body: Record<string, unknown>) =>
  searchApi(ns, { cache: "bypass", ...body }, { "x-edgesearch-faults": JSON.stringify(faults) });

function breaker(name: string) {
  return env.BREAKER.get(env.BREAKER.idFromName(name)) as unknown as DurableObjectStub<CircuitBreaker>;
}

describe("fault matrix", () => {
  it("answers keyword-only when Workers AI fails every call, with no 5xx", async () => {
    const ns = await seed();
    const scope = `ai-${Date.now()}`;
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await faulty(ns, { scope, "workers-ai": { error: 1 } }, { query: `gannets dive sea ${i}` });
      statuses.push(res.status);
      expect(res.body.degraded).toContain("embedding_unavailable");
      expect(res.body.results[0]?.id).toBe("gannet");
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    // After enough failures the breaker opened: calls now fail fast, answers still come.
    const state = await waitFor("breaker open", async () => {
      const s = await breaker(`${scope}:workers-ai`).snapshot(`${scope}:workers-ai`);
      return s.state === "open" ? s : undefined;
    });
    // Tests cool down for 500 ms: on a slow run a probe after the cool-down fails and the
    // breaker opens again, which is the breaker working, not flapping.
    expect(state.opens).toBeGreaterThanOrEqual(1);
  });

  it("answers keyword-only when Vectorize fails, in hybrid and in vector mode", async () => {
    const ns = await seed();
    const scope = `vec-${Date.now()}`;
    for (const mode of ["hybrid", "vector"]) {
      const res = await faulty(
        ns,
        { scope, vectorize: { error: 1 } },
        { query: "auks swim underwater", mode },
      );
      expect(res.status).toBe(200);
      expect(res.body.degraded).toEqual(["vector_index_unavailable"]);
      expect(res.body.results[0]?.id).toBe("auk");
    }
  });

  it("answers from vectors without text when D1 cannot hydrate", async () => {
    const ns = await seed();
    const res = await faulty(
      ns,
      { scope: `d1-${Date.now()}`, d1: { error: 1, methods: ["hydrate"] } },
      { query: "terns migrate pole to pole", mode: "vector" },
    );
    expect(res.status).toBe(200);
    expect(res.body.degraded).toEqual(["text_unavailable"]);
    expect(res.body.results[0]?.id).toBe("tern");
    expect(res.body.results.every((r) => r.text === undefined && r.title === undefined)).toBe(true);
  });

  it("answers 503 with Retry-After only when no path can answer, and never caches a degraded answer", async () => {
    const ns = await seed();
    const scope = `all-${Date.now()}`;
    const res = await faulty(ns, { scope, "workers-ai": { error: 1 }, d1: { error: 1 } }, { query: "fish" });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(res.headers.get("content-type")).toBe("application/problem+json");

    const degraded = await searchApi(
      ns,
      { query: "arctic terns" },
      { "x-edgesearch-faults": JSON.stringify({ scope, vectorize: { error: 1 } }) },
    );
    expect(degraded.body.degraded).toEqual(["vector_index_unavailable"]);
    const healthy = await searchApi(ns, { query: "arctic terns" });
    expect(healthy.body.cache).toBe("miss");
    expect(healthy.body.degraded).toEqual([]);
  });

  // Three calls in four failing: well over the breaker's 50% threshold (a rate right at the
  // threshold trips it only by chance), yet most searches still get an embedding on retry.
  it("opens the Workers AI breaker under a flapping 75% failure rate and closes it after recovery", async () => {
    const ns = await seed();
    const scope = `flap-${Date.now()}`;
    const name = `${scope}:workers-ai`;
    let sent = 0;
    let fiveHundreds = 0;
    await waitFor(
      "breaker open",
      async () => {
        const res = await faulty(ns, { scope, "workers-ai": { error: 0.75 } }, { query: `auks ${sent}` });
        sent++;
        if (res.status >= 500) fiveHundreds++;
        return (await breaker(name).snapshot(name)).state === "open";
      },
      30_000,
      0,
    );
    expect(sent).toBeLessThanOrEqual(200);
    expect(fiveHundreds).toBe(0);
    // Recovered: after the cool-down (500 ms here) probes go through, succeed, and close it.
    await waitFor(
      "breaker closed",
      async () => {
        const res = await faulty(ns, { scope }, { query: `terns ${sent++}` });
        expect(res.status).toBe(200);
        return (await breaker(name).snapshot(name)).state === "closed";
      },
      20_000,
      50,
    );
    const healthy = await faulty(ns, { scope }, { query: "gannets plunge" });
    expect(healthy.body.degraded).toEqual([]);
  }, 60_000);
});
