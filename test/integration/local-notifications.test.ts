// R2 uploads offline: the local stand-in for R2 event notifications sends, for each create and
// delete in the documents bucket, the message R2 sends (same shape, same rule), and the consumer
// moves the document through indexed, re-indexed and deleted exactly as deployed; writes the
// rule does not cover send nothing; the stand-in never runs with BACKEND=cloudflare. And the
// objects route behind `npm run upload -- --r2` carries title and metadata to the index.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { emptyManifest, type FileAccess, runUpload } from "../../scripts/lib/upload-core.ts";
import { createFetchApiSender } from "../../scripts/lib/upload-senders.ts";
import { loadConfig } from "../../src/config";
import { withLocalNotifications } from "../../src/ingest/local-notifications";
import { type IngestMessage, IngestMessageSchema } from "../../src/ingest/messages";
import { DOCUMENTS_NOTIFICATION_RULE, EVENT_TYPE_ACTIONS } from "../../src/ingest/notification-rule";
import { processMessage } from "../../src/ingest/pipeline";
import { deleteDocuments, submitDocuments } from "../../src/ingest/submit";
import { createLogger } from "../../src/observe/logger";
import type { Metrics } from "../../src/observe/metrics";
import { workerEnv } from "../../workers/env";
import { buildServices } from "../../workers/services";
import { HeldQueue } from "../fakes/held-queue";
import { adminKey, api, freshNamespace, waitFor, waitForStatus } from "../support";

/** The Worker's services under the given vars, with the ingest queue held for the test to read. */
function services(vars: { BACKEND: "local" | "cloudflare"; R2_NOTIFICATIONS: "true" | "false" }) {
  const queue = new HeldQueue();
  const overrides = { ...vars, ...(vars.BACKEND === "cloudflare" ? { FAULT_INJECTION: "false" } : {}) };
  const config = loadConfig({ ...env, ...overrides });
  const metrics: Metrics = { search: () => undefined, ingest: () => undefined };
  const built = buildServices(
    { ...workerEnv(env), ...overrides, INGEST_QUEUE: queue as unknown as Queue },
    config,
    createLogger("warn"),
    { defer: () => undefined, path: "ingest" },
  );
  return { deps: { ...built, metrics }, queue };
}

const offline = () => services({ BACKEND: "local", R2_NOTIFICATIONS: "true" });

async function row(ns: string, id: string) {
  return env.DB.prepare("SELECT status, etag, title FROM documents WHERE namespace = ? AND id = ?")
    .bind(ns, id)
    .first<{ status: string; etag: string; title: string | null }>();
}

async function outcome(deps: ReturnType<typeof offline>["deps"], message: IngestMessage) {
  const decision = await processMessage(deps, message, 1);
  return decision.type === "ack"
    ? `${decision.outcome}${decision.reason ? `: ${decision.reason}` : ""}`
    : decision.type;
}

describe("the local stand-in for R2 event notifications", () => {
  it("sends R2's message for a create, an overwrite and a delete, and the document follows each one", async () => {
    const ns = freshNamespace("ln");
    const key = `${ns}/kestrels.md`;
    const { deps, queue } = offline();

    const first = await deps.blobs.put(key, "# Kestrels\n\nKestrels hover over meadows.", {
      httpMetadata: { contentType: "text/markdown" },
      customMetadata: {
        contentType: "text/markdown",
        title: "Hovering kestrels",
        metadata: '{"category":"birds"}',
      },
    });
    const [created, ...none] = queue.take();
    expect(none).toEqual([]);
    // https://developers.cloudflare.com/r2/buckets/event-notifications/#message-format
    expect(created).toEqual({
      account: expect.any(String),
      action: "PutObject",
      bucket: env.DOCUMENTS_BUCKET_NAME,
      object: { key, size: first.size, eTag: first.etag },
      eventTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    if (!created) throw new Error("no message");
    expect(IngestMessageSchema.safeParse(created).success).toBe(true);
    // Nothing recorded the object: its notification alone makes it a document.
    expect(await row(ns, "kestrels.md")).toBeNull();
    expect(await outcome(deps, created)).toBe("indexed");
    expect(await row(ns, "kestrels.md")).toEqual({
      status: "indexed",
      etag: first.etag,
      title: "Hovering kestrels",
    });
    expect(await outcome(deps, created)).toBe("skipped: already indexed");

    const second = await deps.blobs.put(key, "# Kestrels\n\nKestrels nest in old crow nests.");
    if (!second) throw new Error("R2 put returned no object");
    const [overwritten] = queue.take();
    expect(overwritten?.object.eTag).toBe(second.etag);
    expect(second.etag).not.toBe(first.etag);
    if (!overwritten) throw new Error("no message");
    // A late redelivery of the first write changes nothing; the overwrite's own message indexes.
    expect(await outcome(deps, created)).toBe("skipped: superseded by a newer version");
    expect(await outcome(deps, overwritten)).toBe("indexed");
    expect((await row(ns, "kestrels.md"))?.etag).toBe(second.etag);

    await deps.blobs.delete(key);
    const [deleted, ...more] = queue.take();
    expect(more).toEqual([]);
    // "not present for object-delete events": no size, no eTag.
    expect(deleted).toEqual({
      account: expect.any(String),
      action: "DeleteObject",
      bucket: env.DOCUMENTS_BUCKET_NAME,
      object: { key },
      eventTime: expect.any(String),
    });
    if (!deleted) throw new Error("no message");
    expect(await outcome(deps, deleted)).toBe("deleted");
    expect((await row(ns, "kestrels.md"))?.status).toBe("deleted");
    // Redelivered: still deleted.
    await outcome(deps, deleted);
    expect((await row(ns, "kestrels.md"))?.status).toBe("deleted");
  });

  it("gives each API write exactly one message, as deployed with notifications on", async () => {
    const ns = freshNamespace("la");
    const { deps, queue } = offline();
    expect(deps.config.r2Notifications).toBe(true);
    const docs = [
      { id: "a", text: "Barn owls hunt by sound at night." },
      { id: "b", text: "Swifts sleep on the wing.", title: "Swifts" },
    ];
    await submitDocuments(deps, ns, docs);
    const puts = queue.take();
    expect(puts.map((m) => [m.action, m.object.key]).sort()).toEqual([
      ["PutObject", `${ns}/a`],
      ["PutObject", `${ns}/b`],
    ]);
    for (const m of puts) expect(await outcome(deps, m)).toBe("indexed");
    expect(await row(ns, "b")).toMatchObject({ status: "indexed", title: "Swifts" });

    await deleteDocuments(deps, ns, ["a"]);
    const deletes = queue.take();
    expect(deletes.map((m) => [m.action, m.object.key])).toEqual([["DeleteObject", `${ns}/a`]]);
    for (const m of deletes) expect(await outcome(deps, m)).toBe("deleted");
  });

  it("covers _backups/ keys as the deployed rule does, and the consumer ingests none of them", async () => {
    const { deps, queue } = offline();
    const key = `_backups/${freshNamespace("lb")}/20260101T000000Z-0a1b2c3d/manifest.json`;
    await deps.blobs.put(key, "{}");
    const [message] = queue.take();
    if (!message) throw new Error("no message");
    expect(await outcome(deps, message)).toMatch(/^skipped: .*backup object/);
    expect(
      await env.DB.prepare("SELECT COUNT(*) AS n FROM documents WHERE id LIKE '%manifest.json'").first("n"),
    ).toBe(0);
  });

  it("sends nothing for a key or an action outside the rule", async () => {
    const queue = new HeldQueue();
    const ns = freshNamespace("lr");
    const bucket = withLocalNotifications(env.DOCUMENTS, {
      bucketName: env.DOCUMENTS_BUCKET_NAME,
      rule: { eventTypes: ["object-create"], prefix: `${ns}/docs/`, suffix: ".md" },
      queue: queue as unknown as Queue,
    });
    await bucket.put(`${ns}/docs/a.txt`, "wrong suffix");
    await bucket.put(`${ns}/other/a.md`, "wrong prefix");
    await bucket.put(`${ns}/docs/a.md`, "covered");
    await bucket.delete(`${ns}/docs/a.md`); // object-delete is not in the rule
    expect(queue.take().map((m) => [m.action, m.object.key])).toEqual([["PutObject", `${ns}/docs/a.md`]]);
    // The writes themselves happened.
    expect(await env.DOCUMENTS.head(`${ns}/docs/a.txt`)).not.toBeNull();
  });

  it("announces a completed multipart upload as CompleteMultipartUpload", async () => {
    const queue = new HeldQueue();
    const key = `${freshNamespace("lm")}/big.txt`;
    const bucket = withLocalNotifications(env.DOCUMENTS, {
      bucketName: env.DOCUMENTS_BUCKET_NAME,
      rule: DOCUMENTS_NOTIFICATION_RULE,
      queue: queue as unknown as Queue,
    });
    const upload = await bucket.createMultipartUpload(key);
    const part = await upload.uploadPart(1, "Only part.");
    expect(queue.held).toEqual([]);
    const object = await upload.complete([part]);
    expect(queue.take()).toEqual([
      expect.objectContaining({
        action: "CompleteMultipartUpload",
        object: { key, size: object.size, eTag: object.etag },
      }),
    ]);
  });

  it("announces only actions the ingest consumer accepts", () => {
    // An action of the rule the consumer's schema refuses would dead-letter every such write.
    for (const type of DOCUMENTS_NOTIFICATION_RULE.eventTypes) {
      for (const action of EVENT_TYPE_ACTIONS[type]) {
        const message = { account: "a", action, bucket: "b", object: { key: "ns/id" }, eventTime: "t" };
        expect(IngestMessageSchema.safeParse(message).success, action).toBe(true);
      }
    }
  });

  it("never runs with BACKEND=cloudflare, nor offline with R2_NOTIFICATIONS off", async () => {
    for (const vars of [
      { BACKEND: "cloudflare", R2_NOTIFICATIONS: "true" },
      { BACKEND: "local", R2_NOTIFICATIONS: "false" },
    ] as const) {
      const { deps, queue } = services(vars);
      await deps.blobs.put(`${freshNamespace("lc")}/a.txt`, "R2 itself notifies, or nothing does.");
      expect(queue.held, JSON.stringify(vars)).toEqual([]);
    }
  });
});

describe("R2 uploads through the objects route", () => {
  const BASE_URL = "http://edgesearch.test";
  const RECORDS = [
    {
      id: "geology/volcano",
      title: "Volcanoes",
      text: "A volcano erupts when magma rises through the crust and escapes as lava.",
      metadata: { category: "geology", year: 2018 },
    },
    {
      id: "cooking/sourdough",
      title: "Sourdough bread",
      text: "Sourdough rises thanks to a starter of wild yeast and lactic acid bacteria.",
      metadata: { category: "cooking", year: 2022 },
    },
  ];

  it("writes objects only, whose title and metadata reach the index", async () => {
    const ns = freshNamespace("lo");
    const files: FileAccess = {
      stat: async (p) => (p === "records.jsonl" ? "file" : null),
      readdir: async () => [],
      readFile: async () => new TextEncoder().encode(RECORDS.map((r) => JSON.stringify(r)).join("\n")),
    };
    const paths: string[] = [];
    const fetch = async (input: string, init?: RequestInit) => {
      const request = new Request(input, init);
      paths.push(`${request.method} ${new URL(request.url).pathname}`);
      return exports.default.fetch(request);
    };
    const { outcomes } = await runUpload({
      fs: files,
      inputs: ["records.jsonl"],
      target: `r2 via ${BASE_URL}`,
      manifest: emptyManifest(ns),
      sender: createFetchApiSender({
        fetch,
        baseUrl: BASE_URL,
        apiKey: adminKey(),
        namespace: ns,
        objects: true,
      }),
    });
    expect(outcomes.map((o) => o.status)).toEqual(["uploaded", "uploaded"]);
    expect(paths).toEqual([`POST /v1/namespaces/${ns}/objects`]);
    const object = await env.DOCUMENTS.head(`${ns}/geology/volcano`);
    expect(object?.customMetadata).toEqual({
      contentType: "text/plain",
      title: "Volcanoes",
      metadata: JSON.stringify({ category: "geology", year: 2018 }),
    });
    expect(await waitForStatus(ns, "geology/volcano", "indexed")).toMatchObject({ title: "Volcanoes" });
    await waitForStatus(ns, "cooking/sourdough", "indexed");
    const found = await waitFor("a filtered vector hit", async () => {
      const res = await api<{ results: { id: string; title?: string }[] }>(
        "POST",
        `/v1/namespaces/${ns}/search`,
        {
          query: "wild yeast starter",
          mode: "vector",
          cache: "bypass",
          filter: { category: "cooking" },
        },
      );
      return res.body.results.length > 0 ? res.body.results : undefined;
    });
    expect(found.map((r) => r.id)).toEqual(["cooking/sourdough"]);
  });

  it("refuses title and metadata over what custom metadata carries, writing nothing", async () => {
    const ns = freshNamespace("lt");
    const res = await api<{ detail: string; field?: string }>("POST", `/v1/namespaces/${ns}/objects`, {
      documents: [
        { id: "ok", text: "Fits." },
        {
          id: "big",
          text: "Too much metadata.",
          title: "t".repeat(1000),
          metadata: { note: "n".repeat(1000) },
        },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.field).toBe("body.documents.1");
    expect(res.body.detail).toMatch(/custom metadata/);
    expect(await env.DOCUMENTS.head(`${ns}/ok`)).toBeNull();
  });
});
