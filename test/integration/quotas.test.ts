// Tenant quotas end to end: per-namespace documents, bytes and chunks, per-key namespaces, the
// admin overrides, and the usage in the namespace's stats.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { putMessage } from "../../src/ingest/messages";
import worker from "../../workers/index";
import { api, freshNamespace, putObject, waitForStatus } from "../support";
import { deliverMessage } from "../support/queue";
import { searchApi } from "../support/search";

interface Problem {
  status: number;
  code: string;
  quota?: string;
  limit?: number;
  used?: number;
  field?: string;
  detail: string;
}

interface Figure {
  used: number;
  limit: number;
}

interface Stats {
  quotas: { documents: Figure; chunks: Figure; bytes: Figure };
}

// Tests that wait for the queue consumer: indexing takes seconds on a loaded machine.
const INGEST_TIMEOUT_MS = 30_000;

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function createKey(spec: Record<string, unknown>, as?: string) {
  return api<{ key: string; maxNamespaces: number | null } & Problem>(
    "POST",
    "/v1/admin/keys",
    { name: "quota-test", ...spec },
    as ? bearer(as) : {},
  );
}

async function setQuotas(ns: string, quotas: Record<string, number | null>, as?: string) {
  return api<Problem & Stats>("PUT", `/v1/namespaces/${ns}/quotas`, quotas, as ? bearer(as) : {});
}

const put = (ns: string, id: string, text: string, headers: Record<string, string> = {}) =>
  api<Problem>("PUT", `/v1/namespaces/${ns}/documents/${id}`, { text }, headers);

const batch = (ns: string, docs: { id: string; text: string }[]) =>
  api<Problem>("POST", `/v1/namespaces/${ns}/documents`, { documents: docs });

/** Puts `text` straight into R2 as document `id` and delivers the notification R2 would send. */
async function uploadToR2(ns: string, id: string, text: string): Promise<R2Object> {
  const object = await putObject(`${ns}/${id}`, text);
  await deliverMessage(putMessage(env.DOCUMENTS_BUCKET_NAME, object.key, object.size, object.etag));
  return object;
}

async function stats(ns: string): Promise<Stats> {
  const res = await api<Stats>("GET", `/v1/namespaces/${ns}`);
  expect(res.status).toBe(200);
  return res.body;
}

describe("namespace quotas", () => {
  it("refuses the document past the documents quota, on put and batch, until an admin raises it", async () => {
    const ns = freshNamespace("q");
    expect((await setQuotas(ns, { documents: 2 })).status).toBe(200);
    expect((await put(ns, "a", "first")).status).toBe(202);
    expect((await put(ns, "b", "second")).status).toBe(202);

    const third = await put(ns, "c", "third");
    expect(third.status).toBe(429);
    expect(third.headers.get("content-type")).toContain("application/problem+json");
    expect(third.body).toMatchObject({ code: "quota_exceeded", quota: "documents", limit: 2, used: 2 });
    expect(third.body.detail).toContain('quota "documents"');

    // A batch that does not fit is refused whole: neither of its documents exists.
    const refused = await batch(ns, [
      { id: "b", text: "second, replaced" },
      { id: "d", text: "fourth" },
    ]);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: "quota_exceeded", quota: "documents" });
    expect((await api("GET", `/v1/namespaces/${ns}/documents/d`)).status).toBe(404);

    // Replacing documents adds none.
    expect((await put(ns, "a", "first, replaced")).status).toBe(202);
    expect((await batch(ns, [{ id: "b", text: "second, replaced" }])).status).toBe(202);

    const raised = await setQuotas(ns, { documents: 3 });
    expect(raised.status).toBe(200);
    expect(raised.body.quotas.documents).toEqual({ used: 2, limit: 3 });
    expect((await put(ns, "c", "third")).status).toBe(202);
    expect((await stats(ns)).quotas.documents).toEqual({ used: 3, limit: 3 });
  });

  it("frees quota when a document is deleted", async () => {
    const ns = freshNamespace("q");
    await setQuotas(ns, { documents: 1 });
    expect((await put(ns, "a", "only one")).status).toBe(202);
    expect((await put(ns, "b", "one too many")).status).toBe(429);
    expect((await api("DELETE", `/v1/namespaces/${ns}/documents/a`)).status).toBe(202);
    expect((await stats(ns)).quotas.documents.used).toBe(0);
    expect((await put(ns, "b", "now it fits")).status).toBe(202);
  });

  it("lets two concurrent batches take no more than the documents quota", async () => {
    const ns = freshNamespace("q");
    await setQuotas(ns, { documents: 3 });
    const docs = (prefix: string) => [1, 2].map((i) => ({ id: `${prefix}${i}`, text: `text ${prefix}${i}` }));
    const results = await Promise.all([batch(ns, docs("x")), batch(ns, docs("y"))]);
    expect(results.map((r) => r.status).sort()).toEqual([202, 429]);
    expect((await stats(ns)).quotas.documents.used).toBe(2);
  });

  it("refuses writes past the bytes quota: 429 when full, 413 for a document larger than the quota", async () => {
    const ns = freshNamespace("q");
    await setQuotas(ns, { bytes: 100 });
    expect((await put(ns, "a", "x".repeat(60))).status).toBe(202);

    const full = await put(ns, "b", "y".repeat(60));
    expect(full.status).toBe(429);
    expect(full.body).toMatchObject({ code: "quota_exceeded", quota: "bytes", limit: 100, used: 60 });

    const huge = await put(ns, "c", "z".repeat(150));
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({
      code: "quota_exceeded",
      quota: "bytes",
      limit: 100,
      field: "body.text",
    });

    // A replacement counts only what it adds: 60 bytes become 90.
    expect((await put(ns, "a", "é".repeat(45))).status).toBe(202);
    expect((await stats(ns)).quotas.bytes).toEqual({ used: 90, limit: 100 });
  });

  it(
    "fails a document at ingest that would take the namespace past its chunk quota",
    async () => {
      const ns = freshNamespace("q");
      await setQuotas(ns, { chunks: 3 });
      expect((await put(ns, "small", "Kingfishers dive for fish in clear streams.")).status).toBe(202);
      await waitForStatus(ns, "small", "indexed");

      const long = Array.from({ length: 400 }, (_, i) => `Sentence ${i} tells of herons and egrets.`).join(
        " ",
      );
      expect((await put(ns, "long", long)).status).toBe(202);
      const failed = await waitForStatus(ns, "long", "failed");
      expect(failed.error).toContain('quota "chunks": 3 chunks');
      expect(failed.chunks).toBe(0);
      // Nothing of it was written: the namespace holds the small document's chunk only.
      expect((await stats(ns)).quotas.chunks).toEqual({ used: 1, limit: 3 });
    },
    INGEST_TIMEOUT_MS,
  );

  it(
    "applies the documents quota at ingest to objects uploaded straight to R2",
    async () => {
      const ns = freshNamespace("q");
      await setQuotas(ns, { documents: 1 });
      expect((await put(ns, "a", "Written through the API.")).status).toBe(202);
      const key = `${ns}/uploaded`;
      const object = await env.DOCUMENTS.put(key, "Uploaded with an R2 client, past the quota.");
      if (!object) throw new Error("R2 put returned null");
      const batch = createMessageBatch("edgesearch-ingest", [
        {
          id: `r2-${key}`,
          timestamp: new Date(),
          attempts: 1,
          body: putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag),
        },
      ]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env, ctx);
      await getQueueResult(batch, ctx);
      const failed = await waitForStatus(ns, "uploaded", "failed");
      expect(failed.error).toContain('quota "documents": 1 documents');
      expect(failed.chunks).toBe(0);
    },
    INGEST_TIMEOUT_MS,
  );

  it(
    "fails an object uploaded straight to R2 past the chunk quota and keeps it stored",
    async () => {
      const ns = freshNamespace("q");
      await setQuotas(ns, { chunks: 1 });
      expect((await put(ns, "a", "Written through the API.")).status).toBe(202);
      await waitForStatus(ns, "a", "indexed");
      const object = await uploadToR2(ns, "uploaded", "Uploaded with an R2 client, past the chunk quota.");
      const failed = await waitForStatus(ns, "uploaded", "failed");
      expect(failed.error).toContain('quota "chunks": 1 chunks');
      expect(failed.chunks).toBe(0);
      expect(await env.DOCUMENTS.head(object.key)).not.toBeNull();
      expect((await stats(ns)).quotas.chunks).toEqual({ used: 1, limit: 1 });
    },
    INGEST_TIMEOUT_MS,
  );

  it(
    "indexes a document replaced straight in R2 in a namespace at its documents and chunks quotas",
    async () => {
      const ns = freshNamespace("q");
      await setQuotas(ns, { documents: 1, chunks: 1 });
      expect((await put(ns, "a", "Herons wait motionless in the shallows.")).status).toBe(202);
      await waitForStatus(ns, "a", "indexed");
      await uploadToR2(ns, "a", "Egrets stalk the marsh edge at dawn.");
      // The new version replaces the old: no document and no chunk is added.
      const found = await searchApi(ns, { query: "egrets marsh", mode: "keyword", cache: "bypass" });
      expect(found.body.results.map((r) => r.id)).toEqual(["a"]);
      const { quotas } = await stats(ns);
      expect(quotas.documents).toEqual({ used: 1, limit: 1 });
      expect(quotas.chunks).toEqual({ used: 1, limit: 1 });
    },
    INGEST_TIMEOUT_MS,
  );

  it(
    "shows usage and limits in the namespace's stats and quotas",
    async () => {
      const ns = freshNamespace("q");
      expect((await put(ns, "a", "Herons wade in shallow water.")).status).toBe(202);
      await waitForStatus(ns, "a", "indexed");
      const shown = await stats(ns);
      expect(shown.quotas).toEqual({
        documents: { used: 1, limit: 100_000 },
        chunks: { used: 1, limit: 500_000 },
        bytes: { used: 29, limit: 268_435_456 },
      });
      const quotas = await api<Stats & { overrides: unknown }>("GET", `/v1/namespaces/${ns}/quotas`);
      expect(quotas.status).toBe(200);
      expect(quotas.body).toMatchObject({
        quotas: shown.quotas,
        overrides: { documents: null, chunks: null, bytes: null },
      });
    },
    INGEST_TIMEOUT_MS,
  );
});

describe("quota administration", () => {
  it("refuses quota changes from a key without the admin role", async () => {
    const ns = freshNamespace("q");
    const writer = await createKey({ namespaces: [ns], roles: ["write", "search"] });
    const res = await setQuotas(ns, { documents: 1_000_000 }, writer.body.key);
    expect(res.status).toBe(403);
    expect((await api("GET", `/v1/namespaces/${ns}/quotas`, undefined, bearer(writer.body.key))).status).toBe(
      403,
    );
  });

  it("lets a tenant's admin key tighten its quotas but not raise them above the defaults", async () => {
    const prefix = freshNamespace("qa");
    const admin = await createKey({ namespaces: [`${prefix}-*`], roles: ["admin"] });
    const ns = `${prefix}-1`;
    expect((await setQuotas(ns, { documents: 10 }, admin.body.key)).status).toBe(200);
    const raise = await setQuotas(ns, { documents: 100_001 }, admin.body.key);
    expect(raise.status).toBe(403);
    expect(raise.body.field).toBe("body.documents");
  });
});

describe("namespaces per key", () => {
  it("refuses a prefix-scoped key's write that would create namespace N+1", async () => {
    const prefix = freshNamespace("acme");
    const created = await createKey({
      namespaces: [`${prefix}-*`],
      roles: ["write", "search"],
      maxNamespaces: 2,
    });
    expect(created.status).toBe(201);
    expect(created.body.maxNamespaces).toBe(2);
    const key = bearer(created.body.key);
    expect((await put(`${prefix}-1`, "d", "one", key)).status).toBe(202);
    expect((await put(`${prefix}-2`, "d", "two", key)).status).toBe(202);

    const third = await put(`${prefix}-3`, "d", "three", key);
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ code: "quota_exceeded", quota: "namespaces", limit: 2, used: 2 });
    expect((await api("GET", `/v1/namespaces/${prefix}-3/documents/d`)).status).toBe(404);
    // Its existing namespaces still take writes.
    expect((await put(`${prefix}-1`, "e", "more", key)).status).toBe(202);
  });

  it("lets concurrent writes create no more namespaces than the key's quota", async () => {
    const prefix = freshNamespace("acme");
    const created = await createKey({ namespaces: [`${prefix}-*`], roles: ["write"], maxNamespaces: 1 });
    const key = bearer(created.body.key);
    const results = await Promise.all([
      put(`${prefix}-1`, "d", "one", key),
      put(`${prefix}-2`, "d", "two", key),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([202, 429]);
    expect(results.find((r) => r.status === 429)?.body).toMatchObject({ quota: "namespaces", limit: 1 });
  });

  it("never lets a key grant more namespaces than its own", async () => {
    const prefix = freshNamespace("acme");
    const admin = await createKey({ namespaces: [`${prefix}-*`], roles: ["admin"], maxNamespaces: 2 });
    expect(admin.status).toBe(201);
    const more = await createKey(
      { namespaces: [`${prefix}-a`], roles: ["write"], maxNamespaces: 3 },
      admin.body.key,
    );
    expect(more.status).toBe(403);
    expect(more.body.field).toBe("body.maxNamespaces");
    const inherited = await createKey({ namespaces: [`${prefix}-a`], roles: ["write"] }, admin.body.key);
    expect(inherited.status).toBe(201);
    expect(inherited.body.maxNamespaces).toBe(2);
  });
});
