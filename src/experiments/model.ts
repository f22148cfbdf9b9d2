// Online experiments: a share of a namespace's searches is answered by a candidate index version
// (ready or previous) instead of the active one. The coordinator object owns the experiment and
// publishes the running one inside the active-version pointer, so the query path reads it from
// the same isolate cache as the active version: no extra read per search.
import type { RunningExperiment } from "../versions/model";

export const ARMS = ["control", "candidate"] as const;
export type Arm = (typeof ARMS)[number];

/** Assignment buckets: a share is a whole number of basis points. */
export const BUCKETS = 10_000;

export const EXPERIMENT_STATES = ["running", "stopped", "promoted", "ended"] as const;
export type ExperimentState = (typeof EXPERIMENT_STATES)[number];

export type { RunningExperiment };

export interface ExperimentSettings {
  candidate: string;
  /** Share of searches (0..1) the candidate answers. */
  share: number;
  /** Share of the control arm's searches (0..1) the candidate also answers in the background. */
  shadowShare: number;
  /** Searches each arm needs before the report gives a verdict (pre-registered at start). */
  minSamples: number;
}

export interface ExperimentRecord extends ExperimentSettings {
  id: string;
  /** The active version when the experiment started: the control arm. */
  control: string;
  state: ExperimentState;
  startedAt: number;
  updatedAt: number;
  endedAt: number | null;
  /** Why it ended: "stopped", "promoted", or the version change that ended it. */
  endReason: string | null;
}

/** FNV-1a, 32 bits: a cheap, stable hash for assignment buckets and result fingerprints. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The bucket (0..9999) a user falls in for an experiment: stable per experiment and user. */
export function bucketOf(experimentId: string, userId: string): number {
  return fnv1a(`${experimentId}\u0000${userId}`) % BUCKETS;
}

/**
 * The arm of a search: by the user's bucket when the caller names a user (the same user always
 * sees the same arm), else per request at random.
 */
export function assignArm(
  experiment: Pick<RunningExperiment, "id" | "share">,
  userId: string | undefined,
  random: () => number = Math.random,
): Arm {
  const bucket = userId === undefined ? Math.floor(random() * BUCKETS) : bucketOf(experiment.id, userId);
  return bucket < Math.round(experiment.share * BUCKETS) ? "candidate" : "control";
}
