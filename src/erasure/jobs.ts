// Erasure jobs in the control database (migrations/0017_erasure.sql) and their queue messages. A
// message names the job and the step it runs; a step applies only while the job is at it, and
// its progress figures are counted afresh from D1 each step, so a redelivered message changes
// nothing twice and counts nothing twice.
import { z } from "zod";
import { AppError } from "../errors";
import { type D1Like, d1 } from "../store/d1";
import type { MetadataFilter } from "../vectors/vector-index";

export type ErasureState = "running" | "complete" | "failed";

const JobRow = z.object({
  id: z.string(),
  namespace: z.string(),
  filter: z.string().nullable(),
  state: z.enum(["running", "complete", "failed"]),
  step: z.number(),
  matched: z.number(),
  deleted: z.number(),
  started_at: z.number(),
  error: z.string().nullable(),
  created_by: z.string(),
  created_at: z.number(),
  updated_at: z.number(),
});

export interface ErasureJob {
  id: string;
  namespace: string;
  /** The validated filter; null: every document of the namespace. */
  filter: MetadataFilter | null;
  state: ErasureState;
  step: number;
  /** Documents the snapshot holds: the live documents that matched when the erasure started. */
  matched: number;
  /** Of those, how many are deleted. */
  deleted: number;
  /** The snapshot's time (ms since the epoch): matching documents were marked expired at it. */
  startedAt: number;
  error: string | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

function toJob(row: unknown): ErasureJob {
  const r = JobRow.parse(row);
  return {
    id: r.id,
    namespace: r.namespace,
    filter: r.filter === null ? null : (JSON.parse(r.filter) as MetadataFilter),
    state: r.state,
    step: r.step,
    matched: r.matched,
    deleted: r.deleted,
    startedAt: r.started_at,
    error: r.error,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export const ErasureTaskSchema = z.object({
  kind: z.literal("erasure.step"),
  job: z.string().uuid(),
  step: z.number().int().min(0),
});

export function isErasureTask(body: unknown): boolean {
  return typeof body === "object" && body !== null && "kind" in body && body.kind === "erasure.step";
}

export class ErasureJobStore {
  constructor(private readonly db: D1Like) {}

  async create(job: {
    id: string;
    namespace: string;
    filter: MetadataFilter | null;
    matched: number;
    startedAt: number;
    createdBy: string;
  }): Promise<ErasureJob> {
    await d1("create erasure job", () =>
      this.db
        .prepare(
          `INSERT INTO erasure_jobs (id, namespace, filter, state, matched, started_at, created_by, created_at, updated_at)
           VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?5, ?5)`,
        )
        .bind(
          job.id,
          job.namespace,
          job.filter === null ? null : JSON.stringify(job.filter),
          job.matched,
          job.startedAt,
          job.createdBy,
        )
        .run(),
    );
    const created = await this.byId(job.id);
    if (!created) throw new AppError("unavailable", "the erasure job was not recorded", { retryable: true });
    return created;
  }

  async byId(id: string): Promise<ErasureJob | null> {
    const row = await d1("read erasure job", () =>
      this.db.prepare("SELECT * FROM erasure_jobs WHERE id = ?1").bind(id).first(),
    );
    return row === null ? null : toJob(row);
  }

  async get(namespace: string, id: string): Promise<ErasureJob | null> {
    const job = await this.byId(id);
    return job?.namespace === namespace ? job : null;
  }

  /** When each of the namespace's erasures started, oldest first (failed ones too: they marked). */
  async startTimes(namespace: string): Promise<number[]> {
    const { results } = await d1("list erasures", () =>
      this.db
        .prepare("SELECT started_at FROM erasure_jobs WHERE namespace = ?1 ORDER BY started_at")
        .bind(namespace)
        .all<{ started_at: number }>(),
    );
    return results.map((r) => r.started_at);
  }

  /** Applies step `step` (false: another delivery did, or the job ended). */
  async advance(job: ErasureJob, step: number, deleted: number, done: boolean, now = Date.now()) {
    const result = await d1("advance erasure job", () =>
      this.db
        .prepare(
          `UPDATE erasure_jobs SET step = step + 1, deleted = ?3, updated_at = ?4,
             state = CASE WHEN ?5 THEN 'complete' ELSE state END
           WHERE id = ?1 AND step = ?2 AND state = 'running'`,
        )
        .bind(job.id, step, deleted, now, done ? 1 : 0)
        .run(),
    );
    return (result.meta.changes ?? 0) === 1;
  }

  async fail(id: string, error: string, now = Date.now()): Promise<void> {
    await d1("fail erasure job", () =>
      this.db
        .prepare(
          "UPDATE erasure_jobs SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1 AND state = 'running'",
        )
        .bind(id, error.slice(0, 1000), now)
        .run(),
    );
  }
}
