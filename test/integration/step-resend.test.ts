// Lost steps of long-running jobs: a move, a backup and a restore whose next step's send failed
// (its retries lost too) complete once the scheduled handler re-sends the step of the stalled
// job; a re-sent step that meets its late original applies once; a job whose step keeps stalling
// is failed with the reason after MAX_STEP_RESENDS re-sends. Also: deleting a namespace stops its
// scheduled backups (those taken stay), and a failed scheduled backup is a health finding for a
// namespace the health check does not cover.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { markForErasure } from "../../src/erasure/task";
import { stepJobKinds } from "../../src/jobs/kinds";
import { MAX_STEP_RESENDS, resendStalledSteps, STEP_STALL_MS } from "../../src/jobs/steps";
import { createLogger } from "../../src/observe/logger";
import worker from "../../workers/index";
import { api, apiWithEnv, countRows, freshNamespace, waitFor, waitIndexed } from "../support";
import { deliverMessage } from "../support/queue";

interface Step {
  kind: string;
  job: string;
  step: number;
}

interface JobBody {
  id: string;
  state: "running" | "complete" | "failed";
  phase: string;
  error: string | null;
  progress: { documents: number };
}

/** A queue that keeps what is sent to it; `failNext` makes its next send fail, once. */
class HeldQueue {
  held: { body: unknown; delaySeconds: number }[] = [];
  failNext = false;
  async send(body: unknown, options?: QueueSendOptions): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error("Queue send failed: internal error");
    }
    this.held.push({ body, delaySeconds: options?.delaySeconds ?? 0 });
  }
  async sendBatch(messages: Iterable<MessageSendRequest>): Promise<void> {
    for (const m of messages) await this.send(m.body, { delaySeconds: m.delaySeconds ?? 0 });
  }
  /** The steps of job `id` sent since the last call (what else was sent stays held). */
  steps(id: string): Step[] {
    const mine = this.held.filter((m) => (m.body as Partial<Step>).job === id);
    this.held = this.held.filter((m) => !mine.includes(m));
    return mine.map((m) => m.body as Step);
  }
}

const withQueue = (queue: HeldQueue, vars: Record<string, string> = {}) =>
  ({ ...env, ...vars, INGEST_QUEUE: queue }) as unknown as Env;

/** One run of the scheduled handler with `queue` as the ingest queue. */
async function runCron(queue: HeldQueue): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), withQueue(queue), ctx);
  await waitOnExecutionContext(ctx);
}

/** Makes the job look stalled: no sign of life for longer than the stall period. */
async function stall(table: "move_jobs" | "backup_jobs" | "erasure_jobs", id: string): Promise<void> {
  const past = Date.now() - STEP_STALL_MS - 60_000;
  const wait = table === "move_jobs" ? ", wait_until = MIN(wait_until, ?2)" : "";
  await env.DB.prepare(
    `UPDATE ${table} SET updated_at = MIN(updated_at, ?2), resent_at = MIN(resent_at, ?2)${wait} WHERE id = ?1`,
  )
    .bind(id, past)
    .run();
}

/** Delivers the held steps of job `id` (and the steps they send) until none is left. */
async function drain(queue: HeldQueue, id: string, vars: Record<string, string> = {}): Promise<void> {
  for (let n = 0; ; n++) {
    if (n > 500) throw new Error(`job ${id} does not end`);
    const at = queue.held.findIndex((m) => (m.body as Partial<Step>).job === id);
    if (at < 0) return;
    const [next] = queue.held.splice(at, 1);
    if (!next) return;
    // A wait (a move's settle, a restore's poll of the index) re-sends its step with a delay.
    if (next.delaySeconds > 0) await new Promise((r) => setTimeout(r, 100));
    const result = await deliverMessage(next.body, { env: withQueue(queue, vars) });
    expect(result.retryMessages, JSON.stringify(next.body)).toHaveLength(0);
  }
}

/** An erasure of one document whose first step was lost (nothing ever runs it), stalled. */
async function stalledErasure(ns: string, id: string): Promise<void> {
  const now = Date.now();
  await env.DB.prepare(
    `INSERT OR IGNORE INTO documents (namespace, id, status, content_type, metadata, chunk_count, created_at, updated_at)
     VALUES (?1, 'a', 'indexed', 'text/plain', '{}', 0, ?2, ?2)`,
  )
    .bind(ns, now)
    .run();
  const matched = await markForErasure(env.DB, ns, null, now);
  await env.DB.prepare(
    `INSERT INTO erasure_jobs (id, namespace, filter, state, matched, started_at, created_by, created_at, updated_at)
     VALUES (?1, ?2, NULL, 'running', ?3, ?4, 'test', ?4, ?4)`,
  )
    .bind(id, ns, matched, now)
    .run();
  await stall("erasure_jobs", id);
}

async function ingest(ns: string, n: number): Promise<void> {
  const documents = Array.from({ length: n }, (_, i) => ({
    id: `doc-${i}`,
    title: `Document ${i}`,
    text: `Otters number ${i} crack shellfish open with stones while floating.`,
  }));
  expect((await api("POST", `/v1/namespaces/${ns}/documents`, { documents })).status).toBe(202);
  await waitIndexed(ns, n, 30_000);
}

describe("a lost next step", () => {
  it("does not stall a move: the scheduled handler re-sends its step and it completes", async () => {
    const ns = freshNamespace("resend-move");
    await ingest(ns, 3);
    const queue = new HeldQueue();
    const started = await apiWithEnv<JobBody>(withQueue(queue), "POST", `/v1/admin/namespaces/${ns}/move`, {
      to: "DATA_DB_1",
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const id = started.body.id;
    const [first] = queue.steps(id);
    // Step 0 applies; sending step 1 fails, and its retries never arrive.
    queue.failNext = true;
    const broken = await deliverMessage(first, { env: withQueue(queue) });
    expect(broken.retryMessages).toHaveLength(1);
    expect(queue.steps(id)).toEqual([]);
    const stuck = await api<JobBody>("GET", `/v1/admin/namespaces/${ns}/move/${id}`);
    expect(stuck.body).toMatchObject({ state: "running", phase: "settle" });

    await stall("move_jobs", id);
    await runCron(queue);
    const resent = queue.held.filter((m) => (m.body as Step).job === id).map((m) => m.body);
    expect(resent).toEqual([{ kind: "move.step", job: id, step: 1 }]);
    await drain(queue, id);
    const done = await api<JobBody>("GET", `/v1/admin/namespaces/${ns}/move/${id}`);
    expect(done.body.state, done.body.error ?? "").toBe("complete");
    expect(await countRows("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1", ns)).toBe(0);
    const moved = await env.DATA_DB_1.prepare(
      "SELECT COUNT(*) AS n FROM documents WHERE namespace = ?1 AND status = 'indexed'",
    )
      .bind(ns)
      .first<{ n: number }>();
    expect(moved?.n).toBe(3);
  });

  it("does not stall a backup: its step is re-sent, its parts checked, and it completes", async () => {
    const ns = freshNamespace("resend-backup");
    await ingest(ns, 3);
    const queue = new HeldQueue();
    const vars = { BACKUP_PAGE_DOCUMENTS: "1" };
    const started = await apiWithEnv<JobBody>(withQueue(queue, vars), "POST", `/v1/namespaces/${ns}/backups`);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const id = started.body.id;
    const [first] = queue.steps(id);
    queue.failNext = true;
    await deliverMessage(first, { env: withQueue(queue, vars) });
    expect(queue.steps(id)).toEqual([]);
    expect((await api<JobBody>("GET", `/v1/namespaces/${ns}/backups/${id}`)).body.state).toBe("running");

    await stall("backup_jobs", id);
    await runCron(queue);
    // Step 0 again: its delivery finds it applied with its successor never sent, and sends it.
    expect(queue.held.map((m) => m.body)).toContainEqual({ kind: "backup.step", job: id, step: 0 });
    await drain(queue, id, vars);
    const done = await api<JobBody>("GET", `/v1/namespaces/${ns}/backups/${id}`);
    expect(done.body.state, done.body.error ?? "").toBe("complete");
    expect(done.body.progress.documents).toBe(3);
    expect(await env.BACKUPS.head(`_backups/${ns}/${id}/manifest.json`)).not.toBeNull();
  });

  it("does not stall a restore: its step is re-sent and the namespace is restored", async () => {
    const source = freshNamespace("resend-src");
    await ingest(source, 3);
    const taken = await api<JobBody>("POST", `/v1/namespaces/${source}/backups`, {});
    expect(taken.status).toBe(202);
    await waitFor("the backup", async () => {
      const j = await api<JobBody>("GET", `/v1/namespaces/${source}/backups/${taken.body.id}`);
      return j.body.state === "complete";
    });
    const target = freshNamespace("resend-restore");
    const queue = new HeldQueue();
    const started = await apiWithEnv<JobBody>(withQueue(queue), "POST", `/v1/namespaces/${target}/restore`, {
      from: { namespace: source, backupId: taken.body.id },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const id = started.body.id;
    const [first] = queue.steps(id);
    queue.failNext = true;
    await deliverMessage(first, { env: withQueue(queue) });
    expect(queue.steps(id)).toEqual([]);

    await stall("backup_jobs", id);
    await runCron(queue);
    expect(queue.held.map((m) => m.body)).toContainEqual({ kind: "restore.step", job: id, step: 0 });
    await drain(queue, id);
    const done = await api<JobBody>("GET", `/v1/namespaces/${target}/restore/${id}`);
    expect(done.body.state, done.body.error ?? "").toBe("complete");
    expect(done.body.progress.documents).toBe(3);
    const stats = await api<{ documents: number }>("GET", `/v1/namespaces/${target}`);
    expect(stats.body.documents).toBe(3);
  });

  it("applies a re-sent step once when its late original arrives too", async () => {
    const ns = freshNamespace("resend-dup");
    await ingest(ns, 3);
    const queue = new HeldQueue();
    const vars = { BACKUP_PAGE_DOCUMENTS: "1" };
    const started = await apiWithEnv<JobBody>(withQueue(queue, vars), "POST", `/v1/namespaces/${ns}/backups`);
    const id = started.body.id;
    await deliverMessage(queue.steps(id)[0], { env: withQueue(queue, vars) });
    // Step 1 was sent but is held up somewhere: the job stalls.
    const [late] = queue.steps(id);
    expect(late).toEqual({ kind: "backup.step", job: id, step: 1 });

    await stall("backup_jobs", id);
    await runCron(queue);
    const [resent] = queue.steps(id);
    expect(resent).toEqual(late);
    // Both arrive at once: one applies the step, the other finds it applied.
    await Promise.all([resent, late].map((body) => deliverMessage(body, { env: withQueue(queue, vars) })));
    await drain(queue, id, vars);
    const done = await api<JobBody>("GET", `/v1/namespaces/${ns}/backups/${id}`);
    expect(done.body.state, done.body.error ?? "").toBe("complete");
    expect(done.body.progress.documents).toBe(3);
    const manifest = (await (await env.BACKUPS.get(`_backups/${ns}/${id}/manifest.json`))?.json()) as {
      counts: { documents: number };
      files: { kind: string; lines: number }[];
    };
    expect(manifest.counts.documents).toBe(3);
    const documentLines = manifest.files
      .filter((f) => f.kind === "documents")
      .reduce((n, f) => n + f.lines, 0);
    expect(documentLines).toBe(3);
  });

  it("re-sends at most the run's limit of jobs, the longest stalled first, and the rest next run", async () => {
    const ns = freshNamespace("resend-bound");
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    for (const id of ids) await stalledErasure(ns, id);
    // The third stalled longest.
    await env.DB.prepare("UPDATE erasure_jobs SET updated_at = updated_at - 1000 WHERE id = ?1")
      .bind(ids[2])
      .run();
    const queue = new HeldQueue();
    const deps = { db: env.DB, queue: queue as unknown as Queue, logger: createLogger("error") };
    const kinds = stepJobKinds({ ...deps, versions: {} as never });
    const first = await resendStalledSteps(deps, kinds, 2);
    expect(first.resent.map((j) => j.id)).toEqual([ids[2], expect.any(String)]);
    expect(queue.held).toHaveLength(2);
    const second = await resendStalledSteps(deps, kinds, 2);
    expect(second.resent.map((j) => j.id)).toEqual(
      ids.filter((id) => !first.resent.some((j) => j.id === id)),
    );
  });

  it(`fails a job whose step stalls after ${MAX_STEP_RESENDS} re-sends, with the reason`, async () => {
    const ns = freshNamespace("resend-stuck");
    const id = crypto.randomUUID();
    await stalledErasure(ns, id);
    const queue = new HeldQueue();
    for (let n = 1; n <= MAX_STEP_RESENDS; n++) {
      await stall("erasure_jobs", id);
      await runCron(queue);
      expect(queue.steps(id), `re-send ${n}`).toEqual([{ kind: "erasure.step", job: id, step: 0 }]);
    }
    // Not re-sent again within the stall period.
    await runCron(queue);
    expect(queue.steps(id)).toEqual([]);
    await stall("erasure_jobs", id);
    await runCron(queue);
    expect(queue.steps(id)).toEqual([]);
    const job = await api<{ state: string; error: string }>("GET", `/v1/namespaces/${ns}/erasures/${id}`);
    expect(job.body.state).toBe("failed");
    expect(job.body.error).toContain(`sent again ${MAX_STEP_RESENDS} times`);
  });
});

describe("scheduled backups of a deleted namespace", () => {
  it("stop when the namespace is deleted; the backups taken stay", async () => {
    const ns = freshNamespace("policy-gone");
    await ingest(ns, 1);
    const policy = { intervalHours: 1, keep: { count: 3, maxAgeDays: 30 } };
    expect((await api("PUT", `/v1/namespaces/${ns}/backup-policy`, policy)).status).toBe(200);
    const queue = new HeldQueue();
    await runCron(queue);
    const [scheduled] = await env.DB.prepare("SELECT id FROM backup_jobs WHERE namespace = ?1")
      .bind(ns)
      .all<{ id: string }>()
      .then((r) => r.results);
    expect(scheduled).toBeDefined();
    await drain(queue, scheduled?.id ?? "");

    expect((await api("DELETE", `/v1/namespaces/${ns}`)).status).toBe(202);
    // Due again: a running schedule would start another backup now.
    await env.DB.prepare("UPDATE backup_policies SET next_due_at = 0 WHERE namespace = ?1").bind(ns).run();
    await runCron(queue);
    expect(await countRows("SELECT COUNT(*) AS n FROM backup_jobs WHERE namespace = ?1", ns)).toBe(1);
    expect((await api("GET", `/v1/namespaces/${ns}/backup-policy`)).status).toBe(404);
    const backups = await api<{ jobs: { id: string }[] }>("GET", `/v1/namespaces/${ns}/backups`);
    expect(backups.body.jobs.map((j) => j.id)).toEqual([scheduled?.id]);
  });
});

describe("backup_failed", () => {
  it("is found for a namespace with a policy that the health check does not cover", async () => {
    // No documents: the health check's namespaces are those with documents.
    const ns = freshNamespace("policy-only");
    const policy = { intervalHours: 24, keep: { count: 3, maxAgeDays: 30 } };
    expect((await api("PUT", `/v1/namespaces/${ns}/backup-policy`, policy)).status).toBe(200);
    const queue = new HeldQueue();
    await runCron(queue);
    const started = await env.DB.prepare(
      "SELECT last_backup_id AS id FROM backup_policies WHERE namespace = ?1",
    )
      .bind(ns)
      .first<{ id: string | null }>();
    expect(started?.id).toBeTruthy();
    await env.DB.prepare("UPDATE backup_jobs SET state = 'failed', error = 'R2 unavailable' WHERE id = ?1")
      .bind(started?.id)
      .run();
    await runCron(queue);
    const stats = await api<{ health: { state: string; problems: string[]; backupsFailed: number } | null }>(
      "GET",
      `/v1/namespaces/${ns}`,
    );
    expect(stats.body.health).toMatchObject({ state: "warn", problems: ["backup_failed"], backupsFailed: 1 });
  });
});
