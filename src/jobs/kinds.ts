// The step jobs the scheduled handler watches for lost steps (src/jobs/steps.ts): erasures,
// backups and restores, moves. Each re-sends the message that makes its job go on, and fails a job
// as its own step failures do.
import { JobStore } from "../backup/jobs";
import { stepMessage } from "../backup/messages";
import { ErasureJobStore } from "../erasure/jobs";
import { sendErasureStep } from "../erasure/task";
import { MoveJobStore } from "../moves/jobs";
import { abandonMove, type MoveDeps, sendMoveStep } from "../moves/task";
import type { StepJobKind } from "./steps";

export type StepKindDeps = Pick<MoveDeps, "db" | "queue" | "versions" | "logger"> & { db: D1Database };

/** The kinds the sweep reads, in the order of their tables. */
export function stepJobKinds(deps: StepKindDeps): StepJobKind[] {
  return [
    {
      table: "erasure_jobs",
      kind: "'erasure'",
      seen: "MAX(updated_at, resent_at)",
      resend: (id, step) => sendErasureStep(deps.queue, id, step),
      fail: (id, reason) => new ErasureJobStore(deps.db).fail(id, reason),
    },
    {
      table: "backup_jobs",
      kind: "kind",
      seen: "MAX(updated_at, resent_at)",
      resend: async (id, step) => {
        const job = await new JobStore(deps.db).byId(id);
        if (!job) return;
        // The step before was applied but its successor never recorded as sent: that step's
        // delivery checks its parts (writing missing ones again) and sends its successor.
        const from = job.sentStep < step ? step - 1 : step;
        await deps.queue.send(stepMessage(job.kind, id, from), { contentType: "json" });
      },
      fail: async (id, reason) => {
        await new JobStore(deps.db).fail(id, reason);
      },
    },
    {
      table: "move_jobs",
      kind: "'move'",
      seen: "MAX(updated_at, resent_at, wait_until)",
      resend: async (id, step) => {
        const job = await new MoveJobStore(deps.db).byId(id);
        if (job) await sendMoveStep(deps.queue, id, step, job.waitUntil - Date.now());
      },
      fail: async (id, reason) => {
        const job = await new MoveJobStore(deps.db).byId(id);
        if (job?.state === "running") await abandonMove(deps, job, reason);
      },
    },
  ];
}
