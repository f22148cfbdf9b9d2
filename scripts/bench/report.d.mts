// Type declarations for the part of report.mjs that TypeScript callers (the unit tests) import.

export interface PairedRound {
  noop: number;
  target: number;
  ratio: number;
  noopWorkerUs: number | null;
  targetWorkerUs: number | null;
}

export interface PairedResult {
  scenario: string;
  concurrency: number;
  rounds: PairedRound[];
  median: number;
}

/** The fields of a bench run that the target lines read. */
export interface TargetRun {
  profile: string;
  scenarios: {
    name: string;
    levels: { concurrency: number; latencyMs: { p50: number }; ratios: { throughput?: number } }[];
  }[];
  paired?: PairedResult;
}

/** The hybrid target's lines: per run, its rounds (if any) and the verdict. */
export declare function targetLines(runs: TargetRun[]): string[];
