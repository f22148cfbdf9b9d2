// A search inside the namespace's running experiment: the arm is chosen (by user, else per
// request), the chosen version answers, and the answer names its version, arm and a signed
// searchId for feedback. For a sampled share of the control arm the candidate also answers, in
// the background: the comparison is recorded, never the response's business. Counters are
// written after the answer (waitUntil); a failure to record is logged, never the search's.
// waitUntil work may run 30 seconds past the response ("cancellation will be delayed until the
// promise has completed or until an additional 30 seconds have elapsed, whichever happens first":
// https://developers.cloudflare.com/workers/platform/limits/#how-long-can-a-subrequest-take):
// a shadow search cut short records nothing, so a sample is lost, never half-recorded.
import type { Logger } from "../observe/logger";
import type { SearchAnswer } from "../search/answer";
import type { Clock } from "../search/timer";
import type { VersionPointer, VersionSpec } from "../versions/model";
import { type Arm, assignArm } from "./model";
import { rankBiasedOverlap, topOverlap } from "./overlap";
import { issueSearchId } from "./search-id";
import { recordServed, recordShadow } from "./store";

export interface ExperimentDeps {
  /** The namespace's published pointer (isolate cache, then KV): the running experiment is in it. */
  pointer(namespace: string): Promise<VersionPointer | null>;
  /** Where the experiment's counters are kept (DB). */
  db: D1Database;
  defer(work: Promise<unknown>): void;
  searchIdKey(): Promise<CryptoKey | null>;
  logger: Logger;
  clock: Clock;
  now?: () => number;
  random?: () => number;
}

export interface ExperimentAnswer extends SearchAnswer {
  arm?: Arm;
  experiment?: string;
  searchId?: string;
}

/**
 * Runs the search on `version` (undefined: the active one); `background` for the shadow search,
 * which has its own stage timer.
 */
export type RunSearch = (version: VersionSpec | undefined, background: boolean) => Promise<SearchAnswer>;

export async function searchWithExperiment(
  deps: ExperimentDeps,
  namespace: string,
  userId: string | undefined,
  /**
   * Paging: the version the cursor's ranking came from (its page is answered from it, whatever
   * the draw), or null when the cursor names none; undefined for a first page.
   */
  cursorVersion: string | null | undefined,
  run: RunSearch,
  elapsedMs: () => number,
): Promise<ExperimentAnswer> {
  const random = deps.random ?? Math.random;
  const experiment = (await deps.pointer(namespace))?.experiment;
  const paging = cursorVersion !== undefined;
  const arm = !experiment
    ? undefined
    : cursorVersion === experiment.candidate.id
      ? "candidate"
      : cursorVersion === experiment.control
        ? "control"
        : assignArm(experiment, userId, random);
  const answer = await run(arm === "candidate" ? experiment?.candidate : undefined, false);
  const latencyMs = elapsedMs();
  const out: ExperimentAnswer = { ...answer };
  if (experiment && arm) {
    out.arm = arm;
    out.experiment = experiment.id;
    deps.defer(
      recordServed(deps.db, {
        namespace,
        experiment: experiment.id,
        arm,
        latencyMs,
        empty: answer.results.length === 0,
        degraded: answer.degraded.length > 0,
      }).catch((err) => deps.logger.warn("experiment.record_failed", { namespace, error: String(err) })),
    );
    if (arm === "control" && !paging && experiment.shadowShare > 0 && random() < experiment.shadowShare) {
      deps.defer(shadow(deps, namespace, experiment.id, experiment.candidate, answer, latencyMs, run));
    }
  }
  const key = await deps.searchIdKey();
  if (key) {
    out.searchId = await issueSearchId(key, {
      namespace,
      version: answer.version,
      ...(out.arm ? { arm: out.arm } : {}),
      ...(out.experiment ? { experiment: out.experiment } : {}),
      issuedAt: (deps.now ?? Date.now)(),
      offset: answer.offset ?? 0,
      documents: answer.results.map((r) => r.id),
    });
  }
  return out;
}

async function shadow(
  deps: ExperimentDeps,
  namespace: string,
  experiment: string,
  candidate: VersionSpec,
  served: SearchAnswer,
  servedMs: number,
  run: RunSearch,
): Promise<void> {
  const started = deps.clock();
  let comparison: Parameters<typeof recordShadow>[1]["comparison"] = null;
  try {
    const answer = await run(candidate, true);
    const candidateMs = deps.clock() - started;
    const control = served.results.map((r) => r.id);
    const other = answer.results.map((r) => r.id);
    comparison = {
      overlap: topOverlap(control, other),
      rbo: rankBiasedOverlap(control, other, 0.9),
      controlMs: servedMs,
      candidateMs,
      controlEmpty: control.length === 0,
      candidateEmpty: other.length === 0,
      controlDegraded: served.degraded.length > 0,
      candidateDegraded: answer.degraded.length > 0,
    };
  } catch (err) {
    deps.logger.warn("experiment.shadow_failed", { namespace, experiment, error: String(err) });
  }
  try {
    await recordShadow(deps.db, { namespace, experiment, comparison });
  } catch (err) {
    deps.logger.warn("experiment.record_failed", { namespace, error: String(err) });
  }
}
