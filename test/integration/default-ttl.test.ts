// A namespace's default time to live through the Worker: set and cleared with its quotas, applied
// at write time to documents written without expiresAt (PUT and batch), never to an explicit
// expiresAt nor to documents stored before it was set; out-of-bounds values are a 400; a document
// expired by it is purged by the cron like any expired document.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_TTL_BOUNDS } from "../../workers/api/routes/quotas";
import worker from "../../workers/index";
import { api, freshNamespace, waitForStatus } from "../support";

const TEXT = "Herons stand still in shallow water, waiting for fish.";
const DAY = 86_400;

interface QuotasBody {
  defaultTtlSeconds: number | null;
  field?: string;
}

const setTtl = (ns: string, defaultTtlSeconds: unknown) =>
  api<QuotasBody>("PUT", `/v1/namespaces/${ns}/quotas`, { defaultTtlSeconds });

const expiryOf = async (ns: string, id: string) =>
  (await api<{ expiresAt?: string }>("GET", `/v1/namespaces/${ns}/documents/${id}`)).body.expiresAt;

describe("namespace default time to live", () => {
  it("applies to PUT and batch writes without expiresAt, after it is set; expiresAt wins; null clears it", async () => {
    const ns = freshNamespace("ttl");
    expect((await api("PUT", `/v1/namespaces/${ns}/documents/before`, { text: TEXT })).status).toBe(202);

    const set = await setTtl(ns, 30 * DAY);
    expect(set.status).toBe(200);
    expect(set.body.defaultTtlSeconds).toBe(30 * DAY);
    expect((await api<QuotasBody>("GET", `/v1/namespaces/${ns}/quotas`)).body.defaultTtlSeconds).toBe(
      30 * DAY,
    );

    const from = Date.now();
    expect((await api("PUT", `/v1/namespaces/${ns}/documents/put`, { text: TEXT })).status).toBe(202);
    const batch = await api("POST", `/v1/namespaces/${ns}/documents`, {
      documents: [
        { id: "batch", text: TEXT },
        { id: "explicit", text: TEXT, expiresAt: "2031-01-01T00:00:00Z" },
      ],
    });
    expect(batch.status).toBe(202);
    const to = Date.now();
    for (const id of ["put", "batch"]) {
      const expiry = Date.parse((await expiryOf(ns, id)) ?? "");
      expect(expiry, id).toBeGreaterThanOrEqual(from + 30 * DAY * 1000);
      expect(expiry, id).toBeLessThanOrEqual(to + 30 * DAY * 1000);
    }
    expect(await expiryOf(ns, "explicit")).toBe("2031-01-01T00:00:00.000Z");
    // Stored before the default was set: keeps its (absent) expiry.
    expect(await expiryOf(ns, "before")).toBeUndefined();

    // Setting a quota leaves the default as it is; null removes it.
    expect(
      (await api<QuotasBody>("PUT", `/v1/namespaces/${ns}/quotas`, { documents: 500 })).body
        .defaultTtlSeconds,
    ).toBe(30 * DAY);
    expect((await setTtl(ns, null)).body.defaultTtlSeconds).toBeNull();
    expect((await api("PUT", `/v1/namespaces/${ns}/documents/after`, { text: TEXT })).status).toBe(202);
    expect(await expiryOf(ns, "after")).toBeUndefined();
    // What was written under the default keeps its expiry.
    expect(await expiryOf(ns, "put")).toBeDefined();
  });

  it.each([
    ["below the minimum", DEFAULT_TTL_BOUNDS.minSeconds - 1],
    ["above the maximum", DEFAULT_TTL_BOUNDS.maxSeconds + 1],
    ["a fraction", 3600.5],
    ["a string", "3600"],
  ])("refuses a default that is %s with a problem+json 400", async (_name, value) => {
    const ns = freshNamespace("ttl");
    const res = await setTtl(ns, value);
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body.field).toBe("body.defaultTtlSeconds");
    expect((await api<QuotasBody>("GET", `/v1/namespaces/${ns}/quotas`)).body.defaultTtlSeconds).toBeNull();
  });

  it("is purged by the cron once the default has run out, as any expired document", async () => {
    const ns = freshNamespace("ttl");
    expect((await setTtl(ns, DEFAULT_TTL_BOUNDS.minSeconds)).status).toBe(200);
    expect((await api("PUT", `/v1/namespaces/${ns}/documents/short`, { text: TEXT })).status).toBe(202);
    await waitForStatus(ns, "short", "indexed");
    expect(await expiryOf(ns, "short")).toBeDefined();
    // The minute passes: the row's expiry, set from the default, is moved into the past.
    await env.DB.prepare("UPDATE documents SET expires_at = expires_at - ?3 WHERE namespace = ?1 AND id = ?2")
      .bind(ns, "short", (DEFAULT_TTL_BOUNDS.minSeconds + 1) * 1000)
      .run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    await waitForStatus(ns, "short", "deleted");
    expect(await env.DOCUMENTS.head(`${ns}/short`)).toBeNull();
  });
});
