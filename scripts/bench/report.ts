// Bench output: ratios to each server run's no-op baseline, the plain-text tables and the JSON.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { LoadResult } from "./load.ts";
import { ratio, STAGES } from "./stats.ts";

export type PairedRound = {
  noop: number;
  target: number;
  ratio: number;
  noopWorkerUs: number | null;
  targetWorkerUs: number | null;
};

export type PairedResult = {
  scenario: string;
  concurrency: number;
  rounds: PairedRound[];
  median: number;
};

/** The fields of a bench run that the target lines read. */
export type TargetRun = {
  profile: string;
  scenarios: {
    name: string;
    levels: { concurrency: number; latencyMs: { p50: number }; ratios: { throughput?: number } }[];
  }[];
  paired?: PairedResult;
};

export type LevelResult = LoadResult & { ratios: Record<string, number> };

export type ScenarioResult = {
  name: string;
  description: string;
  prepare?: unknown;
  levels: LevelResult[];
  firstAnswer?: { ms: number; status: number | null; error?: string };
};

export type RunResult = {
  profile: string;
  description: string;
  server: { kind: string; port: number; baseUrl: string };
  scenarios: ScenarioResult[];
  paired?: PairedResult;
};

/**
 * Ratios of a result to the same run's no-op result at the same concurrency: throughput (higher
 * is better, 1.0 = as fast as the no-op) and latencies (lower is better, 1.0 = as fast).
 */
export function ratiosTo(result: LoadResult, noop: LoadResult | undefined) {
  return {
    throughput: ratio(result.throughput, noop?.throughput),
    mean: ratio(result.latencyMs.mean, noop?.latencyMs.mean),
    p50: ratio(result.latencyMs.p50, noop?.latencyMs.p50),
    p95: ratio(result.latencyMs.p95, noop?.latencyMs.p95),
    p99: ratio(result.latencyMs.p99, noop?.latencyMs.p99),
    // CPU per request is steadier than rates on a shared machine: throughput follows its inverse.
    serverCpu: ratio(result.cpu?.serverTotalUsPerRequest, noop?.cpu?.serverTotalUsPerRequest),
    workerCpu: ratio(result.cpu?.serverUsPerRequest.worker, noop?.cpu?.serverUsPerRequest.worker),
  };
}

function num(v: number) {
  if (!Number.isFinite(v)) return "-";
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

const times = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : "-");

/**
 * An aligned table: the first `left` columns left-aligned, the rest right-aligned.
 */
export function table(headers: string[], rows: string[][], left: number = 2) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < left ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

function rowsOf(runs: RunResult[], cells: (run: RunResult, s: ScenarioResult, r: LevelResult) => string[]) {
  return runs.flatMap((run) =>
    run.scenarios.flatMap((s) =>
      s.levels.map((r) => [run.profile, s.name, String(r.concurrency), ...cells(run, s, r)]),
    ),
  );
}

export function throughputTable(runs: RunResult[]) {
  return table(
    [
      "run",
      "scenario",
      "c",
      "req/s",
      "x noop",
      "p50 ms",
      "x noop",
      "p95 ms",
      "x noop",
      "p99 ms",
      "x noop",
      "cpu/req x noop",
      "errors",
      "mismatch",
    ],
    rowsOf(runs, (_run, _s, r) => [
      num(r.throughput),
      times(r.ratios.throughput ?? NaN),
      num(r.latencyMs.p50),
      times(r.ratios.p50 ?? NaN),
      num(r.latencyMs.p95),
      times(r.ratios.p95 ?? NaN),
      num(r.latencyMs.p99),
      times(r.ratios.p99 ?? NaN),
      times(r.ratios.serverCpu ?? NaN),
      String(r.errors),
      String(r.mismatches),
    ]),
    2,
  );
}

export function stageTable(runs: RunResult[]) {
  const stages = STAGES.filter((stage) =>
    runs.some((run) => run.scenarios.some((s) => s.levels.some((r) => r.serverTiming[stage]))),
  );
  const withTimings = runs.map((run) => ({
    ...run,
    scenarios: run.scenarios.filter((s) => s.levels.some((r) => Object.keys(r.serverTiming).length > 0)),
  }));
  return table(
    ["run", "scenario", "c", ...stages.map((s) => `${s} ms`)],
    rowsOf(withTimings, (_run, _s, r) => stages.map((stage) => num(r.serverTiming[stage]?.meanMs ?? NaN))),
    2,
  );
}

export function cpuTable(runs: RunResult[]) {
  return table(
    [
      "run",
      "scenario",
      "c",
      "client us/req",
      "node us/req",
      "proxy us/req",
      "worker us/req",
      "server us/req",
      "client cores",
      "server cores",
      "other cores",
      "resp bytes",
    ],
    rowsOf(runs, (_run, _s, r) => {
      const cpu = r.cpu;
      const us = (role: string) => num(cpu?.serverUsPerRequest[role] ?? NaN);
      return [
        num(cpu?.clientUsPerRequest ?? NaN),
        us("node"),
        us("proxy"),
        us("worker"),
        num(cpu?.serverTotalUsPerRequest ?? NaN),
        num(cpu?.clientCores ?? NaN),
        num(cpu?.serverCores ?? NaN),
        num(cpu?.otherCores ?? NaN),
        num(r.meanResponseBytes),
      ];
    }),
    2,
  );
}

/**
 * Failures and notes, one line each, for the rows that had any.
 */
export function problemLines(runs: RunResult[]) {
  const lines: string[] = [];
  for (const run of runs) {
    for (const s of run.scenarios) {
      for (const r of s.levels) {
        for (const [kind, f] of Object.entries(r.failures)) {
          lines.push(
            `${run.profile}/${s.name} c=${r.concurrency}: ${f.count} x ${kind} (e.g. ${f.examples[0] ?? ""})`,
          );
        }
        for (const [kind, count] of Object.entries(r.notes)) {
          lines.push(`${run.profile}/${s.name} c=${r.concurrency}: ${count} of ${r.ok} answers had ${kind}`);
        }
      }
    }
  }
  return lines;
}

export function bundleLines(bundle: {
  files: { name: string; bytes: number }[];
  totalBytes: number;
  uploadBytes: number;
  uploadGzipBytes: number;
  wranglerReported: { upload: string; gzip: string } | null;
}) {
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  return [
    `deploy bundle (wrangler deploy --dry-run): upload ${kib(bundle.uploadBytes)}, gzip ${kib(bundle.uploadGzipBytes)}` +
      (bundle.wranglerReported
        ? ` (wrangler: ${bundle.wranglerReported.upload} / gzip ${bundle.wranglerReported.gzip})`
        : ""),
    `  output ${kib(bundle.totalBytes)} in all: ${bundle.files.map((f) => `${f.name} ${kib(f.bytes)}`).join(", ")}`,
  ];
}

/**
 * Each scenario's first request, sent alone before its windows: a cold start (an index loading
 * its vectors, empty isolate caches) shows here instead of inside a window.
 */
function firstAnswerLines(runs: RunResult[]): string[] {
  const out = [];
  for (const run of runs) {
    const parts = run.scenarios
      .filter((s) => s.firstAnswer && s.name !== "noop")
      .map((s) => {
        const f = s.firstAnswer as NonNullable<ScenarioResult["firstAnswer"]>;
        const outcome =
          f.status === null ? ` (${f.error ?? "no answer"})` : f.status === 200 ? "" : ` (${f.status})`;
        return `${s.name} ${num(f.ms)} ms${outcome}`;
      });
    if (parts.length > 0)
      out.push(`first answer of each scenario, alone (${run.profile}): ${parts.join(", ")}`);
  }
  return out;
}

/**
 * The hybrid search target (docs/performance.md): a miss over 10,000 chunks at the highest
 * concurrency measured, as a ratio to the no-op's throughput, and its p50 at concurrency 1.
 */
export function targetLines(runs: TargetRun[]): string[] {
  const out = [];
  for (const run of runs) {
    const hybrid = run.scenarios.find((s) => s.name === "miss-hybrid-10k");
    if (!hybrid || hybrid.levels.length === 0) continue;
    const top = hybrid.levels.reduce((a, b) => (b.concurrency > a.concurrency ? b : a));
    const single = hybrid.levels.find((l) => l.concurrency === 1);
    const r = top.ratios.throughput ?? NaN;
    const paired = run.paired?.scenario === hybrid.name ? run.paired : undefined;
    if (paired) {
      const each = paired.rounds.map((round) => `${round.ratio.toFixed(2)}x`).join(", ");
      out.push(
        `hybrid miss over 10k chunks (${run.profile}), ${paired.rounds.length} rounds of the no-op then ` +
          `the miss at c=${paired.concurrency}: ${each}`,
      );
    }
    // The median of the interleaved rounds when there are any: one window each is at the mercy of
    // whatever else the machine runs during it.
    const judged = paired ? paired.median : r;
    const measured = paired
      ? `${judged.toFixed(2)}x the no-op's throughput at c=${paired.concurrency}, median of ` +
        `${paired.rounds.length} rounds (the pass above: ${r.toFixed(2)}x)`
      : `${r.toFixed(2)}x the no-op's throughput at c=${top.concurrency}`;
    const parts = [`${measured} (target >= 0.25x: ${judged >= 0.25 ? "met" : "NOT met"})`];
    if (single) {
      const p50 = single.latencyMs.p50;
      parts.push(`p50 ${p50.toFixed(1)} ms at c=1 (target < 15 ms: ${p50 < 15 ? "met" : "NOT met"})`);
    }
    out.push(`hybrid miss over 10k chunks (${run.profile}): ${parts.join("; ")}`);
  }
  return out;
}

/**
 * Scenarios that add work to a plain one, and how much slower they may be: a highlighted or
 * faceted hybrid miss at most 1.3 times the plain miss's p50 (docs/performance.md).
 */
export const COMPARISONS = [
  { scenario: "miss-hybrid-highlight", base: "miss-hybrid", maxRatio: 1.3 },
  { scenario: "miss-hybrid-highlight-facets", base: "miss-hybrid", maxRatio: 1.3 },
] as const;

/** Each comparison whose two scenarios ran in the same run: p50 and CPU per request, per concurrency. */
export function comparisonLines(runs: RunResult[]): string[] {
  const out: string[] = [];
  for (const run of runs) {
    for (const { scenario, base, maxRatio } of COMPARISONS) {
      const s = run.scenarios.find((x) => x.name === scenario);
      const b = run.scenarios.find((x) => x.name === base);
      if (!s || !b) continue;
      for (const level of s.levels) {
        const baseLevel = b.levels.find((l) => l.concurrency === level.concurrency);
        if (!baseLevel) continue;
        const p50 = ratio(level.latencyMs.p50, baseLevel.latencyMs.p50);
        const cpu = ratio(level.cpu?.serverTotalUsPerRequest, baseLevel.cpu?.serverTotalUsPerRequest);
        const verdict = p50 <= maxRatio ? "met" : "NOT met";
        out.push(
          `${scenario} / ${base} (${run.profile}) at c=${level.concurrency}: p50 ${times(p50)}, ` +
            `server CPU per request ${times(cpu)} (target p50 <= ${maxRatio}x: ${verdict})`,
        );
      }
    }
  }
  return out;
}

export function renderReport(
  report: {
    runs: RunResult[];
    bundle: Parameters<typeof bundleLines>[0];
    datasets: Record<string, { namespace: string; documents: number; chunks: number; seconds: number }>;
    machine: { cpus: number; loadAvgStart: number[]; loadAvgEnd: number[] };
    options?: { localObservability?: string };
  },
  jsonFile: string,
): string {
  const out = [];
  out.push(
    "",
    "Throughput and latency (closed loop; x noop = ratio to GET /healthz, same run, same concurrency)",
  );
  out.push(throughputTable(report.runs));
  out.push("", "Server-Timing, mean per answer (ms; workerd's clock only advances on I/O)");
  out.push(stageTable(report.runs));
  out.push(
    "",
    "CPU per request (us) by process, and cores busy during the window (other = programs outside the bench)",
  );
  out.push(cpuTable(report.runs));
  const problems = problemLines(report.runs);
  if (problems.length > 0) out.push("", "Failures and notes", ...problems);
  out.push("");
  for (const [name, d] of Object.entries(report.datasets)) {
    const rate =
      d.seconds > 0
        ? `; ingested end to end through the queue in ${d.seconds.toFixed(1)} s: ${(d.documents / d.seconds).toFixed(1)} documents/s, ${(d.chunks / d.seconds).toFixed(1)} chunks/s`
        : "";
    out.push(
      `dataset ${name}: namespace ${d.namespace}, ${d.documents} documents, ${d.chunks} chunks${rate}`,
    );
  }
  out.push(...bundleLines(report.bundle));
  for (const label of ["default", "default/direct"]) {
    const hit = report.runs.find((r) => r.profile === label)?.scenarios.find((s) => s.name === "hit-isolate");
    const top = hit?.levels.reduce((a, b) => (b.concurrency > a.concurrency ? b : a));
    if (!top) continue;
    const r = top.ratios.throughput ?? NaN;
    const cpu = top.ratios.workerCpu ?? NaN;
    out.push(
      `isolate hit (${label}) at c=${top.concurrency}: ${r.toFixed(2)}x the no-op's throughput ` +
        `(target >= 0.80x: ${r >= 0.8 ? "met" : "NOT met"}); Worker CPU per request ${cpu.toFixed(2)}x the no-op's`,
    );
  }
  out.push(...firstAnswerLines(report.runs));
  out.push(...targetLines(report.runs));
  out.push(...comparisonLines(report.runs));
  out.push(
    `wrangler's local trace collector (X_LOCAL_OBSERVABILITY): ${report.options?.localObservability === "true" ? "on" : "off"}`,
    `load average ${report.machine.loadAvgStart.map((v) => v.toFixed(2)).join(" ")} -> ${report.machine.loadAvgEnd.map((v) => v.toFixed(2)).join(" ")} on ${report.machine.cpus} cores`,
    `JSON: ${path.relative(process.cwd(), jsonFile) || jsonFile}`,
  );
  return out.join("\n");
}

export async function writeJson(file: string, data: unknown) {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
}
