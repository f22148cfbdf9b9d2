// Backup and restore jobs in D1 (migrations/0006_backup_jobs.sql): creation under the rule of one
// running job per namespace, the compare-and-set on `step` that lets each step apply once however
// often its message is delivered, failure and completion, and the view the API answers with.
import { z } from "zod";
import { AppError } from "../errors";
import { d1 } from "../store/d1";
import { type VersionSpec, VersionSpecSchema } from "../versions/model";

export type JobKind = "backup" | "restore";
export type JobState = "running" | "complete" | "failed";
/** backup: pages, manifest. restore: verify, write, settle. */
export type JobPhase = "pages" | "manifest" | "verify" | "write" | "settle";

export interface Job {
  id: string;
  kind: JobKind;
  namespace: string;
  state: JobState;
  phase: JobPhase;
  step: number;
  sentStep: number;
  cursor: string;
  pageSize: number;
  version: VersionSpec;
  from: { namespace: string; backupId: string } | null;
  manifestSha256: string | null;
  documents: number;
  chunks: number;
  vectors: number;
  verifiedParts: number;
  totalDocuments: number | null;
  totalChunks: number | null;
  totalParts: number | null;
  lastMutationId: string | null;
  lastMutationAt: number | null;
  probeVectorId: string | null;
  error: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

/**
 * A running job that has not advanced (nor had its step re-sent, src/jobs/steps.ts) for this long
 * is taken as lost and marked failed when read, so it cannot hold its namespace for ever should the
 * scheduled handler not run. Far above a step's retries (about a minute), the restore's wait for
 * the index (15 minutes) and the scheduled re-send's stall period (STEP_STALL_MS).
 */
export const JOB_STALL_MS = 60 * 60 * 1000;

const Row = z.object({
  id: z.string(),
  kind: z.enum(["backup", "restore"]),
  namespace: z.string(),
  state: z.enum(["running", "complete", "failed"]),
  phase: z.enum(["pages", "manifest", "verify", "write", "settle"]),
  step: z.number(),
  sent_step: z.number(),
  cursor: z.string(),
  page_size: z.number(),
  version: z.string(),
  source_namespace: z.string().nullable(),
  backup_id: z.string().nullable(),
  manifest_sha256: z.string().nullable(),
  documents: z.number(),
  chunks: z.number(),
  vectors: z.number(),
  verified_parts: z.number(),
  total_documents: z.number().nullable(),
  total_chunks: z.number().nullable(),
  total_parts: z.number().nullable(),
  last_mutation_id: z.string().nullable(),
  last_mutation_at: z.number().nullable(),
  probe_vector_id: z.string().nullable(),
  error: z.string().nullable(),
  created_at: z.number(),
  updated_at: z.number(),
  finished_at: z.number().nullable(),
});

function toJob(raw: unknown): Job {
  const r = Row.parse(raw);
  return {
    id: r.id,
    kind: r.kind,
    namespace: r.namespace,
    state: r.state,
    phase: r.phase,
    step: r.step,
    sentStep: r.sent_step,
    cursor: r.cursor,
    pageSize: r.page_size,
    version: VersionSpecSchema.parse(JSON.parse(r.version)),
    from:
      r.source_namespace !== null && r.backup_id !== null
        ? { namespace: r.source_namespace, backupId: r.backup_id }
        : null,
    manifestSha256: r.manifest_sha256,
    documents: r.documents,
    chunks: r.chunks,
    vectors: r.vectors,
    verifiedParts: r.verified_parts,
    totalDocuments: r.total_documents,
    totalChunks: r.total_chunks,
    totalParts: r.total_parts,
    lastMutationId: r.last_mutation_id,
    lastMutationAt: r.last_mutation_at,
    probeVectorId: r.probe_vector_id,
    error: r.error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

export interface NewJob {
  id: string;
  kind: JobKind;
  namespace: string;
  phase: JobPhase;
  pageSize: number;
  version: VersionSpec;
  from?: { namespace: string; backupId: string };
  manifestSha256?: string;
  totalDocuments?: number;
  totalChunks?: number;
  totalParts?: number;
}

/** What a step adds to its job when it applies. */
export interface Advance {
  phase: JobPhase;
  cursor: string;
  documents?: number;
  chunks?: number;
  vectors?: number;
  verifiedParts?: number;
  lastMutationId?: string | null;
  lastMutationAt?: number | null;
  probeVectorId?: string | null;
}

/**
 * SQL true only while job ?a is running at step ?b: statements that must apply once per step
 * carry it, and run in the transaction that advances the job, so a repeated step changes nothing.
 */
export const stepGuard = (a: number, b: number) =>
  `EXISTS (SELECT 1 FROM backup_jobs WHERE id = ?${a} AND step = ?${b} AND state = 'running')`;

export class JobStore {
  constructor(private readonly db: D1Database) {}

  /** Marks the namespace's lost jobs failed (see JOB_STALL_MS). */
  private expireStalled(namespace: string, now: number): D1PreparedStatement {
    return this.db
      .prepare(
        `UPDATE backup_jobs SET state = 'failed', finished_at = ?2, updated_at = ?2,
           error = 'no step completed for ' || ?3 || ' minutes: the job was lost (see the dead letters)'
         WHERE namespace = ?1 AND state = 'running' AND MAX(updated_at, resent_at) < ?2 - ?4`,
      )
      .bind(namespace, now, Math.round(JOB_STALL_MS / 60_000), JOB_STALL_MS);
  }

  async get(namespace: string, id: string, now = Date.now()): Promise<Job | null> {
    const [, found] = await d1("read backup job", () =>
      this.db.batch([
        this.expireStalled(namespace, now),
        this.db.prepare("SELECT * FROM backup_jobs WHERE namespace = ?1 AND id = ?2").bind(namespace, id),
      ]),
    );
    const row = found?.results?.[0];
    return row === undefined ? null : toJob(row);
  }

  /** A job by id alone: for the queue consumer, whose message names the job. */
  async byId(id: string): Promise<Job | null> {
    const row = await d1("read backup job", () =>
      this.db.prepare("SELECT * FROM backup_jobs WHERE id = ?1").bind(id).first(),
    );
    return row === null ? null : toJob(row);
  }

  /** The namespace's jobs of a kind, newest first. */
  async list(namespace: string, kind: JobKind, limit: number, now = Date.now()): Promise<Job[]> {
    const [, found] = await d1("list backup jobs", () =>
      this.db.batch([
        this.expireStalled(namespace, now),
        this.db
          .prepare(
            "SELECT * FROM backup_jobs WHERE namespace = ?1 AND kind = ?2 ORDER BY created_at DESC, id DESC LIMIT ?3",
          )
          .bind(namespace, kind, limit),
      ]),
    );
    return (found?.results ?? []).map(toJob);
  }

  /**
   * Inserts the job unless its namespace has a running one (409, naming it). One statement, so two
   * concurrent starts cannot both pass the check; the partial unique index backs it up.
   */
  async create(job: NewJob, now = Date.now()): Promise<Job> {
    const [, inserted, running] = await d1("create backup job", () =>
      this.db.batch([
        this.expireStalled(job.namespace, now),
        this.db
          .prepare(
            `INSERT INTO backup_jobs (id, kind, namespace, state, phase, step, sent_step, cursor, page_size, version,
               source_namespace, backup_id, manifest_sha256, total_documents, total_chunks, total_parts,
               created_at, updated_at)
             SELECT ?1, ?2, ?3, 'running', ?4, 0, 0, '', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13
             WHERE NOT EXISTS (SELECT 1 FROM backup_jobs WHERE namespace = ?3 AND state = 'running')`,
          )
          .bind(
            job.id,
            job.kind,
            job.namespace,
            job.phase,
            job.pageSize,
            JSON.stringify(job.version),
            job.from?.namespace ?? null,
            job.from?.backupId ?? null,
            job.manifestSha256 ?? null,
            job.totalDocuments ?? null,
            job.totalChunks ?? null,
            job.totalParts ?? null,
            now,
          ),
        this.db
          .prepare("SELECT * FROM backup_jobs WHERE namespace = ?1 AND state = 'running'")
          .bind(job.namespace),
      ]),
    );
    const row = running?.results?.[0];
    const current = row === undefined ? null : toJob(row);
    if ((inserted?.meta.changes ?? 0) === 0 || current === null || current.id !== job.id) {
      const what = current ? `a ${current.kind} (${current.id})` : "a backup or restore";
      throw new AppError(
        "conflict",
        `namespace "${job.namespace}" already has ${what} running; wait for it`,
        {
          extra: current ? { job: current.id, kind: current.kind } : undefined,
        },
      );
    }
    return current;
  }

  /** The statement that applies step `step` of the job (last in its transaction). */
  advance(job: Job, step: number, a: Advance, now = Date.now()): D1PreparedStatement {
    return this.db
      .prepare(
        `UPDATE backup_jobs SET step = step + 1, phase = ?3, cursor = ?4, documents = documents + ?5,
           chunks = chunks + ?6, vectors = vectors + ?7, verified_parts = verified_parts + ?8,
           last_mutation_id = COALESCE(?9, last_mutation_id), last_mutation_at = COALESCE(?10, last_mutation_at),
           probe_vector_id = COALESCE(?12, probe_vector_id), updated_at = ?11
         WHERE id = ?1 AND step = ?2 AND state = 'running'`,
      )
      .bind(
        job.id,
        step,
        a.phase,
        a.cursor,
        a.documents ?? 0,
        a.chunks ?? 0,
        a.vectors ?? 0,
        a.verifiedParts ?? 0,
        a.lastMutationId ?? null,
        a.lastMutationAt ?? null,
        now,
        a.probeVectorId ?? null,
      );
  }

  /** Applies a step that writes nothing else; false when another delivery applied it first. */
  async apply(job: Job, step: number, a: Advance): Promise<boolean> {
    const result = await d1("advance backup job", () => this.advance(job, step, a).run());
    return result.meta.changes === 1;
  }

  /** Records that the message of `step` has been sent. */
  async sent(id: string, step: number): Promise<void> {
    await d1("record backup step sent", () =>
      this.db
        .prepare("UPDATE backup_jobs SET sent_step = MAX(sent_step, ?2) WHERE id = ?1")
        .bind(id, step)
        .run(),
    );
  }

  async complete(job: Job, step: number, now = Date.now()): Promise<boolean> {
    const result = await d1("complete backup job", () =>
      this.db
        .prepare(
          `UPDATE backup_jobs SET state = 'complete', step = step + 1, updated_at = ?3, finished_at = ?3
           WHERE id = ?1 AND step = ?2 AND state = 'running'`,
        )
        .bind(job.id, step, now)
        .run(),
    );
    return result.meta.changes === 1;
  }

  /** Marks a running job failed; false when it had already finished. */
  async fail(id: string, reason: string, now = Date.now()): Promise<boolean> {
    const result = await d1("fail backup job", () =>
      this.db
        .prepare(
          `UPDATE backup_jobs SET state = 'failed', error = ?2, updated_at = ?3, finished_at = ?3
           WHERE id = ?1 AND state = 'running'`,
        )
        .bind(id, reason.slice(0, 2000), now)
        .run(),
    );
    return result.meta.changes === 1;
  }
}

/** The job as the API shows it. */
export function jobView(job: Job) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: job.id,
    kind: job.kind,
    namespace: job.namespace,
    state: job.state,
    phase: job.phase,
    progress: {
      steps: job.step,
      documents: job.documents,
      chunks: job.chunks,
      vectors: job.vectors,
      expected:
        job.totalDocuments === null ? null : { documents: job.totalDocuments, chunks: job.totalChunks ?? 0 },
      parts: job.kind === "restore" ? { verified: job.verifiedParts, total: job.totalParts ?? 0 } : null,
    },
    error: job.error,
    version: job.version,
    from: job.from,
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
    finishedAt: iso(job.finishedAt),
  };
}
export type JobView = ReturnType<typeof jobView>;
