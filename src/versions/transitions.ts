// The rules of a version's life, without I/O: which state changes are allowed, what creating,
// activating, rolling back and retiring change, and when each is refused. The API checks them
// before expensive work (scoring the quality gate); the namespace coordinator checks them again
// and applies the changes, so both always agree.
import { AppError } from "../errors";
import type { BackfillProgress, GateReport, VersionState } from "./model";

/**
 * Allowed state changes. A build ends ready; activating a ready version makes the active one
 * previous (kept current for rollback) and retires the one previous before; a rollback makes the
 * previous version active and the replaced one ready again; anything but the active version
 * can be retired; a retired version stays retired.
 */
export const TRANSITIONS: Readonly<Record<VersionState, readonly VersionState[]>> = {
  building: ["ready", "retired"],
  ready: ["active", "retired"],
  active: ["previous", "ready"],
  previous: ["active", "retired"],
  retired: [],
};

export function canTransition(from: VersionState, to: VersionState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** What a rule needs of a version record. */
export interface VersionStatus {
  id: string;
  state: VersionState;
}

export interface Transition {
  id: string;
  from: VersionState;
  to: VersionState;
}

function move(version: VersionStatus, to: VersionState): Transition {
  if (!canTransition(version.state, to)) {
    throw new AppError("internal", `version ${version.id} cannot go from ${version.state} to ${to}`, {
      retryable: false,
    });
  }
  return { id: version.id, from: version.state, to };
}

function find(versions: readonly VersionStatus[], id: string): VersionStatus {
  const version = versions.find((v) => v.id === id);
  if (!version) throw new AppError("not_found", `version ${id} does not exist`);
  return version;
}

/** A new version is built one at a time: refused while another is building or ready. */
export function checkCreate(versions: readonly VersionStatus[]): void {
  const pending = versions.find((v) => v.state === "building" || v.state === "ready");
  if (pending) {
    throw new AppError(
      "conflict",
      `version ${pending.id} is ${pending.state}; activate or retire it before creating another`,
    );
  }
}

/** A finished build: the version is ready to be activated. */
export function finishBuild(version: VersionStatus): Transition {
  if (version.state !== "building") {
    throw new AppError("internal", `version ${version.id} is ${version.state}, not building`, {
      retryable: false,
    });
  }
  return move(version, "ready");
}

/** Only a ready version can be activated. */
export function checkActivate<T extends VersionStatus>(version: T | null | undefined, id: string): T {
  if (!version) throw new AppError("not_found", `version ${id} does not exist`);
  if (version.state !== "ready") {
    throw new AppError(
      "conflict",
      `version ${id} is ${version.state}; only a ready version can be activated`,
    );
  }
  return version;
}

/**
 * Activating `id`: the version previous before is retired, the active one becomes previous, and
 * `id` becomes active.
 */
export function planActivate(versions: readonly VersionStatus[], id: string): Transition[] {
  const target = checkActivate(
    versions.find((v) => v.id === id),
    id,
  );
  const displaced = versions.flatMap((v) =>
    v.state === "previous" ? [move(v, "retired")] : v.state === "active" ? [move(v, "previous")] : [],
  );
  return [...displaced, move(target, "active")];
}

/** A rollback targets the previous version; the active one becomes ready again (and current). */
export function planRollback(versions: readonly VersionStatus[]): Transition[] {
  const previous = versions.find((v) => v.state === "previous");
  if (!previous) throw new AppError("conflict", "there is no previous version to roll back to");
  const replaced = versions.filter((v) => v.state === "active").map((v) => move(v, "ready"));
  return [...replaced, move(previous, "active")];
}

/** Any version but the active one can be retired; retiring a retired version changes nothing. */
export function planRetire(versions: readonly VersionStatus[], id: string): Transition[] {
  const version = find(versions, id);
  if (version.state === "active") {
    throw new AppError("conflict", `version ${id} is active; activate another version or roll back first`);
  }
  return version.state === "retired" ? [] : [move(version, "retired")];
}

/** A previous version is retired when its grace period ends; null while it lasts. */
export function endGrace(
  version: VersionStatus & { retireAt: number | null },
  now: number,
): Transition | null {
  const ended = version.state === "previous" && version.retireAt !== null && version.retireAt <= now;
  return ended ? move(version, "retired") : null;
}

/** A retired version's vectors, chunks and keyword rows are deleted until a purge confirms them gone. */
export function awaitingPurge(version: (VersionStatus & { purged: boolean }) | null | undefined): boolean {
  return version?.state === "retired" && !version.purged;
}

/** What the vector index reports it has applied (Vectorize's describe()). */
export interface IndexEvidence {
  processedUpToMutation: string | null;
  processedUpToDatetime: number | null;
}

/**
 * A version is activated only once its index has applied the build's last write: by that
 * mutation id, or by a processed-up-to time at or after the write was requested.
 */
export function checkIndexCaughtUp(
  id: string,
  progress: BackfillProgress | null,
  evidence: IndexEvidence,
): void {
  if (!progress?.lastMutationId) return;
  if (evidence.processedUpToMutation === progress.lastMutationId) return;
  if (
    evidence.processedUpToDatetime !== null &&
    progress.lastMutationAt !== null &&
    evidence.processedUpToDatetime >= progress.lastMutationAt
  ) {
    return;
  }
  throw new AppError(
    "conflict",
    `the index of version ${id} has not applied the build's last write (${progress.lastMutationId}) yet; retry shortly`,
    { extra: { retryAfter: 2 } },
  );
}

/** A version is activated only if the quality gate passed, or the caller forced it. */
export function checkGate(id: string, gate: GateReport): void {
  if (!gate.passed && !gate.forced) throw new AppError("conflict", gateFailure(id, gate), { field: "gate" });
}

function gateFailure(id: string, gate: GateReport): string {
  if (gate.queries === 0)
    return `quality gate cannot run for version ${id}: the namespace has no golden queries; set them (PUT /v1/namespaces/{ns}/golden-queries) or activate with "force": true`;
  const parts = [
    `quality gate failed for version ${id}: nDCG@10 ${gate.ndcg.toFixed(4)} over ${gate.queries} golden queries`,
  ];
  if (gate.minNdcg !== null) parts.push(`is below the minimum ${gate.minNdcg}`);
  if (gate.activeNdcg !== null) {
    parts.push(`and more than ${gate.tolerance} below the active version's ${gate.activeNdcg.toFixed(4)}`);
  }
  return `${parts.join(" ")}; pass "force": true to activate anyway`;
}
