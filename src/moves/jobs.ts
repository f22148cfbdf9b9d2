// Move jobs in the control database (migrations/0011_move_jobs.sql) and their queue messages. A
// message names the job and the step it runs; the job's row says what that step does, and a step
// applies only while the job is at it, so a redelivered message changes nothing twice.
import { z } from "zod";
import { AppError } from "../errors";
import { type D1Like, d1 } from "../store/d1";

export const MOVE_PHASES = [
  "prepare",
  "settle",
  "copy",
  "verify",
  "switch",
  "drain",
  "cleanup",
  "done",
] as const;
export type MovePhase = (typeof MOVE_PHASES)[number];

const JobRow = z.object({
  id: z.string(),
  namespace: z.string(),
  source: z.string(),
  target: z.string(),
  state: z.enum(["running", "complete", "failed"]),
  phase: z.enum(MOVE_PHASES),
  step: z.number(),
  cursor: z.string(),
  copied: z.number(),
  repaired: z.number(),
  removed: z.number(),
  wait_until: z.number(),
  error: z.string().nullable(),
  created_at: z.number(),
  updated_at: z.number(),
});

export interface MoveJob {
  id: string;
  namespace: string;
  source: string;
  target: string;
  state: "running" | "complete" | "failed";
  phase: MovePhase;
  step: number;
  cursor: string;
  /** Documents copied, then re-copied by verification, then removed from the source. */
  copied: number;
  repaired: number;
  removed: number;
  /** When a waiting phase (settle, drain) may go on (ms since the epoch). */
  waitUntil: number;
  error: string | null;
  createdAt: number;
  updatedAt: number;
}

function toJob(row: unknown): MoveJob {
  const r = JobRow.parse(row);
  return {
    id: r.id,
    namespace: r.namespace,
    source: r.source,
    target: r.target,
    state: r.state,
    phase: r.phase,
    step: r.step,
    cursor: r.cursor,
    copied: r.copied,
    repaired: r.repaired,
    removed: r.removed,
    waitUntil: r.wait_until,
    error: r.error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export const MoveTaskSchema = z.object({
  kind: z.literal("move.step"),
  job: z.string().uuid(),
  step: z.number().int().min(0),
});
export type MoveTask = z.infer<typeof MoveTaskSchema>;

export function isMoveTask(body: unknown): boolean {
  return typeof body === "object" && body !== null && "kind" in body && body.kind === "move.step";
}

/** What a step changes when it applies. */
export interface MoveAdvance {
  phase: MovePhase;
  cursor?: string;
  copied?: number;
  repaired?: number;
  removed?: number;
  waitUntil?: number;
}

export class MoveJobStore {
  constructor(private readonly db: D1Like) {}

  /** A new job; refused (409) while the namespace has a move running. */
  async create(job: { id: string; namespace: string; source: string; target: string }, now = Date.now()) {
    const result = await d1("create move job", () =>
      this.db
        .prepare(
          `INSERT INTO move_jobs (id, namespace, source, target, state, phase, created_at, updated_at)
           SELECT ?1, ?2, ?3, ?4, 'running', 'prepare', ?5, ?5
           WHERE NOT EXISTS (SELECT 1 FROM move_jobs WHERE namespace = ?2 AND state = 'running')`,
        )
        .bind(job.id, job.namespace, job.source, job.target, now)
        .run(),
    );
    if ((result.meta.changes ?? 0) === 0) {
      throw new AppError("conflict", `namespace "${job.namespace}" is being moved already`);
    }
    const created = await this.byId(job.id);
    if (!created) throw new AppError("unavailable", "the move job was not recorded", { retryable: true });
    return created;
  }

  async byId(id: string): Promise<MoveJob | null> {
    const row = await d1("read move job", () =>
      this.db.prepare("SELECT * FROM move_jobs WHERE id = ?1").bind(id).first(),
    );
    return row === null ? null : toJob(row);
  }

  async get(namespace: string, id: string): Promise<MoveJob | null> {
    const job = await this.byId(id);
    return job?.namespace === namespace ? job : null;
  }

  /** Applies step `step` (false: another delivery did, or the job ended). */
  async advance(job: MoveJob, step: number, a: MoveAdvance, now = Date.now()): Promise<boolean> {
    const result = await d1("advance move job", () =>
      this.db
        .prepare(
          `UPDATE move_jobs SET step = step + 1, phase = ?3, cursor = ?4, copied = copied + ?5,
             repaired = repaired + ?6, removed = removed + ?7, wait_until = ?8, updated_at = ?9,
             state = CASE WHEN ?3 = 'done' THEN 'complete' ELSE state END
           WHERE id = ?1 AND step = ?2 AND state = 'running'`,
        )
        .bind(
          job.id,
          step,
          a.phase,
          a.cursor ?? "",
          a.copied ?? 0,
          a.repaired ?? 0,
          a.removed ?? 0,
          a.waitUntil ?? 0,
          now,
        )
        .run(),
    );
    return (result.meta.changes ?? 0) === 1;
  }

  async fail(id: string, error: string, now = Date.now()): Promise<void> {
    await d1("fail move job", () =>
      this.db
        .prepare(
          "UPDATE move_jobs SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1 AND state = 'running'",
        )
        .bind(id, error.slice(0, 1000), now)
        .run(),
    );
  }
}
