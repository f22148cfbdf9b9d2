// Self-repair through the scheduled handler: documents stuck in `queued` behind the service's
// back are re-enqueued (at most 100 per run) and indexed; a document that stays stuck is marked
// failed with its reason after three re-enqueues; dead letters of transient failures are replayed
// with backoff, at most three times per document. Each repair shows in the health findings and
// the health metric point.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { putMessage } from "../../src/ingest/messages";
import {
  MAX_AUTO_REPLAYS_PER_DOCUMENT,
  MAX_AUTO_REPLAYS_PER_RUN,
} from "../../src/observe/dead-letter-replay";
import { flushLocalMetrics } from "../../src/observe/local-dataset";
import { MAX_REPAIRS_PER_DOCUMENT, MAX_REPAIRS_PER_RUN } from "../../src/observe/repair";
import { HeldQueue } from "../fakes/held-queue";
import { api, apiWithEnv, freshNamespace, putObject, waitForStatus, waitIndexed } from "../support";
import { runCron } from "../support/cron";
import { deliverMessage } from "../support/queue";

const HOUR = 3600_000;

/** One cron run with the ingest queue replaced by `queue`; answers what it sent for `ns`. */
const runCheck = runCron;

/** A document row stuck in `queued` for an hour, as if its queue message had been lost. */
async function insertStuck(ns: string, ids: readonly string[], etag: (id: string) => string, bytes = 10) {
  const old = Date.now() - HOUR;
  await env.DB.batch(
    ids.map((id) =>
      env.DB.prepare(
        `INSERT INTO documents (namespace, id, status, content_type, bytes, etag, created_at, updated_at)
         VALUES (?1, ?2, 'queued', 'text/plain', ?3, ?4, ?5, ?5)`,
      ).bind(ns, id, bytes, etag(id), old),
    ),
  );
}

/** As if the stuck threshold had passed since the last re-enqueue. */
async function ageRepairs(ns: string): Promise<void> {
  await env.DB.prepare("UPDATE documents SET repaired_at = repaired_at - ?2 WHERE namespace = ?1")
    .bind(ns, HOUR)
    .run();
}

async function healthOf(ns: string) {
  const stats = await api<{
    health: { requeued: number; abandoned: number; replayed: number; problems: string[] } | null;
  }>("GET", `/v1/namespaces/${ns}`);
  return stats.body.health;
}

describe("self-repair of stuck documents", () => {
  it("re-enqueues a document whose message was lost, which is then indexed, once", async () => {
    const ns = freshNamespace("repair");
    const object = await putObject(`${ns}/lost`, "A document whose queue message never arrived.", {
      httpMetadata: { contentType: "text/plain" },
    });
    await insertStuck(ns, ["lost"], () => object.etag, object.size);

    const queue = new HeldQueue();
    const sent = await runCheck(queue, ns);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.object).toMatchObject({ key: `${ns}/lost`, eTag: object.etag });
    expect(await healthOf(ns)).toMatchObject({ problems: ["stuck_queued"], requeued: 1, abandoned: 0 });

    const result = await deliverMessage(sent[0]);
    expect(result.explicitAcks).toHaveLength(1);
    await waitForStatus(ns, "lost", "indexed");

    // The second run finds nothing left to repair, and the namespace healthy.
    expect(await runCheck(queue, ns)).toEqual([]);
    expect(await healthOf(ns)).toMatchObject({ problems: [], requeued: 0 });
  });

  it("re-enqueues at most 100 documents per run, the rest on the next run", async () => {
    const ns = freshNamespace("repair-bound");
    const ids = Array.from({ length: MAX_REPAIRS_PER_RUN + 5 }, (_, i) => `doc-${i}`);
    await insertStuck(ns, ids, (id) => `etag-${id}`);

    const queue = new HeldQueue();
    const first = await runCheck(queue, ns);
    expect(first).toHaveLength(100);
    const second = await runCheck(queue, ns);
    expect(second).toHaveLength(5);
    const keys = new Set([...first, ...second].map((m) => m.object.key));
    expect(keys).toEqual(new Set(ids.map((id) => `${ns}/${id}`)));
    // Each one re-enqueued is not re-enqueued again before the stuck threshold passes.
    expect(await runCheck(queue, ns)).toEqual([]);
    await env.DB.prepare("DELETE FROM documents WHERE namespace = ?1").bind(ns).run();
  });

  it("marks a document failed with its reason after three re-enqueues that did not index it", async () => {
    const ns = freshNamespace("repair-give-up");
    // A row whose object is gone: the consumer acknowledges each message and indexes nothing.
    await insertStuck(ns, ["hopeless"], () => "etag-without-object");
    const queue = new HeldQueue();
    for (let attempt = 1; attempt <= MAX_REPAIRS_PER_DOCUMENT; attempt++) {
      const sent = await runCheck(queue, ns);
      expect(sent).toHaveLength(1);
      await deliverMessage(sent[0]);
      await ageRepairs(ns);
    }
    expect(await runCheck(queue, ns)).toEqual([]);

    const doc = await api<{ status: string; error: string }>(
      "GET",
      `/v1/namespaces/${ns}/documents/hopeless`,
    );
    expect(doc.body.status).toBe("failed");
    expect(doc.body.error).toContain("not indexed after 3 re-enqueues by the index health check");
    expect(await healthOf(ns)).toMatchObject({ requeued: 0, abandoned: 1 });
    // The health point counts it (double9), for the dashboard and the alerts.
    await flushLocalMetrics(env.DB);
    const point = await env.DB.prepare(
      "SELECT double8, double9 FROM local_metrics WHERE index1 = ?1 AND blob1 = 'health' ORDER BY id DESC",
    )
      .bind(ns)
      .first<{ double8: number; double9: number }>();
    expect(point).toEqual({ double8: 0, double9: 1 });
    // Failed, it is no longer stuck: later runs leave it alone.
    await ageRepairs(ns);
    expect(await runCheck(queue, ns)).toEqual([]);
  });

  it("starts counting again for a newer version of the document", async () => {
    const ns = freshNamespace("repair-new-version");
    await insertStuck(ns, ["doc"], () => "v1");
    const queue = new HeldQueue();
    for (let attempt = 1; attempt <= MAX_REPAIRS_PER_DOCUMENT; attempt++) {
      expect(await runCheck(queue, ns)).toHaveLength(1);
      await ageRepairs(ns);
    }
    // Written again (a new eTag) before the check gave up on v1: three more re-enqueues for v2.
    await env.DB.prepare("UPDATE documents SET etag = 'v2' WHERE namespace = ?1").bind(ns).run();
    const sent = await runCheck(queue, ns);
    expect(sent.map((m) => m.object.eTag)).toEqual(["v2"]);
    const row = await env.DB.prepare("SELECT status, repairs FROM documents WHERE namespace = ?1")
      .bind(ns)
      .first();
    expect(row).toEqual({ status: "queued", repairs: 1 });
  });
});

/** Pending dead letters of `ns` that arrived `ageMs` ago, transient unless told. */
async function insertDeadLetters(ns: string, ids: readonly string[], ageMs: number, transient = 1) {
  const at = Date.now() - ageMs;
  await env.DB.batch(
    ids.map((id) =>
      env.DB.prepare(
        `INSERT INTO dead_letters (message_id, namespace, doc_id, body, error, attempts, received_at, transient)
         VALUES (?1, ?2, ?3, ?4, 'indexing failed after 6 attempts: d1 unavailable', 6, ?5, ?6)`,
      ).bind(
        `dl-${crypto.randomUUID()}`,
        ns,
        id,
        JSON.stringify(putMessage("edgesearch-documents", `${ns}/${id}`, 10, `etag-${id}`)),
        at,
        transient,
      ),
    ),
  );
}

describe("replay of transient dead letters", () => {
  it("replays a message dead-lettered after retries once its backoff passed, and the document is indexed", async () => {
    const ns = freshNamespace("replay");
    const object = await putObject(`${ns}/outage`, "A document that met a long dependency outage.", {
      httpMetadata: { contentType: "text/plain" },
    });
    await insertStuck(ns, ["outage"], () => object.etag, object.size);
    const body = putMessage("edgesearch-documents", `${ns}/outage`, object.size, object.etag);
    // The queue gave up after its retries: the dead-letter consumer records it and fails the document.
    await deliverMessage(body, { queue: "edgesearch-ingest-dlq" });
    await waitForStatus(ns, "outage", "failed");

    const queue = new HeldQueue();
    expect(await runCheck(queue, ns)).toEqual([]);
    await env.DB.prepare("UPDATE dead_letters SET received_at = received_at - ?2 WHERE namespace = ?1")
      .bind(ns, 6 * 60_000)
      .run();
    const sent = await runCheck(queue, ns);
    expect(sent).toEqual([body]);
    expect(await healthOf(ns)).toMatchObject({ problems: ["dead_letters"], replayed: 1 });
    const pending = await api<{ deadLetters: unknown[] }>("GET", "/v1/admin/dead-letters");
    expect(JSON.stringify(pending.body.deadLetters)).not.toContain(ns);

    await deliverMessage(sent[0]);
    await waitForStatus(ns, "outage", "indexed");
    expect(await runCheck(queue, ns)).toEqual([]);
  });

  it("leaves a dead letter of a permanent failure to an operator", async () => {
    const ns = freshNamespace("replay-permanent");
    await insertDeadLetters(ns, ["refused"], HOUR, 0);
    expect(await runCheck(new HeldQueue(), ns)).toEqual([]);
    const row = await env.DB.prepare("SELECT replayed_at FROM dead_letters WHERE namespace = ?1")
      .bind(ns)
      .first();
    expect(row).toEqual({ replayed_at: null });
  });

  it("replays a document's dead letters 3 times at most, waiting longer each time", async () => {
    const ns = freshNamespace("replay-limit");
    const queue = new HeldQueue();
    for (let replay = 1; replay <= MAX_AUTO_REPLAYS_PER_DOCUMENT; replay++) {
      // Arrived 10 minutes ago: due for the first replay (after 5), not the second (after 20).
      await insertDeadLetters(ns, ["flaky"], 10 * 60_000);
      if (replay > 1) {
        expect(await runCheck(queue, ns)).toEqual([]);
        await env.DB.prepare(
          "UPDATE dead_letters SET received_at = received_at - ?2 WHERE namespace = ?1 AND replayed_at IS NULL",
        )
          .bind(ns, 2 * HOUR)
          .run();
      }
      expect(await runCheck(queue, ns)).toHaveLength(1);
    }
    await insertDeadLetters(ns, ["flaky"], 10 * HOUR);
    expect(await runCheck(queue, ns)).toEqual([]);
    const pending = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM dead_letters WHERE namespace = ?1 AND replayed_at IS NULL",
    )
      .bind(ns)
      .first<{ n: number }>();
    expect(pending?.n).toBe(1);
  });

  it("replays at most 100 dead letters per run, the rest on the next run", async () => {
    const ns = freshNamespace("replay-bound");
    const ids = Array.from({ length: MAX_AUTO_REPLAYS_PER_RUN + 5 }, (_, i) => `doc-${i}`);
    await insertDeadLetters(ns, ids, HOUR);
    const queue = new HeldQueue();
    const first = await runCheck(queue, ns);
    expect(first).toHaveLength(100);
    const second = await runCheck(queue, ns);
    expect(second).toHaveLength(5);
    expect(new Set([...first, ...second].map((m) => m.object.key))).toEqual(
      new Set(ids.map((id) => `${ns}/${id}`)),
    );
  });
});

describe("replay of transient dead letters in a pool of databases", () => {
  const POOL = { D1_DATA_DATABASES: "DB,DATA_DB_1,DATA_DB_2" };
  const members = () => [env.DB, env.DATA_DB_1, env.DATA_DB_2];

  /** A namespace the pool placed outside DB, with one indexed document "a", and its database. */
  async function namespaceOutsideDb(): Promise<{ ns: string; home: D1Database }> {
    for (let i = 0; i < 6; i++) {
      const ns = freshNamespace("replay-pool");
      const res = await apiWithEnv(
        { ...env, ...POOL } as unknown as Env,
        "POST",
        `/v1/namespaces/${ns}/documents`,
        {
          documents: [{ id: "a", text: "Bone marrow holds the stem cells that make blood." }],
        },
      );
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      await waitIndexed(ns, 1);
      const [, ...others] = members();
      for (const db of others) {
        const row = await db.prepare("SELECT 1 AS n FROM documents WHERE namespace = ?1").bind(ns).first();
        if (row) return { ns, home: db };
      }
    }
    throw new Error("no namespace was placed outside DB");
  }

  it("queues the document again in the namespace's own database", async () => {
    const { ns, home } = await namespaceOutsideDb();
    const doc = await home
      .prepare("SELECT etag, bytes FROM documents WHERE namespace = ?1 AND id = 'a'")
      .bind(ns)
      .first<{ etag: string; bytes: number }>();
    if (!doc) throw new Error("no document row");
    // As the dead-letter consumer leaves it: the document failed, its dead letter transient.
    await home
      .prepare("UPDATE documents SET status = 'failed', error = 'd1 unavailable' WHERE namespace = ?1")
      .bind(ns)
      .run();
    const body = putMessage("edgesearch-documents", `${ns}/a`, doc.bytes, doc.etag);
    await env.DB.prepare(
      `INSERT INTO dead_letters (message_id, namespace, doc_id, body, error, attempts, received_at, transient)
       VALUES (?1, ?2, 'a', ?3, 'indexing failed after 6 attempts: d1 unavailable', 6, ?4, 1)`,
    )
      .bind(`dl-${crypto.randomUUID()}`, ns, JSON.stringify(body), Date.now() - HOUR)
      .run();

    expect(await runCheck(new HeldQueue(), ns, POOL)).toEqual([body]);
    const row = await home
      .prepare("SELECT status FROM documents WHERE namespace = ?1 AND id = 'a'")
      .bind(ns)
      .first();
    expect(row).toEqual({ status: "queued" });
  });
});
