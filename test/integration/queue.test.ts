// The ingest consumer driven message by message: idempotence on (key, eTag), uploads straight
// to R2, messages that can never succeed, retries and the dead-letter queue.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import type { Embedder } from "../../src/embed/embedder";
import { AppError } from "../../src/errors";
import { deleteMessage, putMessage } from "../../src/ingest/messages";
import { backoffSeconds, processMessage } from "../../src/ingest/pipeline";
import { createLogger } from "../../src/observe/logger";
import { DocumentStore } from "../../src/store/documents";
import { workerEnv } from "../../workers/env";
import { buildServices } from "../../workers/services";
import { insertDeadLetter } from "../security/support";
import { api, countRows, freshNamespace, putObject, waitFor, waitForStatus } from "../support";
import { deadLetteredDocument, deliverMessage } from "../support/queue";

describe("ingest consumer", () => {
  it("does not duplicate anything when a message is delivered again", async () => {
    const ns = freshNamespace("q");
    await api("PUT", `/v1/namespaces/${ns}/documents/a`, {
      text: "Alpha paragraph one.\n\nAlpha paragraph two.",
    });
    const first = await waitForStatus(ns, "a", "indexed");
    const head = await env.DOCUMENTS.head(`${ns}/a`);
    expect(head).not.toBeNull();
    const chunksBefore = await countRows("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?", ns);
    const keywordHits = async () =>
      (
        await api<{ results: unknown[] }>("POST", `/v1/namespaces/${ns}/search`, {
          query: "alpha",
          mode: "keyword",
          groupBy: "chunk",
          cache: "bypass",
        })
      ).body.results.length;
    const keywordBefore = await keywordHits();
    expect(keywordBefore).toBeGreaterThan(0);

    const result = await deliverMessage(
      putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/a`, head?.size ?? 0, head?.etag ?? ""),
    );
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toHaveLength(0);
    expect(await countRows("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?", ns)).toBe(chunksBefore);
    expect(await keywordHits()).toBe(keywordBefore);
    const again = await api("GET", `/v1/namespaces/${ns}/documents/a`);
    expect(again.body).toMatchObject({ status: "indexed", chunks: first.chunks });
  });

  it("ignores a stale message for an older version of the document", async () => {
    const ns = freshNamespace("q");
    await api("PUT", `/v1/namespaces/${ns}/documents/a`, { text: "first version about otters" });
    await waitForStatus(ns, "a", "indexed");
    const result = await deliverMessage(
      putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/a`, 10, "0000-stale-etag"),
    );
    expect(result.explicitAcks).toHaveLength(1);
    const search = await api<{ results: { id: string }[] }>("POST", `/v1/namespaces/${ns}/search`, {
      query: "otters",
      mode: "keyword",
    });
    expect(search.body.results.map((r) => r.id)).toEqual(["a"]);
  });

  it("indexes an object uploaded straight to R2, with its custom metadata", async () => {
    const ns = freshNamespace("q");
    const key = `${ns}/guides/setup.md`;
    const object = await putObject(key, "# Setup\n\nInstall the kettle and boil water for tea.", {
      customMetadata: { title: "Setup guide", metadata: JSON.stringify({ category: "guide" }) },
    });
    const result = await deliverMessage(putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag));
    expect(result.explicitAcks).toHaveLength(1);
    const status = await api(
      "GET",
      `/v1/namespaces/${ns}/documents/${encodeURIComponent("guides/setup.md")}`,
    );
    expect(status.body).toMatchObject({ status: "indexed", title: "Setup guide" });
    const found = await waitFor("vector visible", async () => {
      const r = await api<{ results: { id: string; metadata: Record<string, unknown> }[] }>(
        "POST",
        `/v1/namespaces/${ns}/search`,
        { query: "boil water for tea", mode: "vector", filter: { category: "guide" } },
      );
      return r.body.results[0];
    });
    expect(found).toMatchObject({ id: "guides/setup.md", metadata: { category: "guide" } });

    await env.DOCUMENTS.delete(key);
    const del = await deliverMessage(deleteMessage(env.DOCUMENTS_BUCKET_NAME, key));
    expect(del.explicitAcks).toHaveLength(1);
    const after = await api("GET", `/v1/namespaces/${ns}/documents/${encodeURIComponent("guides/setup.md")}`);
    expect(after.body).toMatchObject({ status: "deleted", chunks: 0 });
  });

  it("records a malformed message or a bad key instead of dropping it", async () => {
    for (const body of [
      { hello: "world" },
      putMessage(env.DOCUMENTS_BUCKET_NAME, "NOT A NAMESPACE/doc", 1, "e"),
    ]) {
      const result = await deliverMessage(body);
      expect(result.explicitAcks).toHaveLength(1);
      const recorded = await env.DB.prepare("SELECT error FROM dead_letters WHERE body = ?")
        .bind(JSON.stringify(body))
        .first<{ error: string }>();
      expect(recorded?.error).toMatch(/invalid ingest message|namespace/);
    }
  });

  it("retries a transient failure with backoff, then dead-letters and marks the document failed", async () => {
    const ns = freshNamespace("q");
    const key = `${ns}/flaky`;
    const object = await putObject(key, "Some text about herons.");
    const store = new DocumentStore(env.DB);
    await store.upsertQueued(ns, [
      {
        id: "flaky",
        title: null,
        contentType: "text/plain",
        metadata: {},
        bytes: object.size,
        etag: object.etag,
      },
    ]);
    const services = buildServices(workerEnv(env), loadConfig(env), createLogger("error"), {
      defer: () => undefined,
      path: "ingest",
    });
    const failingEmbedder: Embedder = {
      model: services.embedder.model,
      dimensions: services.embedder.dimensions,
      maxInputTokens: services.embedder.maxInputTokens,
      embed: async () => {
        throw new AppError("upstream_failed", "Workers AI answered 503", { retryable: true });
      },
    };
    const message = putMessage(env.DOCUMENTS_BUCKET_NAME, key, object.size, object.etag);
    // Its last delivery on the ingest queue (max_retries = 5) fails too.
    const decision = await processMessage({ ...services, embedder: failingEmbedder }, message, 6);
    expect(decision.type).toBe("retry");
    expect(decision.type === "retry" && decision.delaySeconds).toBeGreaterThanOrEqual(1);
    const queued = await api("GET", `/v1/namespaces/${ns}/documents/flaky`);
    expect(queued.body).toMatchObject({ status: "queued", error: expect.stringContaining("503") });

    // After max_retries the queue moves the message to the dead-letter queue, as a new message
    // there: its first delivery. The reason counts the ingest queue's 6.
    const dlq = await deliverMessage(message, { queue: "edgesearch-ingest-dlq", attempts: 1 });
    expect(dlq.explicitAcks).toHaveLength(1);
    const failed = await api("GET", `/v1/namespaces/${ns}/documents/flaky`);
    expect(failed.body).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/after 6 attempts.*503/),
    });
    const recorded = await env.DB.prepare(
      "SELECT namespace, doc_id, attempts FROM dead_letters WHERE namespace = ?",
    )
      .bind(ns)
      .first();
    expect(recorded).toEqual({ namespace: ns, doc_id: "flaky", attempts: 6 });
  });

  it("backs off exponentially with jitter, capped", () => {
    expect(backoffSeconds(1, 2, 300, () => 1)).toBe(2);
    expect(backoffSeconds(4, 2, 300, () => 1)).toBe(16);
    expect(backoffSeconds(20, 2, 300, () => 1)).toBe(300);
    expect(backoffSeconds(5, 2, 300, () => 0)).toBe(1);
    expect(backoffSeconds(5, 2, 300, () => 0.5)).toBe(16);
  });
});

describe("dead-letter replay", () => {
  it("re-enqueues a dead-lettered document once the cause is fixed, and it gets indexed", async () => {
    const ns = freshNamespace("q");
    const dlq = await deadLetteredDocument(
      ns,
      "poison",
      "Poison at first, fine later: about kestrels.",
      "Workers AI answered 500",
    );
    expect(dlq.explicitAcks).toHaveLength(1);
    expect((await api("GET", `/v1/namespaces/${ns}/documents/poison`)).body).toMatchObject({
      status: "failed",
    });

    const listed = await api<{
      deadLetters: { id: number; namespace: string; error: string; attempts: number }[];
    }>("GET", "/v1/admin/dead-letters");
    const entry = listed.body.deadLetters.find((d) => d.namespace === ns);
    // The ingest queue's 6 deliveries, not the dead-letter queue's own first one.
    expect(entry?.error).toMatch(/after 6 attempts.*500/);
    expect(entry?.attempts).toBe(6);

    const replay = await api<{ replayed: number[] }>("POST", "/v1/admin/dead-letters/replay", {
      ids: [entry?.id],
    });
    expect(replay.status).toBe(200);
    expect(replay.body.replayed).toEqual([entry?.id]);
    // The real queue delivers the replayed message; this time the dependencies work.
    await waitForStatus(ns, "poison", "indexed");
    const again = await api<{ deadLetters: { id: number }[] }>("GET", "/v1/admin/dead-letters");
    expect(again.body.deadLetters.map((d) => d.id)).not.toContain(entry?.id);
  });

  it("does not let a key scoped to other namespaces see or replay them", async () => {
    const others = await insertDeadLetter(freshNamespace("elsewhere"), "doc");
    const own = await insertDeadLetter(freshNamespace("tenant-only"), "doc");
    const created = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "tenant admin",
      namespaces: ["tenant-only-*"],
      roles: ["admin"],
    });
    const auth = { authorization: `Bearer ${created.body.key}` };
    const listed = await api<{ deadLetters: { id: number; namespace: string | null }[] }>(
      "GET",
      "/v1/admin/dead-letters",
      undefined,
      auth,
    );
    expect(listed.body.deadLetters.map((d) => d.id)).toContain(own);
    expect(listed.body.deadLetters.every((d) => d.namespace?.startsWith("tenant-only-"))).toBe(true);
    // Another tenant's dead letter is, for this key, one that does not exist; it stays pending.
    const replay = await api("POST", "/v1/admin/dead-letters/replay", { ids: [others] }, auth);
    expect(replay.status).toBe(404);
    expect(
      await countRows("SELECT COUNT(*) AS n FROM dead_letters WHERE id = ?1 AND replayed_at IS NULL", others),
    ).toBe(1);
  });
});
