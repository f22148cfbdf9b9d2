// Moving a namespace's rows to another database of the pool, online, a step per queue message:
// prepare (the target's keyword tables; the pointer says "moving", so every write reaches both
// databases), settle (until every isolate read that pointer), copy (pages of documents), verify
// (pages compared and repaired until a whole pass finds nothing to repair, then counts and a sample
// of keyword searches), switch (the coordinator swaps the namespace's database in its pointer),
// drain (until no isolate still reads the old pointer), cleanup (the source's rows, in pages).
// Searches read the source until the switch and the target after it; both hold every document.
import type { Config } from "../config";
import { AppError, errorMessage, isRetryable } from "../errors";
import { backoffSeconds, type Decision, QUEUE_MAX_DELAY_SECONDS } from "../ingest/pipeline";
import { movedOn, nextStepMayBeLost } from "../jobs/steps";
import type { Logger } from "../observe/logger";
import type { D1Like } from "../store/d1";
import type { VersionServices } from "../versions/services";
import {
  copyDocuments,
  copyNamespaceRows,
  documentIds,
  prepareTarget,
  removePage,
  sameAnswers,
  sameCounts,
  verifyPage,
} from "./copy";
import { type MoveAdvance, type MoveJob, MoveJobStore, MoveTaskSchema } from "./jobs";

/** Documents per copy step, per verify page, and removed per cleanup step. */
export const MOVE_PAGE = { copy: 20, verify: 200, remove: 100 } as const;
/** Verify passes that found something to repair before the move gives up. */
const MAX_VERIFY_PASSES = 20;
/** How far Workers KV takes to show a write in every location (the pointer's propagation). */
const KV_PROPAGATION_MS = 60_000;
const STEP_ATTEMPTS = 5;

export interface MoveDeps {
  /** The control database (the jobs). */
  db: D1Like;
  pool: { database(name: string): D1Database };
  versions: VersionServices;
  queue: Queue;
  config: Config;
  logger: Logger;
}

/** How long every isolate may still act on a pointer older than a change just published. */
export function settleMs(config: Config): number {
  return config.versionCacheTtlMs + (config.backend === "local" ? 0 : KV_PROPAGATION_MS);
}

export async function sendMoveStep(queue: Queue, job: string, step: number, delayMs = 0) {
  const delaySeconds = Math.min(QUEUE_MAX_DELAY_SECONDS, Math.ceil(Math.max(0, delayMs) / 1000));
  await queue.send({ kind: "move.step", job, step }, { contentType: "json", delaySeconds });
}

export async function processMoveTask(deps: MoveDeps, body: unknown, attempts: number): Promise<Decision> {
  const parsed = MoveTaskSchema.safeParse(body);
  if (!parsed.success)
    return { type: "dead-letter", reason: `invalid move task: ${parsed.error.issues[0]?.message}` };
  const jobs = new MoveJobStore(deps.db);
  const job = await jobs.byId(parsed.data.job);
  if (job && nextStepMayBeLost(job, parsed.data.step, attempts)) {
    await sendMoveStep(deps.queue, job.id, job.step, job.waitUntil - Date.now());
    return { type: "ack", outcome: "skipped", reason: `move step ${parsed.data.step} was applied` };
  }
  if (job?.state !== "running" || job.step !== parsed.data.step) {
    return { type: "ack", outcome: "skipped", reason: `move step ${parsed.data.step} is not due` };
  }
  try {
    const next = await runPhase(deps, job);
    if (next === "wait") {
      await sendMoveStep(deps.queue, job.id, job.step, job.waitUntil - Date.now());
      return { type: "ack", outcome: "skipped", reason: "waiting" };
    }
    if (await jobs.advance(job, job.step, next)) {
      if (next.phase !== "done")
        await sendMoveStep(deps.queue, job.id, job.step + 1, (next.waitUntil ?? 0) - Date.now());
      deps.logger.info("move.step", {
        namespace: job.namespace,
        job: job.id,
        phase: job.phase,
        next: next.phase,
      });
    }
    return { type: "ack", outcome: "indexed", namespace: job.namespace };
  } catch (err) {
    const error = errorMessage(err);
    if (isRetryable(err) && attempts < STEP_ATTEMPTS) {
      return { type: "retry", delaySeconds: backoffSeconds(attempts), error };
    }
    const moot = movedOn(await jobs.byId(job.id), job.step, "move");
    if (moot) return moot;
    await abandonMove(deps, job, error);
    deps.logger.error("move.failed", { namespace: job.namespace, job: job.id, phase: job.phase, error });
    return { type: "ack", outcome: "failed", reason: error };
  }
}

/** Fails the job; before the switch the namespace stays where it was (the pointer drops "moving"). */
export async function abandonMove(
  deps: Pick<MoveDeps, "db" | "versions">,
  job: MoveJob,
  error: string,
): Promise<void> {
  const switched = ["drain", "cleanup", "done"].includes(job.phase);
  if (!switched) await deps.versions.coordinator(job.namespace).endMove(job.target, false);
  await new MoveJobStore(deps.db).fail(job.id, error);
}

/** What the job's current step does; "wait" while its phase waits for `waitUntil`. */
async function runPhase(deps: MoveDeps, job: MoveJob): Promise<MoveAdvance | "wait"> {
  const source = deps.pool.database(job.source);
  const target = deps.pool.database(job.target);
  const coordinator = deps.versions.coordinator(job.namespace);
  const now = Date.now();
  switch (job.phase) {
    case "prepare": {
      const { live } = await coordinator.writeTargets();
      await prepareTarget(
        target,
        job.namespace,
        live.map((v) => v.id),
      );
      await coordinator.startMove(job.target);
      return { phase: "settle", waitUntil: now + settleMs(deps.config) };
    }
    case "settle":
    case "drain":
      if (now < job.waitUntil) return "wait";
      return job.phase === "settle" ? { phase: "copy" } : { phase: "cleanup" };
    case "copy": {
      const ids = await documentIds(source, job.namespace, job.cursor, MOVE_PAGE.copy);
      await copyDocuments(source, target, job.namespace, ids);
      const last = ids.at(-1) ?? job.cursor;
      return ids.length < MOVE_PAGE.copy
        ? { phase: "verify", cursor: verifyCursor("", 0, 0), copied: ids.length }
        : { phase: "copy", cursor: last, copied: ids.length };
    }
    case "verify":
      return verifyStep(deps, job, source, target);
    case "switch":
      await coordinator.endMove(job.target, true);
      return { phase: "drain", waitUntil: now + settleMs(deps.config) };
    case "cleanup": {
      const { removed, more } = await removePage(source, job.namespace, MOVE_PAGE.remove);
      return more ? { phase: "cleanup", removed } : { phase: "done" };
    }
    case "done":
      return { phase: "done" };
  }
}

function verifyCursor(after: string, pass: number, repairedInPass: number): string {
  return JSON.stringify({ after, pass, repairedInPass });
}

async function verifyStep(
  deps: MoveDeps,
  job: MoveJob,
  source: D1Like,
  target: D1Like,
): Promise<MoveAdvance> {
  const at = JSON.parse(job.cursor || verifyCursor("", 0, 0)) as {
    after: string;
    pass: number;
    repairedInPass: number;
  };
  const { repaired, next } = await verifyPage(source, target, job.namespace, at.after, MOVE_PAGE.verify);
  const found = at.repairedInPass + repaired.length;
  if (next !== null)
    return { phase: "verify", cursor: verifyCursor(next, at.pass, found), repaired: repaired.length };
  const active = await deps.versions.active(job.namespace);
  const clean =
    found === 0 &&
    (await sameCounts(source, target, job.namespace)) &&
    (await sameAnswers(source, target, job.namespace, active.id));
  if (clean) {
    await copyNamespaceRows(source, target, job.namespace);
    return { phase: "switch", repaired: repaired.length };
  }
  if (at.pass + 1 >= MAX_VERIFY_PASSES) {
    throw new AppError(
      "conflict",
      `the copy in ${job.target} did not settle after ${MAX_VERIFY_PASSES} passes`,
      {
        retryable: false,
      },
    );
  }
  return { phase: "verify", cursor: verifyCursor("", at.pass + 1, 0), repaired: repaired.length };
}
