// The metrics point of one search, written the same way wherever a search is answered: the v1
// search routes (recordSearch) and the MCP search tool. Failures get a point too, so error rates
// can be computed.
import { cacheApiLabel } from "../../src/cache/cache-api";
import { AppError } from "../../src/errors";
import type { SearchStage } from "../../src/observe/metrics";
import type { SearchAnswer } from "../../src/search/answer";
import type { Timer } from "../../src/search/timer";
import { NAMESPACE_PATTERN } from "../../src/validation";
import type { Services } from "../services";

/** What the search handler learnt, for the metrics point written once the answer is final. */
export interface SearchObservation {
  mode: string;
  results: number;
  cache: string;
  degraded: string[];
  stages: Partial<Record<SearchStage, number>>;
  totalMs: number;
}

export function errorCode(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  return err instanceof AppError ? err.code : "internal";
}

/** The observation of an answered search, from its timer and answer. */
export function observeAnswer(timer: Timer, answer: SearchAnswer, mode: string): SearchObservation {
  return {
    mode,
    results: answer.results.length,
    cache: answer.outcome,
    degraded: answer.degraded,
    stages: timer.timings(),
    totalMs: timer.elapsed(),
  };
}

export interface SearchPoint {
  /** As the caller named it; anything that is not a namespace name is recorded as "(invalid)". */
  namespace: unknown;
  status: number;
  /** The error code of a failed search (errorCode); the status stands in when there is none. */
  code?: string;
  /** Absent when the search failed before answering. */
  seen?: SearchObservation;
  /** Time spent, when there is no observation. */
  elapsedMs: number;
  colo?: string;
}

export function writeSearchPoint(services: Pick<Services, "metrics" | "cacheApi">, p: SearchPoint): void {
  const namespace =
    typeof p.namespace === "string" && NAMESPACE_PATTERN.test(p.namespace) ? p.namespace : "(invalid)";
  const stages = p.seen?.stages ?? {};
  services.metrics.search({
    namespace,
    mode: p.seen?.mode ?? "unknown",
    status: p.status,
    results: p.seen?.results ?? 0,
    cache: p.seen?.cache ?? "none",
    degraded: p.seen?.degraded ?? [],
    totalMs: p.seen?.totalMs ?? p.elapsedMs,
    embedMs: stages.embed ?? 0,
    vectorMs: stages.vector ?? 0,
    hydrateMs: stages.hydrate ?? 0,
    stages,
    colo: p.colo,
    code: p.status >= 400 ? (p.code ?? String(p.status)) : undefined,
    cacheApi: cacheApiLabel(services.cacheApi),
  });
}
