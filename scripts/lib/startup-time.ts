// The Worker's startup (global scope) time, read from the CPU profile `wrangler check startup`
// writes, against the platform's limit and the project's budget. Pure, no I/O.
import { STARTUP_LIMIT_MS } from "./bundle-size.ts";

/**
 * The project's budget for local startup CPU: 40% of the platform's 1 s
 * (https://developers.cloudflare.com/workers/platform/limits/#worker-startup-time). Measured here
 * at 105 to 370 ms (median 216) on a loaded 2-core machine (docs/runbooks/deploy.md): the spread is
 * the machine's load, so the budget sits above the worst loaded run. The exact guard against the
 * bundle regrowing is the size budget (bundle-size.ts); this one catches new startup work.
 */
export const STARTUP_BUDGET_MS = 400;

export type CpuProfile = {
  nodes: { id: number; callFrame: { functionName: string } }[];
  samples: number[];
  timeDeltas: number[];
};

/**
 * Active and garbage-collection milliseconds of a V8 CPU profile: each sample is charged the time
 * since the previous one, and "(idle)" samples are not work (as wrangler's own "Active" line).
 */
export function startupCpu(profile: CpuProfile): { activeMs: number; gcMs: number } {
  const names = new Map(profile.nodes.map((n) => [n.id, n.callFrame.functionName]));
  let active = 0;
  let gc = 0;
  profile.samples.forEach((id, i) => {
    const name = names.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    if (name === "(idle)") return;
    active += us;
    if (name === "(garbage collector)") gc += us;
  });
  return { activeMs: active / 1000, gcMs: gc / 1000 };
}

/**
 * One line with the figures, and the problems (empty when startup is within the budget).
 */
export function judgeStartup(
  { activeMs, gcMs }: { activeMs: number; gcMs: number },
  budgetMs: number = STARTUP_BUDGET_MS,
): { lines: string[]; problems: string[] } {
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  const lines = [
    `startup ${ms(activeMs)} of active CPU (${ms(gcMs)} garbage collection), local profile; budget ${budgetMs} ms, platform limit ${STARTUP_LIMIT_MS} ms`,
  ];
  const problems = [];
  if (activeMs > STARTUP_LIMIT_MS) {
    problems.push(
      `startup took ${ms(activeMs)}: Cloudflare refuses a Worker whose global scope runs over ${STARTUP_LIMIT_MS} ms`,
    );
  } else if (activeMs > budgetMs) {
    problems.push(
      `startup took ${ms(activeMs)}: over the project's ${budgetMs} ms budget (limit ${STARTUP_LIMIT_MS} ms)`,
    );
  }
  return { lines, problems };
}
