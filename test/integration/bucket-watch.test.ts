// Objects written to the documents bucket beside the Worker (as `wrangler r2 object put --local`
// does, from another process) are announced offline by the bucket watcher: one pass sends R2's
// message, and the document is indexed, re-indexed and deleted as deployed. Writes the rule does
// not cover send nothing; the Worker's own writes are announced once, never again by the watcher.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { WATCH_PAGE_KEYS, watcherClaims } from "../../src/ingest/bucket-watch";
import { withLocalNotifications } from "../../src/ingest/local-notifications";
import { DOCUMENTS_NOTIFICATION_RULE, type NotificationRule } from "../../src/ingest/notification-rule";
import type { PassOptions } from "../../src/objects/local-bucket-watcher";
import type { LocalBucketWatcher } from "../../workers/objects/local-bucket-watcher";
import { HeldQueue } from "../fakes/held-queue";
import { api, freshNamespace, putObject, waitFor, waitForStatus } from "../support";

/** A watcher of its own (the dev server's is "documents"), past its first pass (a baseline). */
async function freshWatcher() {
  const name = freshNamespace("watch");
  const stub = env.BUCKET_WATCHER.get(env.BUCKET_WATCHER.idFromName(name));
  expect(await stub.pass()).toEqual([]);
  return { name, stub };
}

/** One pass with the given rule and queue (run inside the object: a queue cannot cross RPC). */
function passWith(stub: DurableObjectStub<LocalBucketWatcher>, options: PassOptions) {
  return runInDurableObject(stub, (instance: LocalBucketWatcher) => instance.pass(options));
}

async function status(ns: string, id: string) {
  return env.DB.prepare("SELECT status, etag FROM documents WHERE namespace = ? AND id = ?")
    .bind(ns, id)
    .first<{ status: string; etag: string }>();
}

describe("the bucket watcher", () => {
  it("announces a write made beside the Worker in one pass: indexed, re-indexed, deleted", async () => {
    const { stub } = await freshWatcher();
    const ns = freshNamespace("wb");
    const key = `${ns}/kestrels.md`;
    const first = await putObject(key, "# Kestrels\n\nKestrels hover over meadows hunting voles.", {
      httpMetadata: { contentType: "text/markdown" },
      customMetadata: { contentType: "text/markdown", title: "Hovering kestrels" },
    });
    // Nothing ran in the Worker: no document yet.
    expect(await status(ns, "kestrels.md")).toBeNull();

    expect(await stub.pass()).toEqual([{ action: "PutObject", key }]);
    expect(await waitForStatus(ns, "kestrels.md", "indexed")).toMatchObject({ title: "Hovering kestrels" });
    expect((await status(ns, "kestrels.md"))?.etag).toBe(first.etag);
    const found = await waitFor("a keyword hit", async () => {
      const res = await api<{ results: { id: string }[] }>("POST", `/v1/namespaces/${ns}/search`, {
        query: "voles",
        mode: "keyword",
        cache: "bypass",
      });
      return res.body.results.length > 0 ? res.body.results : undefined;
    });
    expect(found.map((r) => r.id)).toEqual(["kestrels.md"]);
    // Unchanged: the next pass sends nothing.
    expect(await stub.pass()).toEqual([]);

    const second = await putObject(key, "# Kestrels\n\nKestrels nest in old crow nests.");
    expect(second.etag).not.toBe(first.etag);
    expect(await stub.pass()).toEqual([{ action: "PutObject", key }]);
    await waitFor("the overwrite indexed", async () => {
      const row = await status(ns, "kestrels.md");
      return row?.status === "indexed" && row.etag === second.etag;
    });

    await env.DOCUMENTS.delete(key);
    expect(await stub.pass()).toEqual([{ action: "DeleteObject", key }]);
    await waitFor(
      "the document deleted",
      async () => (await status(ns, "kestrels.md"))?.status === "deleted",
    );
    expect(await stub.pass()).toEqual([]);
  });

  it("sends R2's message, and nothing for keys or events the rule does not cover", async () => {
    const { stub } = await freshWatcher();
    const ns = freshNamespace("wr");
    const queue = new HeldQueue();
    const rule: NotificationRule = { eventTypes: ["object-create"], prefix: `${ns}/docs/`, suffix: "" };
    const covered = await putObject(`${ns}/docs/a.md`, "Covered.");
    await putObject(`${ns}/_backups/manifest.json`, "{}");
    await passWith(stub, { rule, queue: queue as unknown as Queue });
    // https://developers.cloudflare.com/r2/buckets/event-notifications/#message-format
    expect(queue.take()).toEqual([
      {
        account: expect.any(String),
        action: "PutObject",
        bucket: env.DOCUMENTS_BUCKET_NAME,
        object: { key: `${ns}/docs/a.md`, size: covered.size, eTag: covered.etag },
        eventTime: covered.uploaded.toISOString(),
      },
    ]);
    await env.DOCUMENTS.delete([`${ns}/docs/a.md`, `${ns}/_backups/manifest.json`]);
    // object-delete is not in this rule: seen, not sent.
    const changes = await passWith(stub, { rule, queue: queue as unknown as Queue });
    expect(changes).toHaveLength(2);
    expect(queue.take()).toEqual([]);
  });

  it("gives each write through the Worker exactly one message: the watcher adds none", async () => {
    const { name, stub } = await freshWatcher();
    const key = `${freshNamespace("ww")}/swifts.txt`;
    const queue = new HeldQueue();
    const bucket = withLocalNotifications(env.DOCUMENTS, {
      bucketName: env.DOCUMENTS_BUCKET_NAME,
      rule: DOCUMENTS_NOTIFICATION_RULE,
      queue: queue as unknown as Queue,
      claims: watcherClaims(env.BUCKET_WATCHER, name),
    });
    const watch = () => passWith(stub, { queue: queue as unknown as Queue });

    await bucket.put(key, "Swifts sleep on the wing.");
    expect(await watch()).toEqual([]);
    // The same bytes again: a write of its own, announced again (same eTag), as R2 does.
    await bucket.put(key, "Swifts sleep on the wing.");
    await bucket.put(key, "Swifts rarely land.");
    expect(await watch()).toEqual([]);
    await bucket.delete(key);
    expect(await watch()).toEqual([]);
    expect(queue.take().map((m) => m.action)).toEqual([
      "PutObject",
      "PutObject",
      "PutObject",
      "DeleteObject",
    ]);
  });

  it("sends nothing for a write through the Worker that a pass announced first", async () => {
    const { name, stub } = await freshWatcher();
    const key = `${freshNamespace("wf")}/owls.txt`;
    const claims = watcherClaims(env.BUCKET_WATCHER, name);
    const queue = new HeldQueue();
    const watch = () => passWith(stub, { queue: queue as unknown as Queue });
    // The pass lists the object between the Worker's write and its record of it.
    const object = await putObject(key, "Barn owls hunt by sound.");
    expect(await watch()).toEqual([{ action: "PutObject", key }]);
    expect(await claims.created(key, object.etag)).toBe(false);
    await env.DOCUMENTS.delete(key);
    expect(await watch()).toEqual([{ action: "DeleteObject", key }]);
    expect(await claims.deleted([key])).toEqual([]);
    expect(queue.take().map((m) => m.action)).toEqual(["PutObject", "DeleteObject"]);
    // A later write of the same key is announced again.
    const again = await putObject(key, "Barn owls hunt by sound.");
    expect(await claims.created(key, again.etag)).toBe(true);
  });

  it("announces again on the next pass what a failed send did not deliver", async () => {
    const { stub } = await freshWatcher();
    const key = `${freshNamespace("wq")}/terns.txt`;
    await putObject(key, "Arctic terns migrate pole to pole.");
    const refusing = {
      sendBatch: async () => {
        throw new Error("Queue send failed: internal error");
      },
    } as unknown as Queue;
    await expect(passWith(stub, { queue: refusing })).rejects.toThrow(/Queue send failed/);
    const queue = new HeldQueue();
    expect(await passWith(stub, { queue: queue as unknown as Queue })).toEqual([
      { action: "PutObject", key },
    ]);
    expect(queue.take().map((m) => m.object.key)).toEqual([key]);
  });

  it("lists a page R2 accepts: at most 1,000 keys per call", async () => {
    expect(WATCH_PAGE_KEYS).toBe(1000);
    await env.DOCUMENTS.list({ limit: WATCH_PAGE_KEYS });
    await expect(env.DOCUMENTS.list({ limit: WATCH_PAGE_KEYS + 1 })).rejects.toThrow(
      /MaxKeys params must be positive integer <= 1000/,
    );
  });

  it("announces every object of a bucket larger than one list page", async () => {
    const { stub } = await freshWatcher();
    const ns = freshNamespace("wp");
    const keys = Array.from({ length: WATCH_PAGE_KEYS + 5 }, (_, i) => `${ns}/p${i}.txt`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((key) => putObject(key, "A page of its own.")));
    }
    const queue = new HeldQueue();
    const rule: NotificationRule = { eventTypes: ["object-create"], prefix: `${ns}/`, suffix: "" };
    await passWith(stub, { rule, queue: queue as unknown as Queue });
    expect(new Set(queue.take().map((m) => m.object.key))).toEqual(new Set(keys));
  });

  it("reports nothing on its first pass, and starts only in local mode with notifications", async () => {
    const stub = env.BUCKET_WATCHER.get(env.BUCKET_WATCHER.idFromName(freshNamespace("ws")));
    await putObject(`${freshNamespace("ws")}/old.txt`, "Written before the watcher started.");
    expect(await stub.pass()).toEqual([]);
    // The tests run with R2_NOTIFICATIONS off: start() arms nothing.
    expect(await stub.start()).toBe(false);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
  });
});
