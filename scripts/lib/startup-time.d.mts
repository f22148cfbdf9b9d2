// Type declarations for startup-time.mjs, so TypeScript callers (the unit tests) import it typed.
export declare const STARTUP_BUDGET_MS: number;
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string } }[];
  samples: number[];
  timeDeltas: number[];
}
export declare function startupCpu(profile: CpuProfile): { activeMs: number; gcMs: number };
export declare function judgeStartup(
  cpu: { activeMs: number; gcMs: number },
  budgetMs?: number,
): { lines: string[]; problems: string[] };
