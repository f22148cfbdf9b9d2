// Backup and restore end to end: both run as jobs on the ingest queue, a page of documents per
// step. A namespace backed up over several pages and restored into another answers every search
// exactly as the original does; a step delivered again writes nothing twice; restores refuse
// damaged backups (failing the job, writing nothing), non-empty namespaces, a second job on the
// same namespace, and keys without admin on both namespaces.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { signManifest } from "../../src/backup/signature";
import { loadConfig } from "../../src/config";
import { putMessage } from "../../src/ingest/messages";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import reportPdf from "../fixtures/formats/report.pdf?inline";
import corpusText from "../fixtures/scifact/corpus.jsonl?raw";
import { api, apiWithEnv, countRows, freshNamespace, waitFor, waitForStatus, waitIndexed } from "../support";
import { bytesOf, PDF, putFile } from "../support/files";
import { deliverMessage } from "../support/queue";
import { type SearchBody, searchApi } from "../support/search";

interface Doc {
  id: string;
  title: string;
  text: string;
}

interface Job {
  id: string;
  kind: "backup" | "restore";
  namespace: string;
  state: "running" | "complete" | "failed";
  phase: string;
  progress: {
    steps: number;
    documents: number;
    chunks: number;
    vectors: number;
    expected: { documents: number; chunks: number } | null;
    parts: { verified: number; total: number } | null;
  };
  error: string | null;
  from: { namespace: string; backupId: string } | null;
  manifest: string | null;
}

interface Manifest {
  format: number;
  namespace: string;
  backupId: string;
  version: { id: string; model: string; dimensions: number };
  counts: { documents: number; chunks: number; vectors: number };
  files: { kind: string; name: string; step: number; sha256: string; lines: number; bytes: number }[];
}

interface Problem {
  status: number;
  detail: string;
}

const corpus: Doc[] = corpusText
  .split("\n")
  .filter((l) => l.trim() !== "")
  .slice(0, 20)
  .map((l) => {
    const d = JSON.parse(l) as { _id: string; title: string; text: string };
    return { id: d._id, title: d.title, text: d.text };
  });

const QUERIES = [
  "bone marrow stem cells",
  "DNA methylation and cancer",
  "infant mortality in developing countries",
  "protein folding in the endoplasmic reticulum",
];
const MODES = ["keyword", "vector", "hybrid"] as const;

async function ingest(ns: string, docs: Doc[]): Promise<void> {
  const res = await api("POST", `/v1/namespaces/${ns}/documents`, {
    documents: docs.map((d, i) => ({
      ...d,
      metadata: { year: 2000 + i, category: i % 2 === 0 ? "even" : "odd" },
    })),
  });
  expect(res.status).toBe(202);
  await waitIndexed(ns, docs.length, 30_000);
}

async function search(ns: string, query: string, mode: string): Promise<SearchBody["results"]> {
  const res = await searchApi(ns, {
    query,
    mode,
    topK: 10,
    includeText: false,
    cache: "bypass",
  });
  expect(res.status).toBe(200);
  return res.body.results;
}

/** A queue that keeps what is sent to it, so a test can deliver each step itself (and again). */
class HeldQueue {
  readonly held: { body: unknown; delaySeconds: number }[] = [];
  async send(body: unknown, options?: QueueSendOptions): Promise<void> {
    this.held.push({ body, delaySeconds: options?.delaySeconds ?? 0 });
  }
  async sendBatch(messages: Iterable<MessageSendRequest>): Promise<void> {
    for (const m of messages) this.held.push({ body: m.body, delaySeconds: m.delaySeconds ?? 0 });
  }
}

/** The Worker's env with some vars or bindings replaced (page size, the queue, others). */
function envWith(overrides: { pageSize?: number; queue?: HeldQueue; env?: Record<string, unknown> }): Env {
  return {
    ...env,
    ...(overrides.pageSize === undefined ? {} : { BACKUP_PAGE_DOCUMENTS: String(overrides.pageSize) }),
    ...(overrides.queue === undefined ? {} : { INGEST_QUEUE: overrides.queue }),
    ...overrides.env,
  } as unknown as Env;
}

/** Calls the Worker with the admin key and an overridden env. */
function call<T>(method: string, path: string, body: unknown, with_: Parameters<typeof envWith>[0]) {
  return apiWithEnv<T>(envWith(with_), method, path, body);
}

/** Delivers one message to the ingest consumer (with the env overridden); returns what it did. */
function deliverWith(with_: Parameters<typeof envWith>[0], body: unknown) {
  return deliverMessage(body, { env: envWith(with_) });
}

/** Delivers one message to the ingest consumer, with the held queue as its producer. */
async function deliver(queue: HeldQueue, body: unknown) {
  const result = await deliverWith({ queue }, body);
  expect(result.retryMessages, JSON.stringify(body)).toHaveLength(0);
  expect(result.explicitAcks).toHaveLength(1);
}

/** Delivers the held messages (each step `times` times, concurrently) until none is left. */
async function drain(queue: HeldQueue, times = 1): Promise<number> {
  let delivered = 0;
  for (let next = queue.held.shift(); next; next = queue.held.shift()) {
    // The restore's wait for the index re-sends itself with a delay: a poll, not a step, and each
    // delivery of it sends the next poll.
    const poll = next.delaySeconds > 0;
    if (poll) await new Promise((r) => setTimeout(r, 100));
    // Copies of a step at the same time: both see the step not applied yet.
    const body = next.body;
    await Promise.all(Array.from({ length: poll ? 1 : times }, () => deliver(queue, body)));
    delivered += 1;
    if (delivered > 500) throw new Error("the job does not end");
  }
  return delivered;
}

async function job(ns: string, kind: "backup" | "restore", id: string): Promise<Job> {
  const res = await api<Job>(
    "GET",
    `/v1/namespaces/${ns}/${kind === "backup" ? "backups" : "restore"}/${id}`,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function finished(ns: string, kind: "backup" | "restore", id: string): Promise<Job> {
  return waitFor(
    `${kind} ${id} of ${ns} to finish`,
    async () => {
      const j = await job(ns, kind, id);
      return j.state === "running" ? undefined : j;
    },
    60_000,
    100,
  );
}

/** Starts a backup through the real queue and waits until it is complete. */
async function backup(ns: string, pageSize: number): Promise<{ job: Job; manifest: Manifest }> {
  const res = await call<Job>("POST", `/v1/namespaces/${ns}/backups`, {}, { pageSize });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.headers.get("location")).toBe(`/v1/namespaces/${ns}/backups/${res.body.id}`);
  expect(res.body).toMatchObject({ kind: "backup", namespace: ns, state: "running" });
  const done = await finished(ns, "backup", res.body.id);
  expect(done.state, done.error ?? "").toBe("complete");
  return { job: done, manifest: await manifestOf(ns, res.body.id) };
}

async function manifestOf(ns: string, id: string): Promise<Manifest> {
  const object = await env.BACKUPS.get(`_backups/${ns}/${id}/manifest.json`);
  if (!object) throw new Error(`backup ${id} has no manifest`);
  return (await object.json()) as Manifest;
}

async function partLines(ns: string, id: string, name: string): Promise<string[]> {
  const text = (await (await env.BACKUPS.get(`_backups/${ns}/${id}/${name}`))?.text()) ?? "";
  return text.split("\n").filter((l) => l !== "");
}

async function restore(target: string, from: { namespace: string; backupId: string }) {
  return api<Job & Problem>("POST", `/v1/namespaces/${target}/restore`, { from });
}

async function expectSameAnswers(source: string, target: string): Promise<void> {
  let compared = 0;
  for (const query of QUERIES) {
    for (const mode of MODES) {
      const [want, got] = await Promise.all([search(source, query, mode), search(target, query, mode)]);
      expect(want.length, `${mode} "${query}"`).toBeGreaterThan(0);
      expect(
        got.map((r) => r.id),
        `${mode} "${query}"`,
      ).toEqual(want.map((r) => r.id));
      got.forEach((r, i) => {
        expect(Math.abs(r.score - (want[i]?.score ?? Number.NaN)), `${mode} "${query}" #${i}`).toBeLessThan(
          1e-6,
        );
      });
      // Chunk ids are the target's own (they hash the namespace), never the source's.
      for (const r of got) expect(want.map((w) => w.chunkId)).not.toContain(r.chunkId);
      compared += 1;
    }
  }
  expect(compared).toBe(QUERIES.length * MODES.length);
}

async function targetIsEmpty(ns: string): Promise<void> {
  expect(await countRows("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?", ns)).toBe(0);
  expect(await countRows("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?", ns)).toBe(0);
  expect((await env.DOCUMENTS.list({ prefix: `${ns}/` })).objects).toHaveLength(0);
  for (const mode of MODES) expect(await search(ns, QUERIES[0] ?? "", mode)).toEqual([]);
}

describe("backup and restore", () => {
  const source = freshNamespace("bk-src");
  let taken: { job: Job; manifest: Manifest };

  beforeAll(async () => {
    await ingest(source, corpus);
    // 7 documents per step: 20 documents take three steps.
    taken = await backup(source, 7);
  }, 120_000);

  it("writes a part of each kind per step and the manifest last, with matching hashes and counts", async () => {
    const { job: done, manifest } = taken;
    expect(manifest).toMatchObject({ format: 2, namespace: source, backupId: done.id });
    expect(manifest.version.id).toBe("v1");
    expect(manifest.counts.documents).toBe(corpus.length);
    expect(manifest.counts.vectors).toBe(manifest.counts.chunks);
    expect(manifest.counts.chunks).toBeGreaterThanOrEqual(corpus.length);
    expect(manifest.files.map((f) => f.name)).toEqual(
      [0, 1, 2].flatMap((step) =>
        ["documents", "chunks", "vectors"].map((kind) => `${kind}-${String(step).padStart(6, "0")}.ndjson`),
      ),
    );
    const ids: string[] = [];
    for (const file of manifest.files) {
      const object = await env.BACKUPS.get(`_backups/${source}/${done.id}/${file.name}`);
      const text = (await object?.text()) ?? "";
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
      const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
      expect(hex, file.name).toBe(file.sha256);
      const lines = text.split("\n").filter((l) => l !== "");
      expect(lines, file.name).toHaveLength(file.lines);
      if (file.kind === "documents") ids.push(...lines.map((l) => (JSON.parse(l) as { id: string }).id));
    }
    expect(ids).toEqual(corpus.map((d) => d.id).sort());

    expect(done.progress).toMatchObject({
      steps: 4, // three pages, then the manifest
      documents: corpus.length,
      chunks: manifest.counts.chunks,
      vectors: manifest.counts.chunks,
      expected: { documents: corpus.length, chunks: manifest.counts.chunks },
    });
    expect(done.manifest).toBe(`_backups/${source}/${done.id}/manifest.json`);
    const list = await api<{ jobs: Job[] }>("GET", `/v1/namespaces/${source}/backups`);
    expect(list.status).toBe(200);
    expect(list.body.jobs).toContainEqual(expect.objectContaining({ id: done.id, state: "complete" }));
  });

  it("restores through the queue into a fresh namespace that then answers every search as the original", async () => {
    const target = freshNamespace("bk-dst");
    // Vectorize applies writes seconds after accepting them: the target's index does so here too,
    // so the restore is complete only once it has waited for them.
    const v1 = await api<{ index: string; dimensions: number }>(
      "GET",
      `/v1/namespaces/${target}/versions/v1`,
    );
    expect(v1.status).toBe(200);
    const index = new LocalVectorIndexClient(env.LOCAL_INDEX, v1.body.index);
    await index.configure({ dimensions: v1.body.dimensions, metric: "cosine", applyDelayMs: 5000 });
    let done: Job;
    let res: Awaited<ReturnType<typeof restore>>;
    try {
      res = await restore(target, { namespace: source, backupId: taken.job.id });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(res.headers.get("location")).toBe(`/v1/namespaces/${target}/restore/${res.body.id}`);
      expect(res.body).toMatchObject({ kind: "restore", state: "running", phase: "verify" });
      done = await finished(target, "restore", res.body.id);
      expect(done.state, done.error ?? "").toBe("complete");
      // Complete means searchable: the job waited for the index to apply its vector writes.
      await expectSameAnswers(source, target);
    } finally {
      await index.configure({ dimensions: v1.body.dimensions, metric: "cosine" });
    }
    const { manifest } = taken;
    expect(done.progress).toMatchObject({
      documents: corpus.length,
      chunks: manifest.counts.chunks,
      vectors: manifest.counts.chunks,
      parts: { verified: manifest.files.length, total: manifest.files.length },
    });

    const stats = await api<{ documents: number; chunks: number; pending: number }>(
      "GET",
      `/v1/namespaces/${target}`,
    );
    expect(stats.body).toMatchObject({
      documents: corpus.length,
      chunks: manifest.counts.chunks,
      pending: 0,
    });
    const doc = await api("GET", `/v1/namespaces/${target}/documents/${corpus[3]?.id}`);
    expect(doc.body).toMatchObject({ status: "indexed", title: corpus[3]?.title, version: "v1" });

    // Filters see the restored metadata.
    const filtered = await searchApi(target, {
      query: QUERIES[0],
      mode: "hybrid",
      filter: { category: "even" },
      cache: "bypass",
    });
    expect(filtered.status).toBe(200);
    expect(filtered.body.results.length).toBeGreaterThan(0);
    const evens = new Set(corpus.filter((_, i) => i % 2 === 0).map((d) => d.id));
    for (const r of filtered.body.results) expect(evens.has(r.id)).toBe(true);

    const list = await api<{ jobs: Job[] }>("GET", `/v1/namespaces/${target}/restore`);
    expect(list.body.jobs).toEqual([expect.objectContaining({ id: res.body.id, state: "complete" })]);
  }, 60_000);

  it("writes nothing twice when steps are delivered again, and rewrites a step's lost parts", async () => {
    const queue = new HeldQueue();
    const started = await call<Job>("POST", `/v1/namespaces/${source}/backups`, {}, { pageSize: 3, queue });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const id = started.body.id;
    expect(queue.held).toHaveLength(1);

    // Step 0, then step 0 again: the second delivery neither exports nor sends anything.
    const step0 = queue.held[0]?.body;
    await drainOne(queue);
    expect(queue.held).toHaveLength(1);
    await deliver(queue, step0);
    expect(queue.held).toHaveLength(1);
    expect((await job(source, "backup", id)).progress.documents).toBe(3);

    // A crash between applying step 1 and writing its parts and sending step 2: the parts and the
    // message are gone, and the job does not know step 2 was sent. Step 1 delivered again repairs both.
    const step1 = queue.held[0]?.body;
    await drainOne(queue);
    const prefix = `_backups/${source}/${id}/`;
    const lost = ["documents", "chunks", "vectors"].map((k) => `${prefix}${k}-000001.ndjson`);
    const before = await Promise.all(lost.map(async (key) => (await env.BACKUPS.get(key))?.text()));
    // Written by step 1 in the first place, or their absence afterwards would prove nothing.
    for (const [i, text] of before.entries()) expect(text, lost[i]).toMatch(/\n$/);
    for (const key of lost) await env.BACKUPS.delete(key);
    queue.held.length = 0;
    await env.DB.prepare("UPDATE backup_jobs SET sent_step = 1 WHERE id = ?").bind(id).run();
    await deliver(queue, step1);
    expect(queue.held.map((m) => m.body)).toEqual([{ kind: "backup.step", job: id, step: 2 }]);
    expect(await Promise.all(lost.map(async (key) => (await env.BACKUPS.get(key))?.text()))).toEqual(before);

    // Not complete yet: no manifest, and nothing to restore from.
    expect((await job(source, "backup", id)).state).toBe("running");
    expect(await env.BACKUPS.head(`${prefix}manifest.json`)).toBeNull();
    const early = await restore(freshNamespace("bk-early"), { namespace: source, backupId: id });
    expect(early.status).toBe(409);
    expect(early.body.detail).toMatch(/still running/);

    // The rest, every message twice at once.
    await drain(queue, 2);
    const done = await job(source, "backup", id);
    expect(done.state, done.error ?? "").toBe("complete");
    const manifest = await manifestOf(source, id);
    expect(manifest.files).toHaveLength(7 * 3); // 20 documents, 3 per step
    expect(manifest.counts).toEqual(taken.manifest.counts);
    expect(done.progress).toMatchObject({
      documents: corpus.length,
      chunks: taken.manifest.counts.chunks,
      vectors: taken.manifest.counts.chunks,
    });
    const ids: string[] = [];
    for (const f of manifest.files.filter((x) => x.kind === "documents")) {
      ids.push(...(await partLines(source, id, f.name)).map((l) => (JSON.parse(l) as { id: string }).id));
    }
    expect(ids).toEqual(corpus.map((d) => d.id).sort());

    // The restore of it, every message delivered twice at once: each row once, the same answers.
    const target = freshNamespace("bk-twice");
    const restoring = await call<Job>(
      "POST",
      `/v1/namespaces/${target}/restore`,
      { from: { namespace: source, backupId: id } },
      { queue },
    );
    expect(restoring.status, JSON.stringify(restoring.body)).toBe(202);
    await drain(queue, 2);
    const restored = await job(target, "restore", restoring.body.id);
    expect(restored.state, restored.error ?? "").toBe("complete");
    expect(restored.progress).toMatchObject({ documents: corpus.length, chunks: manifest.counts.chunks });
    expect(await countRows("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?", target)).toBe(
      corpus.length,
    );
    expect(await countRows("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?", target)).toBe(
      manifest.counts.chunks,
    );
    const stats = await api<{ documents: number; chunks: number }>("GET", `/v1/namespaces/${target}`);
    expect(stats.body).toMatchObject({ documents: corpus.length, chunks: manifest.counts.chunks });
    await expectSameAnswers(source, target);
  }, 60_000);

  it("fails a restore from a tampered part with the reason, writing nothing", async () => {
    const damaged = await backup(source, 7);
    // The last part read: verification has to reach it before anything is written.
    const part = damaged.manifest.files[damaged.manifest.files.length - 1];
    if (!part) throw new Error("no parts");
    const key = `_backups/${source}/${damaged.job.id}/${part.name}`;
    const text = (await (await env.BACKUPS.get(key))?.text()) ?? "";
    // Still valid NDJSON with the same values: only the hash can tell.
    await env.BACKUPS.put(key, text.replace(/\n$/, " \n"));
    expect(await (await env.BACKUPS.get(key))?.text()).not.toBe(text);

    const target = freshNamespace("bk-tamper");
    const res = await restore(target, { namespace: source, backupId: damaged.job.id });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const done = await finished(target, "restore", res.body.id);
    expect(done.state).toBe("failed");
    expect(done.error).toContain(part.name);
    expect(done.error).toContain("SHA-256");
    expect(done.phase).toBe("verify");
    expect(done.progress.parts?.verified).toBeLessThan(damaged.manifest.files.length);
    await targetIsEmpty(target);
    const list = await api<{ jobs: Job[] }>("GET", `/v1/namespaces/${target}/restore`);
    expect(list.body.jobs.map((j) => j.state)).toEqual(["failed"]);
  }, 60_000);

  it("writes backups to the backups bucket, signed, and nothing under _backups/ to the documents bucket", async () => {
    const { job: done, manifest } = taken;
    const prefix = `_backups/${source}/${done.id}/`;
    const keys = (await env.BACKUPS.list({ prefix })).objects.map((o) => o.key).sort();
    expect(keys).toEqual(
      [...manifest.files.map((f) => `${prefix}${f.name}`), `${prefix}manifest.json`].sort(),
    );
    // The documents bucket notifies the ingest queue of every write: a backup there is ingest traffic.
    expect((await env.DOCUMENTS.list({ prefix: "_backups/" })).objects).toEqual([]);
    const head = await env.BACKUPS.head(`${prefix}manifest.json`);
    expect(head?.customMetadata).toMatchObject({
      signature: expect.stringMatching(/^[0-9a-f]{64}$/),
      signatureKey: "ADMIN_API_KEY",
    });
  });

  it("refuses with 422 a restore whose manifest signature does not verify, writing nothing", async () => {
    const forged = await backup(source, 7);
    const prefix = `_backups/${source}/${forged.job.id}/`;
    const part = forged.manifest.files.find((f) => f.kind === "documents");
    if (!part) throw new Error("no documents part");
    // Whoever can write the bucket rewrites a document and, to match, its part's SHA-256 and size.
    const original = (await (await env.BACKUPS.get(`${prefix}${part.name}`))?.text()) ?? "";
    const planted = original.replace(/"body":"/, '"body":"Planted sentence. ');
    expect(planted).not.toBe(original);
    await env.BACKUPS.put(`${prefix}${part.name}`, planted);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(planted));
    const sha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    const stored = await env.BACKUPS.get(`${prefix}manifest.json`);
    const signed = stored?.customMetadata ?? {};
    const manifest = (await stored?.json()) as Manifest;
    const rewritten = JSON.stringify(
      {
        ...manifest,
        files: manifest.files.map((f) =>
          f.name === part.name ? { ...f, sha256, bytes: new TextEncoder().encode(planted).length } : f,
        ),
      },
      null,
      2,
    );
    const target = freshNamespace("bk-forged");
    const from = { namespace: source, backupId: forged.job.id };
    const attempts: [Record<string, string>, RegExp][] = [
      // The manifest's own signature, kept.
      [signed, /does not match its signature/],
      // No signature at all.
      [{}, /is not signed/],
      // Signed with a key of the attacker's choosing.
      [
        {
          ...(await signManifest(
            { adminApiKey: "a-guess-at-the-admin-key-0123456789abcdef", backupSigningKey: undefined },
            rewritten,
          )),
        },
        /does not match its signature/,
      ],
      [
        {
          ...(await signManifest(
            { adminApiKey: undefined, backupSigningKey: "a-signing-key-0123456789abcdef-0123456789" },
            rewritten,
          )),
        },
        /signed with BACKUP_SIGNING_KEY, which this deployment does not have/,
      ],
    ];
    for (const [customMetadata, why] of attempts) {
      await env.BACKUPS.put(`${prefix}manifest.json`, rewritten, { customMetadata });
      const res = await restore(target, from);
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(res.body.detail).toMatch(why);
      expect(res.body.detail).toContain(forged.job.id);
    }
    expect((await api<{ jobs: Job[] }>("GET", `/v1/namespaces/${target}/restore`)).body.jobs).toEqual([]);
    await targetIsEmpty(target);
  }, 60_000);

  it("re-embeds nothing when the restore's R2 writes notify the consumer, during the restore or after", async () => {
    const queue = new HeldQueue();
    const target = freshNamespace("bk-notify");
    const started = await call<Job>(
      "POST",
      `/v1/namespaces/${target}/restore`,
      { from: { namespace: source, backupId: taken.job.id } },
      { queue },
    );
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    while ((await job(target, "restore", started.body.id)).phase === "verify") await drainOne(queue);
    const write = queue.held.shift()?.body;
    expect(write).toMatchObject({ kind: "restore.step" });

    // The write step's first delivery stores its documents in R2, then fails on the vector write
    // (a Vectorize outage): R2 notifies of objects whose rows are not committed yet.
    const outage = JSON.stringify({ vectorize: { error: 1, methods: ["upsert"] }, scope: "bk-notify" });
    const failed = await deliverWith({ queue, env: { FAULTS: outage } }, write);
    expect(failed.retryMessages).toHaveLength(1);
    const early = (await env.DOCUMENTS.list({ prefix: `${target}/` })).objects;
    expect(early.length).toBeGreaterThan(0);
    expect(await countRows("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?", target)).toBe(0);

    const upserts = countingUpserts();
    const notify = async (objects: R2Object[]) => {
      for (const o of objects) {
        const message = putMessage(env.DOCUMENTS_BUCKET_NAME, o.key, o.size, o.etag);
        const result = await deliverWith({ queue, env: { LOCAL_INDEX: upserts.namespace } }, message);
        expect(result.explicitAcks, o.key).toHaveLength(1);
      }
    };
    await notify(early);
    expect(upserts.calls()).toBe(0);
    expect(await countRows("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?", target)).toBe(0);

    // The step again, and the rest of the restore.
    await deliver(queue, write);
    await drain(queue);
    const done = await job(target, "restore", started.body.id);
    expect(done.state, done.error ?? "").toBe("complete");

    // R2 delivers notifications at least once: every write's notification again, after the restore.
    const all = (await env.DOCUMENTS.list({ prefix: `${target}/` })).objects;
    expect(all).toHaveLength(corpus.length);
    await notify(all);
    expect(upserts.calls()).toBe(0);
    const stats = await api<{ documents: number; chunks: number; pending: number }>(
      "GET",
      `/v1/namespaces/${target}`,
    );
    expect(stats.body).toMatchObject({
      documents: corpus.length,
      chunks: taken.manifest.counts.chunks,
      pending: 0,
    });
    await expectSameAnswers(source, target);
  }, 60_000);

  it("restores a backup of the earlier format, whose parts are not per step", async () => {
    // Format 1: the manifest names no step for its parts, so they are restored as one group.
    const id = "20200101T000000Z-0000f001";
    const from = `_backups/${source}/${taken.job.id}/`;
    const files = [];
    for (const f of taken.manifest.files) {
      const body = (await (await env.BACKUPS.get(`${from}${f.name}`))?.text()) ?? "";
      await env.BACKUPS.put(`_backups/${source}/${id}/${f.name}`, body);
      const { step: _, ...rest } = f;
      files.push(rest);
    }
    // Signed as every manifest this deployment writes is.
    const text = JSON.stringify({ ...taken.manifest, format: 1, backupId: id, files });
    await env.BACKUPS.put(`_backups/${source}/${id}/manifest.json`, text, {
      customMetadata: { ...(await signManifest(loadConfig(env), text)) },
    });
    const target = freshNamespace("bk-v1");
    const res = await restore(target, { namespace: source, backupId: id });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const done = await finished(target, "restore", res.body.id);
    expect(done.state, done.error ?? "").toBe("complete");
    expect(done.progress).toMatchObject({ documents: corpus.length, chunks: taken.manifest.counts.chunks });
    await expectSameAnswers(source, target);
  }, 60_000);

  it("refuses a namespace that holds documents with 409 and changes nothing", async () => {
    const target = freshNamespace("bk-full");
    await ingest(target, corpus.slice(0, 1));
    const res = await restore(target, { namespace: source, backupId: taken.job.id });
    expect(res.status).toBe(409);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.body.detail).toMatch(/empty/);
    const stats = await api<{ documents: number }>("GET", `/v1/namespaces/${target}`);
    expect(stats.body.documents).toBe(1);
    expect((await api<{ jobs: Job[] }>("GET", `/v1/namespaces/${target}/restore`)).body.jobs).toEqual([]);
  }, 60_000);

  it("runs one backup or restore per namespace at a time", async () => {
    const ns = freshNamespace("bk-busy");
    const queue = new HeldQueue();
    const first = await call<Job>("POST", `/v1/namespaces/${ns}/backups`, {}, { queue });
    expect(first.status).toBe(202);
    const second = await api<Problem>("POST", `/v1/namespaces/${ns}/backups`, {});
    expect(second.status).toBe(409);
    expect(second.headers.get("content-type")).toContain("application/problem+json");
    expect(second.body.detail).toContain(first.body.id);
    const into = await restore(ns, { namespace: source, backupId: taken.job.id });
    expect(into.status).toBe(409);
    expect(into.body.detail).toContain(first.body.id);

    // Once it is done, the next one may start. An empty namespace backs up to an empty manifest.
    await drain(queue);
    expect((await job(ns, "backup", first.body.id)).state).toBe("complete");
    expect((await manifestOf(ns, first.body.id)).files).toEqual([]);
    const again = await call<Job>("POST", `/v1/namespaces/${ns}/backups`, {}, { queue });
    expect(again.status).toBe(202);
    await drain(queue);
    const list = await api<{ jobs: Job[] }>("GET", `/v1/namespaces/${ns}/backups`);
    expect(list.body.jobs.map((j) => j.id)).toEqual([again.body.id, first.body.id]);
  }, 60_000);

  it("answers 404 for an unknown backup or restore", async () => {
    const ns = freshNamespace("bk-none");
    const unknown = "20200101T000000Z-00000000";
    expect((await restore(ns, { namespace: source, backupId: unknown })).status).toBe(404);
    expect((await api("GET", `/v1/namespaces/${source}/backups/${unknown}`)).status).toBe(404);
    expect((await api("GET", `/v1/namespaces/${ns}/restore/${unknown}`)).status).toBe(404);
    // A backup's id is not a restore's.
    expect((await api("GET", `/v1/namespaces/${source}/restore/${taken.job.id}`)).status).toBe(404);
  });

  it("needs admin on the target and on the backup's namespace", async () => {
    const target = freshNamespace("bk-auth");
    const created = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "backup writer",
      namespaces: [source, target],
      roles: ["write", "search"],
    });
    expect(created.status).toBe(201);
    const writer = { authorization: `Bearer ${created.body.key}` };
    const from = { namespace: source, backupId: taken.job.id };
    expect((await api("POST", `/v1/namespaces/${source}/backups`, {}, writer)).status).toBe(403);
    expect((await api("GET", `/v1/namespaces/${source}/backups`, undefined, writer)).status).toBe(403);
    expect(
      (await api("GET", `/v1/namespaces/${source}/backups/${taken.job.id}`, undefined, writer)).status,
    ).toBe(403);
    expect((await api("POST", `/v1/namespaces/${target}/restore`, { from }, writer)).status).toBe(403);
    expect((await api("GET", `/v1/namespaces/${target}/restore`, undefined, writer)).status).toBe(403);

    // Admin on the target only: the backup's namespace is out of reach.
    const targetAdmin = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "target admin",
      namespaces: [target],
      roles: ["admin"],
    });
    expect(targetAdmin.status).toBe(201);
    const res = await api(
      "POST",
      `/v1/namespaces/${target}/restore`,
      { from },
      { authorization: `Bearer ${targetAdmin.body.key}` },
    );
    expect(res.status).toBe(403);
    expect((await api("GET", `/v1/namespaces/${target}/restore`)).body).toMatchObject({ jobs: [] });
    await targetIsEmpty(target);
  });
});

/** The local index's namespace, counting the vector writes made through it. */
function countingUpserts(): { namespace: DurableObjectNamespace; calls: () => number } {
  let calls = 0;
  const real = env.LOCAL_INDEX;
  const namespace = new Proxy(real, {
    get(target, prop) {
      if (prop === "get") {
        return (id: DurableObjectId) => {
          const stub = target.get(id);
          // RPC methods are taken as they are: a stub's method has no bind().
          return new Proxy(stub, {
            get(s, method) {
              if (method !== "upsert") return Reflect.get(s, method);
              return (...args: Parameters<typeof s.upsert>) => {
                calls += 1;
                return s.upsert(...args);
              };
            },
          });
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { namespace, calls: () => calls };
}

/** Delivers the first held message once. */
async function drainOne(queue: HeldQueue): Promise<void> {
  const next = queue.held.shift();
  if (!next) throw new Error("no message held");
  await deliver(queue, next.body);
}

describe("backups, expiry and erasure", () => {
  const TEXT = "Lichens grow on bare rock, a fungus and an alga living together.";

  it("carries expiresAt through backup and restore; an expired document is not restored", async () => {
    const ns = freshNamespace("bk-exp");
    const keeps = new Date(Date.now() + 365 * 86_400_000).toISOString();
    const docs = [
      { id: "keeps", text: TEXT, expiresAt: keeps },
      { id: "never", text: `${TEXT} Never.` },
      { id: "gone", text: `${TEXT} Gone.`, expiresAt: new Date(Date.now() - 3_600_000).toISOString() },
    ];
    expect((await api("POST", `/v1/namespaces/${ns}/documents`, { documents: docs })).status).toBe(202);
    await waitIndexed(ns, 3, 30_000);
    const { job: done, manifest } = await backup(ns, 7);
    const lines = (
      await partLines(ns, done.id, manifest.files.find((f) => f.kind === "documents")?.name ?? "")
    )
      .map((l) => JSON.parse(l) as { id: string; expiresAt: number | null })
      .sort((a, b) => a.id.localeCompare(b.id));
    expect(lines.map((l) => [l.id, l.expiresAt])).toEqual([
      ["gone", Date.parse(docs[2]?.expiresAt ?? "")],
      ["keeps", Date.parse(keeps)],
      ["never", null],
    ]);

    const target = freshNamespace("bk-exp-to");
    const started = await restore(target, { namespace: ns, backupId: done.id });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const restored = await finished(target, "restore", started.body.id);
    expect(restored.state, restored.error ?? "").toBe("complete");
    expect((await api("GET", `/v1/namespaces/${target}/documents/keeps`)).body.expiresAt).toBe(keeps);
    expect((await api("GET", `/v1/namespaces/${target}/documents/never`)).body).not.toHaveProperty(
      "expiresAt",
    );
    expect((await api("GET", `/v1/namespaces/${target}/documents/gone`)).status).toBe(404);
    expect(
      await countRows("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1 AND doc_id = 'gone'", target),
    ).toBe(0);
    expect(await env.DOCUMENTS.head(`${target}/gone`)).toBeNull();
  });

  it("flags the backups taken before an erasure, and not the ones after", async () => {
    const ns = freshNamespace("bk-era");
    const docs = [
      { id: "erased", text: TEXT, metadata: { customer: "c1" } },
      { id: "kept", text: `${TEXT} Kept.`, metadata: { customer: "c2" } },
    ];
    expect((await api("POST", `/v1/namespaces/${ns}/documents`, { documents: docs })).status).toBe(202);
    await waitIndexed(ns, 2, 30_000);
    const before = await backup(ns, 7);
    const erasure = await api<{ startedAt: string }>("POST", `/v1/namespaces/${ns}/documents/delete`, {
      filter: { customer: "c1" },
    });
    expect(erasure.status).toBe(202);
    await waitFor("the erasure to complete", async () => {
      const res = await api<{ state: string }>("GET", erasure.headers.get("location") ?? "");
      return res.body.state === "complete";
    });
    const after = await backup(ns, 7);
    const list = await api<{ jobs: (Job & { containsErasedData: boolean; erasedAt: string | null })[] }>(
      "GET",
      `/v1/namespaces/${ns}/backups`,
    );
    expect(list.status).toBe(200);
    const flags = Object.fromEntries(list.body.jobs.map((j) => [j.id, [j.containsErasedData, j.erasedAt]]));
    expect(flags[before.job.id]).toEqual([true, erasure.body.startedAt]);
    expect(flags[after.job.id]).toEqual([false, null]);
    const one = await api<{ containsErasedData: boolean }>(
      "GET",
      `/v1/namespaces/${ns}/backups/${before.job.id}`,
    );
    expect(one.body.containsErasedData).toBe(true);
  });

  it("restores a PDF as the bytes that were uploaded, still found by a phrase on its page 2", async () => {
    const ns = freshNamespace("bk-pdf");
    const pdf = bytesOf(reportPdf);
    expect((await putFile(ns, "report.pdf", pdf, PDF)).status).toBe(202);
    await waitForStatus(ns, "report.pdf", "indexed");
    const { job: done } = await backup(ns, 7);
    const target = freshNamespace("bk-pdf-to");
    const started = await restore(target, { namespace: ns, backupId: done.id });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const restored = await finished(target, "restore", started.body.id);
    expect(restored.state, restored.error ?? "").toBe("complete");
    const object = await env.DOCUMENTS.get(`${target}/report.pdf`);
    expect(object?.httpMetadata?.contentType).toBe(PDF);
    expect(new Uint8Array((await object?.arrayBuffer()) ?? new ArrayBuffer(0))).toEqual(pdf);
    const results = await search(target, "spectrograph aurora telemetry", "keyword");
    expect(results[0]?.id).toBe("report.pdf");
  });
});
