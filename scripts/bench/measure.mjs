// One measured pass: every scenario of a list at every concurrency level against one address,
// with ratios to the pass's first scenario (the no-op baseline).
import { DATASETS } from "./datasets.mjs";
import { runClosedLoop } from "./load.mjs";
import { ratiosTo } from "./report.mjs";
import { createTransport } from "./transport.mjs";

/** @typedef {import("./report.mjs").RunResult} RunResult */

/**
 * Sends one request and times its whole answer.
 * @param {import("./transport.mjs").Transport} transport
 * @param {import("./transport.mjs").BenchRequest} req
 * @returns {Promise<{ ms: number, status: number | null, error?: string }>}
 */
async function firstAnswer(transport, req) {
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
 * @param {{ label: string, description: string, baseUrl: string,
 *   server: import("./server.mjs").RunningServer, scenarios: import("./scenarios.mjs").Scenario[],
 *   settings: { adminKey: string, vocabulary: import("./corpus.mjs").Vocabulary, levels: number[],
 *     warmupMs: number, durationMs: number, clientKind: "http" | "fetch", seed: number,
 *     timeoutMs: number, log: (line: string) => void } }} options
 * @returns {Promise<RunResult>}
 */
export async function measureRun({ label, description, baseUrl, server, scenarios, settings }) {
  /** @type {RunResult} */
  const run = {
    profile: label,
    description,
    server: { kind: server.kind, port: server.port, baseUrl },
    scenarios: [],
  };
  /** @param {number} concurrency */
  const transportFor = (concurrency) =>
    createTransport(settings.clientKind, { baseUrl, concurrency, timeoutMs: settings.timeoutMs });
  for (const scenario of scenarios) {
    const ctx = {
      adminKey: settings.adminKey,
      namespace: scenario.dataset ? (DATASETS[scenario.dataset]?.namespace ?? "") : "",
      vocabulary: settings.vocabulary,
      seed: settings.seed,
    };
    /** @type {Record<string, unknown> | undefined} */
    let prepared;
    if (scenario.prepare) {
      const transport = transportFor(1);
      try {
        prepared = await scenario.prepare(transport.send, ctx);
      } finally {
        transport.close();
      }
    }
    /** @type {import("./report.mjs").ScenarioResult} */
    const result = { name: scenario.name, description: scenario.description, prepare: prepared, levels: [] };
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
      const transport = transportFor(concurrency);
      let load;
      try {
        load = await runClosedLoop({
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
