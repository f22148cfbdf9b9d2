// Queue producers against Queues' per-call limits, end to end: the dead-letter replay pages what
// it re-enqueues, and local mode's producer binding refuses a call Cloudflare would refuse.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deleteMessage } from "../../src/ingest/messages";
import { withLocalQueueLimits } from "../../src/util/queue-limits";
import { api, freshNamespace } from "../support";

/** A delete message for a document nobody stored (the consumer skips it), padded by `bytes`. */
const paddedDelete = (ns: string, id: string, bytes: number) => ({
  ...deleteMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/${id}`),
  padding: "x".repeat(bytes),
});

describe("queue producers within Queues' limits", () => {
  it("replays 40 dead letters of 8 KB (320 KB together) in calls Cloudflare accepts", async () => {
    const ns = freshNamespace("ql");
    const insert = env.DB.prepare(
      `INSERT INTO dead_letters (message_id, namespace, doc_id, body, error, attempts, received_at)
       VALUES (?1, ?2, ?3, ?4, 'failed', 6, ?5)`,
    );
    await env.DB.batch(
      Array.from({ length: 40 }, (_, i) =>
        insert.bind(`${ns}-${i}`, ns, `d${i}`, JSON.stringify(paddedDelete(ns, `d${i}`, 8_000)), Date.now()),
      ),
    );
    const { results } = await env.DB.prepare("SELECT id FROM dead_letters WHERE namespace = ?1 ORDER BY id")
      .bind(ns)
      .all<{ id: number }>();
    const ids = results.map((r) => r.id);
    expect(ids).toHaveLength(40);

    // One sendBatch of all 40 would be refused (10205), here and on Cloudflare.
    const replay = await api<{ replayed: number[] }>("POST", "/v1/admin/dead-letters/replay", { ids });
    expect(replay.status).toBe(200);
    expect([...replay.body.replayed].sort((a, b) => a - b)).toEqual(ids);
  });

  it("refuses locally a 270 KB batch that Miniflare's own binding takes", async () => {
    const ns = freshNamespace("ql");
    const batch = Array.from({ length: 5 }, (_, i) => ({
      body: paddedDelete(ns, `m${i}`, 53_500),
      contentType: "json" as const,
    }));
    // Miniflare allows (256 + 32) * 1000 bytes per sendBatch; Cloudflare allows 256,000.
    await env.INGEST_QUEUE.sendBatch(batch);
    await expect(withLocalQueueLimits(env).INGEST_QUEUE.sendBatch(batch)).rejects.toThrow(
      /^batch size of \d+ bytes exceeds limit of 256000 bytes \(10205\)$/,
    );
  });
});
