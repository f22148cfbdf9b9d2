// One measured pass: every scenario of a list at every concurrency level against one address,
// with ratios to the pass's first scenario (the no-op baseline).

import type { Vocabulary } from "./corpus.ts";
import { DATASETS } from "./datasets.ts";
import { runClosedLoop } from "./load.ts";
import type { PairedResult, PairedRound, RunResult, ScenarioResult } from "./report.ts";
import { ratiosTo } from "./report.ts";
import type { Scenario } from "./scenarios.ts";
import type { RunningServer } from "./server.ts";
import { percentileOf, ratio } from "./stats.ts";
import type { BenchRequest, Transport } from "./transport.ts";
import { createTransport } from "./transport.ts";

export type Settings = {
  adminKey: string;
  vocabulary: Vocabulary;
  levels: number[];
  warmupMs: number;
  durationMs: number;
  clientKind: "http" | "fetch";
  seed: number;
  timeoutMs: number;
  log: (line: string) => void;
};

/**
 * What a scenario's requests are built from.
 */
function contextFor(scenario: Scenario, settings: Settings, seed: number) {
  return {
    adminKey: settings.adminKey,
    namespace: scenario.dataset ? (DATASETS[scenario.dataset]?.namespace ?? "") : "",
    vocabulary: settings.vocabulary,
    seed,
  };
}

/**
 * One closed-loop window of `scenario` at `concurrency`, on a transport of its own.
 */
async function measureWindow({
  baseUrl,
  server,
  scenario,
  ctx,
  concurrency,
  settings,
}: {
  baseUrl: string;
  server: RunningServer;
  scenario: Scenario;
  ctx: ReturnType<typeof contextFor>;
  concurrency: number;
  settings: Settings;
}) {
  const transport = createTransport(settings.clientKind, {
    baseUrl,
    concurrency,
    timeoutMs: settings.timeoutMs,
  });
  try {
    return await runClosedLoop({
      transport,
      concurrency,
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      next: scenario.requests(ctx),
      check: scenario.check,
      note: scenario.note,
      expectStatus: scenario.expectStatus,
      server: { pgid: server.pgid, proxyPort: server.proxyPort },
    });
  } finally {
    transport.close();
  }
}

/**
 * Sends one request and times its whole answer.
 */
async function firstAnswer(
  transport: Transport,
  req: BenchRequest,
): Promise<{ ms: number; status: number | null; error?: string }> {
  const t0 = performance.now();
  try {
    const res = await transport.send(req);
    return { ms: performance.now() - t0, status: res.status };
  } catch (err) {
    return {
      ms: performance.now() - t0,
      status: null,
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

/**
 * Measures scenarios against one server and address, each at every concurrency level; the first
 * scenario is the no-op baseline the ratios refer to.
 */
export async function measureRun({
  label,
  description,
  baseUrl,
  server,
  scenarios,
  settings,
}: {
  label: string;
  description: string;
  baseUrl: string;
  server: RunningServer;
  scenarios: Scenario[];
  settings: Settings;
}): Promise<RunResult> {
  const run: RunResult = {
    profile: label,
    description,
    server: { kind: server.kind, port: server.port, baseUrl },
    scenarios: [],
  };
  const transportFor = (concurrency: number) =>
    createTransport(settings.clientKind, { baseUrl, concurrency, timeoutMs: settings.timeoutMs });
  for (const scenario of scenarios) {
    const ctx = contextFor(scenario, settings, settings.seed);
    let prepared: Record<string, unknown> | undefined;
    if (scenario.prepare) {
      const transport = transportFor(1);
      try {
        prepared = await scenario.prepare(transport.send, ctx);
      } finally {
        transport.close();
      }
    }
    const result: ScenarioResult = {
      name: scenario.name,
      description: scenario.description,
      prepare: prepared,
      levels: [],
    };
    run.scenarios.push(result);
    // One request alone before any window: the first of a kind can load what later ones find in
    // memory (a namespace's vectors after a start, an isolate's caches). Measured and reported on
    // its own, it cannot eat a short window: a 100,000-chunk index loading for longer than the
    // warm-up once left a window with no answer at all.
    const alone = transportFor(1);
    try {
      result.firstAnswer = await firstAnswer(alone, scenario.requests(ctx)());
    } finally {
      alone.close();
    }
    for (const concurrency of settings.levels) {
      const load = await measureWindow({ baseUrl, server, scenario, ctx, concurrency, settings });
      const noop = run.scenarios[0]?.levels.find((l) => l.concurrency === concurrency);
      const level = { ...load, ratios: ratiosTo(load, scenario.name === "noop" ? load : noop) };
      result.levels.push(level);
      const bad = load.errors + load.mismatches;
      settings.log(
        `   ${label.padEnd(15)} ${scenario.name.padEnd(18)} c=${String(concurrency).padEnd(3)} ` +
          `${load.throughput.toFixed(0).padStart(6)} req/s  p50 ${load.latencyMs.p50.toFixed(2)} ms` +
          `  p99 ${load.latencyMs.p99.toFixed(2)} ms  x noop ${level.ratios.throughput.toFixed(2)}` +
          `${bad > 0 ? `  ${bad} FAILED` : ""}`,
      );
    }
  }
  return run;
}

/**
 * The no-op then `scenario`, `rounds` times in turn at one concurrency, each window as long as the
 * pass's: a ratio per round, and their median (nearest rank: the lower middle of an even count).
 * On a shared machine the load of other programs drifts over minutes; rounds close in time see
 * about the same, where one window per scenario may not.
 */
export async function measurePaired({
  baseUrl,
  server,
  baseline,
  scenario,
  concurrency,
  rounds,
  settings,
}: {
  baseUrl: string;
  server: RunningServer;
  baseline: Scenario;
  scenario: Scenario;
  concurrency: number;
  rounds: number;
  settings: Settings;
}): Promise<PairedResult> {
  // Another seed than the pass's: new queries, so no answer comes from a cache.
  const seed = settings.seed + 1;
  const window = (s: Scenario) =>
    measureWindow({
      baseUrl,
      server,
      scenario: s,
      ctx: contextFor(s, settings, seed),
      concurrency,
      settings,
    });
  const out: PairedRound[] = [];
  for (let i = 0; i < rounds; i++) {
    const noop = await window(baseline);
    const target = await window(scenario);
    const round = {
      noop: noop.throughput,
      target: target.throughput,
      ratio: ratio(target.throughput, noop.throughput),
      noopWorkerUs: noop.cpu?.serverUsPerRequest?.worker ?? null,
      targetWorkerUs: target.cpu?.serverUsPerRequest?.worker ?? null,
    };
    out.push(round);
    settings.log(
      `   round ${i + 1}/${rounds}: noop ${round.noop.toFixed(0)} req/s, ${scenario.name} ` +
        `${round.target.toFixed(0)} req/s at c=${concurrency}: ${round.ratio.toFixed(3)}x`,
    );
  }
  const median = percentileOf(
    out.map((r) => r.ratio).sort((a, b) => a - b),
    50,
  );
  return { scenario: scenario.name, concurrency, rounds: out, median };
}
