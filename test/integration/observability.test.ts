// Observability through the Worker: trace context in and out, Server-Timing, metrics points for
// searches and ingest, the admin metrics endpoint and dashboard, errors to Sentry (captured by a
// stubbed fetch: nothing leaves the test), the scheduled index health check and /readyz.
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { flushLocalMetrics } from "../../src/observe/local-dataset";
import worker from "../../workers/index";
import { adminKey, api, freshNamespace, waitFor, waitForStatus } from "../support";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const SENTRY_DSN = "https://publickey@sentry.test/42";
const SECRET_QUERY = "zqxconfidentialquerywords";

interface PointRow {
  index1: string;
  blob1: string;
  blob3: string;
  blob4: string;
  blob5: string;
  blob7: string | null;
  double1: number;
  double2: number;
  double3: number;
  double7: number;
  double8: number;
}

async function points(ns: string, kind: string): Promise<PointRow[]> {
  // As the dashboard does: points this isolate still buffers are written first.
  await flushLocalMetrics(env.DB);
  const { results } = await env.DB.prepare(
    "SELECT * FROM local_metrics WHERE index1 = ?1 AND blob1 = ?2 ORDER BY id",
  )
    .bind(ns, kind)
    .all<PointRow>();
  return results;
}

function serverTiming(headers: Headers): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (headers.get("server-timing") ?? "").split(",")) {
    const m = /^\s*([a-z]+);dur=([\d.]+)/.exec(part);
    if (m?.[1] && m[2]) out[m[1]] = Number(m[2]);
  }
  return out;
}

const ns = freshNamespace("obs");

beforeAll(async () => {
  for (const id of ["alpha", "beta", "gamma"]) {
    const res = await api("PUT", `/v1/namespaces/${ns}/documents/${id}`, {
      text: `Document ${id} is about observability, tracing and dashboards for ${id}.`,
      title: `Doc ${id}`,
    });
    expect(res.status).toBe(202);
  }
  for (const id of ["alpha", "beta", "gamma"]) await waitForStatus(ns, id, "indexed");
}, 30_000);

describe("trace context", () => {
  it("continues a valid traceparent: same trace id, a new span id, on the answer", async () => {
    const res = await api("GET", `/v1/namespaces/${ns}`, undefined, { traceparent: TRACEPARENT });
    expect(res.status).toBe(200);
    const out = res.headers.get("traceparent") ?? "";
    expect(out).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(out.split("-")[1]).toBe(TRACE_ID);
    expect(out.split("-")[2]).not.toBe("00f067aa0ba902b7");
  });

  it.each([
    "garbage",
    `00-${"0".repeat(32)}-00f067aa0ba902b7-01`,
    `ff-${TRACE_ID}-00f067aa0ba902b7-01`,
    `00-${TRACE_ID.toUpperCase()}-00f067aa0ba902b7-01`,
  ])("ignores a malformed traceparent (%s) and starts a new trace", async (bad) => {
    const res = await api("GET", "/healthz", undefined, { traceparent: bad });
    expect(res.status).toBe(200);
    const out = res.headers.get("traceparent") ?? "";
    expect(out).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(out.split("-")[1]).not.toBe(TRACE_ID);
  });

  it("puts the traceId and requestId on log lines and the requestId on error bodies", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, "warn").mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    try {
      // An injected embedding failure degrades the search, which is logged at warn level.
      const res = await api(
        "POST",
        `/v1/namespaces/${ns}/search`,
        { query: "observability", mode: "vector", cache: "bypass" },
        {
          traceparent: TRACEPARENT,
          "x-request-id": "req-observability-1",
          "x-edgesearch-faults": JSON.stringify({ "workers-ai": { error: 1 }, scope: "obs-logs" }),
        },
      );
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ degraded: ["embedding_unavailable"] });
    } finally {
      spy.mockRestore();
    }
    const degraded = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.event === "search.degraded");
    expect(degraded).toMatchObject({ requestId: "req-observability-1", traceId: TRACE_ID });
    const bad = await api(
      "POST",
      `/v1/namespaces/${ns}/search`,
      { query: "" },
      { "x-request-id": "req-bad-12345" },
    );
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ requestId: "req-bad-12345" });
  });
});

describe("search metrics and Server-Timing", () => {
  it("times every stage of a miss and of a hit, and writes one point per search", async () => {
    const body = { query: "tracing dashboards", mode: "hybrid", topK: 2 };
    const miss = await api("POST", `/v1/namespaces/${ns}/search`, body);
    expect(miss.status).toBe(200);
    expect(miss.headers.get("x-cache")).toBe("miss");
    const missTiming = serverTiming(miss.headers);
    for (const stage of ["auth", "cache", "embed", "vector", "keyword", "fuse", "hydrate", "total"]) {
      expect(missTiming, stage).toHaveProperty(stage);
    }
    const hit = await waitFor("a cached answer", async () => {
      const res = await api("POST", `/v1/namespaces/${ns}/search`, body);
      return res.headers.get("x-cache") === "isolate" ? res : undefined;
    });
    const hitTiming = serverTiming(hit.headers);
    expect(Object.keys(hitTiming).sort()).toEqual(["auth", "cache", "total"]);

    const rows = await waitFor("search points", async () => {
      const found = await points(ns, "search");
      return found.some((r) => r.blob4 === "isolate") ? found : undefined;
    });
    const missRow = rows.find((r) => r.blob4 === "miss" && r.blob3 === "hybrid");
    expect(missRow).toMatchObject({ double1: 200, double2: 2, blob5: "" });
    expect(missRow?.double3).toBeGreaterThan(0);
    const degradedRow = rows.find((r) => r.blob5 === "embedding_unavailable");
    expect(degradedRow).toMatchObject({ blob3: "vector", double1: 200 });
    const failedRow = rows.find((r) => r.double1 === 400);
    expect(failedRow).toMatchObject({ blob1: "search", blob7: "400" });
  });

  it("writes one point per indexed document, with its lag", async () => {
    const rows = await points(ns, "ingest");
    expect(rows.filter((r) => r.blob3 === "indexed").length).toBeGreaterThanOrEqual(3);
  });
});

describe("/v1/admin/metrics and /v1/admin/dashboard", () => {
  it("reports the window's figures for the namespaces the key covers", async () => {
    await waitFor("metrics flushed", async () => (await points(ns, "search")).length >= 3);
    const res = await api<Record<string, unknown>>("GET", "/v1/admin/metrics?window=1h");
    expect(res.status).toBe(200);
    const report = res.body as {
      source: string;
      overall: { searches: number; p95Ms: number | null; indexed: number };
      namespaces: {
        namespace: string;
        searches: number;
        cacheHitRate: number | null;
        degradedRate: number | null;
      }[];
      series: { searches: number }[];
    };
    expect(report.source).toBe("local");
    const mine = report.namespaces.find((n) => n.namespace === ns);
    expect(mine?.searches).toBeGreaterThanOrEqual(3);
    expect(mine?.cacheHitRate).toBeGreaterThan(0);
    expect(mine?.degradedRate).toBeGreaterThan(0);
    expect(report.overall.p95Ms).not.toBeNull();
    expect(report.series.reduce((n, p) => n + p.searches, 0)).toBe(report.overall.searches);

    const scoped = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "scoped admin",
      namespaces: ["other-*"],
      roles: ["admin"],
    });
    const other = await api<{ namespaces: { namespace: string }[] }>("GET", "/v1/admin/metrics", undefined, {
      authorization: `Bearer ${scoped.body.key}`,
    });
    expect(other.status).toBe(200);
    expect(other.body.namespaces.map((n) => n.namespace)).not.toContain(ns);
  });

  it("rejects an unknown window", async () => {
    const res = await api("GET", "/v1/admin/metrics?window=2y");
    expect(res.status).toBe(400);
  });

  it("serves the dashboard as a page whose only script is its own", async () => {
    const res = await api("GET", "/v1/admin/dashboard?window=1h");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const csp = res.headers.get("content-security-policy") ?? "";
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).not.toContain("unsafe-inline");
    const html = String(res.body);
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).toContain(`"namespace":"${ns}"`);
    expect(html).not.toMatch(/<script[^>]+src=/);
  });
});

describe("errors to Sentry", () => {
  const envelopes: string[] = [];
  const realFetch = globalThis.fetch;
  const stubSentry = () =>
    vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      if (new URL(url).hostname !== "sentry.test") return realFetch(input, init);
      envelopes.push(
        typeof init?.body === "string" ? init.body : new TextDecoder().decode(init?.body as Uint8Array),
      );
      return new Response("{}", { status: 200 });
    });
  afterEach(() => {
    vi.unstubAllGlobals();
    envelopes.length = 0;
  });

  async function call(path: string, init: RequestInit, overrides: Record<string, unknown> = { SENTRY_DSN }) {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`http://edgesearch.test${path}`, init) as Request<unknown, IncomingRequestCfProperties>,
      { ...env, ...overrides } as unknown as Env,
      ctx,
    );
    await res.text();
    await waitOnExecutionContext(ctx);
    return res;
  }

  it("reports a 5xx with requestId, traceId and namespace, and never the query or the key", async () => {
    stubSentry();
    const res = await call(`/v1/namespaces/${ns}/search`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${adminKey()}`,
        "content-type": "application/json",
        traceparent: TRACEPARENT,
        "x-request-id": "req-sentry-500",
        "x-edgesearch-faults": JSON.stringify({
          "workers-ai": { error: 1 },
          d1: { error: 1, methods: ["keywordSearch"] },
          scope: "obs-sentry",
        }),
      },
      body: JSON.stringify({ query: SECRET_QUERY, mode: "hybrid", cache: "bypass" }),
    });
    expect(res.status).toBe(503);
    expect(envelopes.length).toBe(1);
    const envelope = envelopes[0] ?? "";
    const event = JSON.parse(envelope.split("\n")[2] ?? "{}") as {
      tags: Record<string, string>;
      contexts: { trace?: { trace_id: string } };
    };
    expect(event.tags).toMatchObject({
      requestId: "req-sentry-500",
      traceId: TRACE_ID,
      namespace: ns,
      code: "unavailable",
    });
    expect(event.contexts.trace?.trace_id).toBe(TRACE_ID);
    expect(envelope).not.toContain(SECRET_QUERY);
    expect(envelope).not.toContain(adminKey());
  });

  it("does not report client errors", async () => {
    stubSentry();
    const res = await call(`/v1/namespaces/${ns}/search`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminKey()}`, "content-type": "application/json" },
      body: JSON.stringify({ query: "" }),
    });
    expect(res.status).toBe(400);
    const refused = await call(`/v1/namespaces/${ns}`, { headers: { authorization: "Bearer nope" } });
    expect(refused.status).toBe(401);
    expect(envelopes).toEqual([]);
  });

  it("reports nothing without a DSN", async () => {
    stubSentry();
    const res = await call(
      `/v1/namespaces/${ns}/search`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${adminKey()}`,
          "content-type": "application/json",
          "x-edgesearch-faults": JSON.stringify({
            "workers-ai": { error: 1 },
            d1: { error: 1 },
            scope: "obs-nodsn",
          }),
        },
        body: JSON.stringify({ query: "anything", cache: "bypass" }),
      },
      {},
    );
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(envelopes).toEqual([]);
  });

  it("reports a queue consumer failure", async () => {
    stubSentry();
    const brokenDb = {
      prepare: () => {
        throw new Error("D1 is down");
      },
      batch: async () => {
        throw new Error("D1 is down");
      },
    };
    const batch = createMessageBatch("edgesearch-ingest-dlq", [
      { id: "dlq-sentry-1", timestamp: new Date(), attempts: 1, body: { not: "a message" } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, SENTRY_DSN, DB: brokenDb } as unknown as Env, ctx);
    await waitOnExecutionContext(ctx);
    expect(envelopes.length).toBeGreaterThanOrEqual(1);
    expect(envelopes.join("\n")).toContain("dead_letter.failed");
  });
});

describe("index health", () => {
  async function runCheck() {
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
  }

  it("stores findings per namespace, shown in its stats, and emits a health point", async () => {
    await runCheck();
    const stats = await api<{
      health: { state: string; problems: string[]; indexedDocuments: number } | null;
    }>("GET", `/v1/namespaces/${ns}`);
    expect(stats.status).toBe(200);
    expect(stats.body.health).toMatchObject({ state: "ok", problems: [], indexedDocuments: 3 });
    const healthPoints = await waitFor("a health point", async () => {
      const rows = await points(ns, "health");
      return rows.length > 0 ? rows : undefined;
    });
    expect(healthPoints[0]).toMatchObject({ blob3: "ok" });
  });

  it("reports a document stuck in queued, in the stats and in /readyz", async () => {
    const stuckNs = freshNamespace("stuck");
    const old = Date.now() - 3600_000;
    await env.DB.prepare(
      `INSERT INTO documents (namespace, id, status, content_type, created_at, updated_at)
       VALUES (?1, 'never-indexed', 'queued', 'text/plain', ?2, ?2)`,
    )
      .bind(stuckNs, old)
      .run();
    await runCheck();
    const stats = await api<{ health: { state: string; problems: string[]; stuckQueued: number } }>(
      "GET",
      `/v1/namespaces/${stuckNs}`,
    );
    expect(stats.body.health).toMatchObject({ state: "fail", problems: ["stuck_queued"], stuckQueued: 1 });
    const ready = await api<{
      status: string;
      indexHealth: { state: string };
      breakers: Record<string, string>;
    }>("GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe("degraded");
    expect(ready.body.indexHealth.state).toBe("fail");
    expect(Object.keys(ready.body.breakers).sort()).toEqual(["d1", "kv", "r2", "vectorize", "workers-ai"]);
    expect(JSON.stringify(ready.body)).not.toContain(stuckNs);
    await env.DB.prepare("DELETE FROM documents WHERE namespace = ?1").bind(stuckNs).run();
    await runCheck();
  });
});
