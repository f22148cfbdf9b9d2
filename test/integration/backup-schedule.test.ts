// Scheduled backups through the scheduled handler: a namespace whose policy is due is backed up
// (through the same job as POST /backups), one not due is not, one with a job running is skipped
// with the reason; retention prunes backups beyond the policy's count and age (objects and rows),
// always keeping the newest complete one; a scheduled backup that fails is reported once, at error
// level, and in the namespace's health. The policy API validates its input and its keys' scopes.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { flushLocalMetrics } from "../../src/observe/local-dataset";
import worker from "../../workers/index";
import { api, apiWithEnv, freshNamespace, waitFor, writeIndexed } from "../support";

/** Documents written through the API (writeIndexed takes their ids; the API wants their text). */
const docs = (...texts: string[]) => texts.map((text, i) => ({ id: `doc-${i}`, text }));

const HOUR = 3600_000;
const DAY = 24 * HOUR;

interface Policy {
  namespace: string;
  intervalHours: number;
  keep: { count: number; maxAgeDays: number };
  nextDueAt: string;
  lastStartedAt: string | null;
  lastBackupId: string | null;
  lastSkipReason: string | null;
}

interface Backup {
  id: string;
  state: "running" | "complete" | "failed";
  error: string | null;
  bytes: number;
  ageSeconds: number;
}

interface Problem {
  status: number;
  code: string;
  detail: string;
  errors?: { field: string; message: string }[];
}

/** A queue that keeps what is sent to it: backups started under it stay running. */
class HoldingQueue {
  readonly held: unknown[] = [];
  async send(body: unknown): Promise<void> {
    this.held.push(body);
  }
  async sendBatch(messages: Iterable<MessageSendRequest>): Promise<void> {
    for (const m of messages) this.held.push(m.body);
  }
}

/** One cron run, with the ingest queue replaced when `queue` is given. */
async function runCron(queue?: HoldingQueue): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ cron: "*/5 * * * *" }),
    (queue ? { ...env, INGEST_QUEUE: queue } : env) as unknown as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
}

const putPolicy = (ns: string, body: unknown, headers?: Record<string, string>) =>
  api<Policy & Problem>("PUT", `/v1/namespaces/${ns}/backup-policy`, body, headers);

async function backups(ns: string): Promise<Backup[]> {
  const res = await api<{ jobs: Backup[] }>("GET", `/v1/namespaces/${ns}/backups`);
  expect(res.status).toBe(200);
  return res.body.jobs;
}

async function policyOf(ns: string): Promise<Policy> {
  const res = await api<Policy>("GET", `/v1/namespaces/${ns}/backup-policy`);
  expect(res.status).toBe(200);
  return res.body;
}

/** Moves the policy's next backup a day away, so a cron run only prunes. */
async function notDue(ns: string): Promise<void> {
  await env.DB.prepare("UPDATE backup_policies SET next_due_at = ?2 WHERE namespace = ?1")
    .bind(ns, Date.now() + DAY)
    .run();
}

async function healthOf(ns: string) {
  const stats = await api<{
    health: {
      problems: string[];
      backupsStarted: number;
      backupsFailed: number;
      backupsPruned: number;
    } | null;
  }>("GET", `/v1/namespaces/${ns}`);
  return stats.body.health;
}

/** A log line as the logger writes it (one JSON object), or {} for anything else. */
function logLine(line: unknown): Record<string, unknown> {
  try {
    return JSON.parse(String(line)) as Record<string, unknown>;
  } catch {
    return {};
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("backup policy API", () => {
  it("sets, reads and deletes a namespace's policy", async () => {
    const ns = freshNamespace("bp-api");
    expect((await api("GET", `/v1/namespaces/${ns}/backup-policy`)).status).toBe(404);
    const set = await putPolicy(ns, { intervalHours: 6, keep: { count: 3, maxAgeDays: 14 } });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toMatchObject({
      namespace: ns,
      intervalHours: 6,
      keep: { count: 3, maxAgeDays: 14 },
      lastStartedAt: null,
      lastBackupId: null,
    });
    // A new policy is due at once: the next cron run takes its first backup.
    expect(Date.parse(set.body.nextDueAt)).toBeLessThanOrEqual(Date.now());
    expect(await policyOf(ns)).toMatchObject({ intervalHours: 6, keep: { count: 3, maxAgeDays: 14 } });

    const deleted = await api("DELETE", `/v1/namespaces/${ns}/backup-policy`);
    expect(deleted).toMatchObject({ status: 200, body: { deleted: true } });
    expect((await api("GET", `/v1/namespaces/${ns}/backup-policy`)).status).toBe(404);
    expect((await api("DELETE", `/v1/namespaces/${ns}/backup-policy`)).status).toBe(404);
  });

  it.each([
    [
      "an interval of 0 hours",
      { intervalHours: 0, keep: { count: 3, maxAgeDays: 14 } },
      "body.intervalHours",
    ],
    ["a negative count", { intervalHours: 1, keep: { count: -1, maxAgeDays: 14 } }, "body.keep.count"],
    ["a negative age", { intervalHours: 1, keep: { count: 1, maxAgeDays: -3 } }, "body.keep.maxAgeDays"],
    [
      "a fractional interval",
      { intervalHours: 1.5, keep: { count: 1, maxAgeDays: 1 } },
      "body.intervalHours",
    ],
    ["an unknown field", { intervalHours: 1, keep: { count: 1, maxAgeDays: 1 }, drill: "yes" }, "body"],
    ["an unknown keep field", { intervalHours: 1, keep: { count: 1, maxAgeDays: 1, bytes: 5 } }, "body.keep"],
    ["no keep", { intervalHours: 24 }, "body.keep"],
  ])("refuses %s with a problem+json 400 naming the field", async (_, body, field) => {
    const ns = freshNamespace("bp-bad");
    const res = await putPolicy(ns, body);
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.body.code).toBe("validation_failed");
    expect(res.body.errors?.map((e) => e.field)).toContain(field);
    expect((await api("GET", `/v1/namespaces/${ns}/backup-policy`)).status).toBe(404);
  });

  it("needs the admin role on the namespace", async () => {
    const ns = freshNamespace("bp-auth");
    const other = freshNamespace("bp-other");
    const policy = { intervalHours: 1, keep: { count: 1, maxAgeDays: 1 } };
    const writer = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "policy writer",
      namespaces: [ns],
      roles: ["write", "search"],
    });
    const otherAdmin = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "other tenant admin",
      namespaces: [other],
      roles: ["admin"],
    });
    for (const key of [writer.body.key, otherAdmin.body.key]) {
      const auth = { authorization: `Bearer ${key}` };
      expect((await putPolicy(ns, policy, auth)).status).toBe(403);
      expect((await api("GET", `/v1/namespaces/${ns}/backup-policy`, undefined, auth)).status).toBe(403);
      expect((await api("DELETE", `/v1/namespaces/${ns}/backup-policy`, undefined, auth)).status).toBe(403);
    }
    expect((await putPolicy(ns, policy, { authorization: "" })).status).toBe(401);
    expect((await api("GET", `/v1/namespaces/${ns}/backup-policy`)).status).toBe(404);
    // The other tenant's admin manages its own namespace.
    const own = await putPolicy(other, policy, { authorization: `Bearer ${otherAdmin.body.key}` });
    expect(own.status).toBe(200);
  });
});

describe("scheduled backups", () => {
  it("starts a backup when the policy is due, and none until the interval has passed", async () => {
    const ns = freshNamespace("bp-due");
    await writeIndexed(
      ns,
      docs("Scheduled backups run from the cron trigger.", "Retention deletes old backups."),
    );
    expect((await putPolicy(ns, { intervalHours: 24, keep: { count: 7, maxAgeDays: 30 } })).status).toBe(200);

    await runCron();
    const [started, ...others] = await backups(ns);
    expect(others).toEqual([]);
    const policy = await policyOf(ns);
    expect(policy.lastBackupId).toBe(started?.id);
    expect(Date.parse(policy.nextDueAt) - Date.parse(policy.lastStartedAt ?? "")).toBe(24 * HOUR);
    expect((await healthOf(ns))?.backupsStarted).toBe(1);

    const done = await waitFor(
      "the scheduled backup to finish",
      async () => {
        const b = (await backups(ns)).find((j) => j.id === started?.id);
        return b?.state === "running" ? undefined : b;
      },
      60_000,
      100,
    );
    expect(done.state, done.error ?? "").toBe("complete");
    expect(done.bytes).toBeGreaterThan(0);
    expect(done.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(await env.BACKUPS.head(`_backups/${ns}/${done.id}/manifest.json`)).not.toBeNull();

    // Not due again for 24 hours: the next run starts nothing.
    await runCron();
    expect((await backups(ns)).map((b) => b.id)).toEqual([done.id]);
    expect((await healthOf(ns))?.backupsStarted).toBe(0);
  });

  it("skips a due backup while a backup of the namespace runs, with the reason, and starts it later", async () => {
    const ns = freshNamespace("bp-busy");
    await writeIndexed(ns, docs("A namespace with a backup already running."));
    const queue = new HoldingQueue();
    // Started under the holding queue, it stays running until the test ends it.
    const manual = await apiWithEnv<Backup>(
      { ...env, INGEST_QUEUE: queue } as unknown as Env,
      "POST",
      `/v1/namespaces/${ns}/backups`,
    );
    expect(manual.status).toBe(202);
    expect((await putPolicy(ns, { intervalHours: 1, keep: { count: 2, maxAgeDays: 7 } })).status).toBe(200);

    await runCron(queue);
    expect((await backups(ns)).map((b) => b.id)).toEqual([manual.body.id]);
    const policy = await policyOf(ns);
    expect(policy.lastBackupId).toBeNull();
    expect(policy.lastSkipReason).toContain("already has a backup");
    expect(Date.parse(policy.nextDueAt)).toBeLessThanOrEqual(Date.now());

    await env.DB.prepare("UPDATE backup_jobs SET state = 'complete', finished_at = ?2 WHERE id = ?1")
      .bind(manual.body.id, Date.now())
      .run();
    await runCron(queue);
    const after = await policyOf(ns);
    expect(after.lastSkipReason).toBeNull();
    expect((await backups(ns)).map((b) => b.id)).toEqual([after.lastBackupId, manual.body.id]);
  });

  it("reports a scheduled backup that failed once, at error level and in the namespace's health", async () => {
    const ns = freshNamespace("bp-fail");
    await writeIndexed(ns, docs("A backup that fails."));
    expect((await putPolicy(ns, { intervalHours: 24, keep: { count: 2, maxAgeDays: 7 } })).status).toBe(200);
    const queue = new HoldingQueue();
    await runCron(queue);
    const { lastBackupId } = await policyOf(ns);
    expect(lastBackupId).not.toBeNull();
    // Its steps fail on the queue, as a lost backups bucket would make them.
    await env.DB.prepare(
      "UPDATE backup_jobs SET state = 'failed', error = 'step 0 (pages) failed: r2 unavailable', finished_at = ?2 WHERE id = ?1",
    )
      .bind(lastBackupId, Date.now())
      .run();

    const errors = vi.spyOn(console, "error");
    await runCron(queue);
    const lines = errors.mock.calls.map((c) => logLine(c[0]));
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "error",
        event: "backup.schedule_failed",
        namespace: ns,
        job: lastBackupId,
        error: "step 0 (pages) failed: r2 unavailable",
      }),
    );
    expect(await healthOf(ns)).toMatchObject({ backupsFailed: 1 });
    expect((await healthOf(ns))?.problems).toContain("backup_failed");
    await flushLocalMetrics(env.DB);
    const point = await env.DB.prepare(
      "SELECT blob4, double17 FROM local_metrics WHERE index1 = ?1 AND blob1 = 'health' ORDER BY id DESC",
    )
      .bind(ns)
      .first<{ blob4: string; double17: number }>();
    expect(point?.double17).toBe(1);
    expect(point?.blob4).toContain("backup_failed");

    // Reported once: the next run is quiet about it.
    errors.mockClear();
    await runCron(queue);
    const again = errors.mock.calls.map((c) => String(c[0])).filter((l) => l.includes(ns));
    expect(again).toEqual([]);
    expect(await healthOf(ns)).toMatchObject({ backupsFailed: 0 });
  });
});

describe("retention", () => {
  /** Backup rows and objects as backups of `ns` taken `ageMs` ago would leave them. */
  async function fakeBackups(ns: string, backups: { id: string; state: string; ageMs: number }[]) {
    const version = await api<Record<string, unknown>>("GET", `/v1/namespaces/${ns}/versions/v1`);
    expect(version.status).toBe(200);
    const spec = JSON.stringify({
      id: version.body.id,
      model: version.body.model,
      dimensions: version.body.dimensions,
      pooling: version.body.pooling,
      chunking: version.body.chunking,
      index: version.body.index,
    });
    const now = Date.now();
    for (const b of backups) {
      await env.DB.prepare(
        `INSERT INTO backup_jobs (id, kind, namespace, state, phase, page_size, version, created_at, updated_at, finished_at)
         VALUES (?1, 'backup', ?2, ?3, 'manifest', 100, ?4, ?5, ?5, ?5)`,
      )
        .bind(b.id, ns, b.state, spec, now - b.ageMs)
        .run();
      for (const name of ["documents-000000.ndjson", "chunks-000000.ndjson", "vectors-000000.ndjson"]) {
        await env.BACKUPS.put(`_backups/${ns}/${b.id}/${name}`, `{"of":"${b.id}"}\n`);
        await env.DB.prepare(
          `INSERT INTO backup_parts (job_id, name, step, kind, sha256, lines, bytes, from_cursor)
           VALUES (?1, ?2, 0, ?3, ?4, 1, 14, '')`,
        )
          .bind(b.id, name, name.split("-")[0], "0".repeat(64))
          .run();
      }
      if (b.state === "complete") await env.BACKUPS.put(`_backups/${ns}/${b.id}/manifest.json`, "{}");
    }
  }

  const objectsOf = async (ns: string, id: string) =>
    (await env.BACKUPS.list({ prefix: `_backups/${ns}/${id}/` })).objects.map((o) => o.key);

  it("keeps the newest `count` complete backups and deletes the others' objects and rows", async () => {
    const ns = freshNamespace("bp-count");
    await fakeBackups(ns, [
      { id: "20260101T000000Z-00000001", state: "complete", ageMs: 4 * HOUR },
      { id: "20260101T000000Z-00000002", state: "complete", ageMs: 3 * HOUR },
      { id: "20260101T000000Z-00000003", state: "complete", ageMs: 2 * HOUR },
      { id: "20260101T000000Z-00000004", state: "complete", ageMs: 1 * HOUR },
    ]);
    expect((await backups(ns)).map((b) => b.bytes)).toEqual([42, 42, 42, 42]);
    expect((await putPolicy(ns, { intervalHours: 24, keep: { count: 2, maxAgeDays: 30 } })).status).toBe(200);
    await notDue(ns);

    await runCron();
    expect((await backups(ns)).map((b) => b.id)).toEqual([
      "20260101T000000Z-00000004",
      "20260101T000000Z-00000003",
    ]);
    expect(await objectsOf(ns, "20260101T000000Z-00000001")).toEqual([]);
    expect(await objectsOf(ns, "20260101T000000Z-00000002")).toEqual([]);
    expect(await objectsOf(ns, "20260101T000000Z-00000003")).toHaveLength(4);
    const parts = await env.DB.prepare("SELECT COUNT(*) AS n FROM backup_parts WHERE job_id = ?1")
      .bind("20260101T000000Z-00000001")
      .first<{ n: number }>();
    expect(parts?.n).toBe(0);
  });

  it("deletes backups older than maxAgeDays, failed ones too, but never the newest complete one", async () => {
    const ns = freshNamespace("bp-age");
    await fakeBackups(ns, [
      { id: "20260101T000000Z-0000000a", state: "complete", ageMs: 5 * DAY },
      { id: "20260101T000000Z-0000000b", state: "failed", ageMs: 4 * DAY },
      { id: "20260101T000000Z-0000000c", state: "complete", ageMs: 3 * DAY },
      { id: "20260101T000000Z-0000000d", state: "failed", ageMs: HOUR },
    ]);
    expect((await putPolicy(ns, { intervalHours: 24, keep: { count: 10, maxAgeDays: 2 } })).status).toBe(200);
    await notDue(ns);

    await runCron();
    // c is past the age as well, but it is the newest complete backup: the one left to restore.
    expect((await backups(ns)).map((b) => [b.id, b.state])).toEqual([
      ["20260101T000000Z-0000000d", "failed"],
      ["20260101T000000Z-0000000c", "complete"],
    ]);
    expect(await objectsOf(ns, "20260101T000000Z-0000000a")).toEqual([]);
    expect(await objectsOf(ns, "20260101T000000Z-0000000b")).toEqual([]);
    expect(await objectsOf(ns, "20260101T000000Z-0000000c")).toHaveLength(4);
  });

  it("deletes a pruned backup's objects page by page when they are more than one R2 page", async () => {
    const ns = freshNamespace("bp-pages");
    await fakeBackups(ns, [
      { id: "20260101T000000Z-000000f1", state: "complete", ageMs: 2 * HOUR },
      { id: "20260101T000000Z-000000f2", state: "complete", ageMs: HOUR },
    ]);
    // 1,005 more objects: R2 lists and deletes at most 1,000 keys per call.
    const prefix = `_backups/${ns}/20260101T000000Z-000000f1/`;
    for (let i = 0; i < 1005; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, 1005 - i) }, (_, j) =>
          env.BACKUPS.put(`${prefix}extra-${String(i + j).padStart(4, "0")}`, "x"),
        ),
      );
    }
    expect((await env.BACKUPS.list({ prefix, limit: 1000 })).truncated).toBe(true);
    expect((await putPolicy(ns, { intervalHours: 24, keep: { count: 1, maxAgeDays: 30 } })).status).toBe(200);
    await notDue(ns);

    await runCron();
    expect(await objectsOf(ns, "20260101T000000Z-000000f1")).toEqual([]);
    expect((await backups(ns)).map((b) => b.id)).toEqual(["20260101T000000Z-000000f2"]);
  });

  it("prunes nothing without a policy, nor after the policy is deleted", async () => {
    const ns = freshNamespace("bp-none");
    await fakeBackups(ns, [
      { id: "20260101T000000Z-000000e1", state: "complete", ageMs: 10 * DAY },
      { id: "20260101T000000Z-000000e2", state: "complete", ageMs: 9 * DAY },
    ]);
    await runCron();
    expect(await backups(ns)).toHaveLength(2);
    expect((await putPolicy(ns, { intervalHours: 24, keep: { count: 1, maxAgeDays: 1 } })).status).toBe(200);
    expect((await api("DELETE", `/v1/namespaces/${ns}/backup-policy`)).status).toBe(200);
    await runCron();
    expect(await backups(ns)).toHaveLength(2);
  });
});
