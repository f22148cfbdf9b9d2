// `npm run bench`: builds the Worker, serves it with `wrangler dev --local` from a temporary
// workspace, seeds a namespace, and measures each scenario with a closed-loop load generator over
// loopback against the same server run's no-op endpoint. Prints tables and writes JSON to
// bench-results/. Everything it starts is stopped at the end, on errors and on Ctrl-C.
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { createClient } from "../client/src/index.ts";
import { type CounterSample, counterLines, counterReport, ingestCounters } from "./bench/counters.ts";
import { DATASETS, loadSamples, seedDataset, seedTimeoutMs } from "./bench/datasets.ts";
import { measurePaired, measureRun } from "./bench/measure.ts";
import { installSignalHandlers, onCleanup, runCleanups, wasInterrupted } from "./bench/processes.ts";
import type { RunResult } from "./bench/report.ts";
import { bundleLines, renderReport, writeJson } from "./bench/report.ts";
import type { Scenario } from "./bench/scenarios.ts";
import { baselineScenario, HIT_QUERY, PROFILES, selectScenarios, waitSettled } from "./bench/scenarios.ts";
import {
  applyMigrations,
  buildBundle,
  createWorkspace,
  LOCAL_OBSERVABILITY,
  PORT_RANGE,
  ROOT,
  randomAdminKey,
  removeWorkspace,
  startTrivial,
  startWrangler,
} from "./bench/server.ts";
import { createTransport, TRANSPORTS } from "./bench/transport.ts";
import { parseCommandLine, positiveInt, run, UsageError } from "./lib/args.ts";

const USAGE = `Usage: npm run bench [-- options]

Builds the Worker (and reports the deploy bundle's size), serves it with wrangler dev --local from a
temporary workspace (its own state; .wrangler is not touched), seeds a namespace of about 1,000
chunks, and measures each scenario at each concurrency with a closed-loop load generator over
loopback. Every figure is also given as a ratio to GET /healthz on the same server run.

Options:
  --duration SECONDS     measured window per scenario and concurrency (default: 5)
  --warmup SECONDS       unmeasured warm-up before each window (default: 1)
  --concurrency LIST     concurrency levels, comma-separated (default: 1,16)
  --scenarios LIST       scenario names or groups: default, diagnostics, all (default: default)
  --port N               port for wrangler dev (default: a free one in ${PORT_RANGE[0]}-${PORT_RANGE[1]})
  --client http|fetch    load generator's HTTP client (default: http)
  --json PATH            where to write the JSON (default: bench-results/bench-<timestamp>.json)
  --no-direct            skip the second pass straight to the Worker's socket behind the dev proxy
  --rounds N             with miss-hybrid-10k: N more rounds of the no-op then the hybrid miss, at
                         the highest concurrency; the target is checked on their median ratio
                         (default: 3; 0 checks the pass's single ratio)
  --keep                 keep the temporary workspace (state, bundle, server logs)
  -h, --help             show this help

Scenarios (default group): client-ceiling (trivial Node server), hit-isolate, miss-keyword,
miss-vector, miss-hybrid, hit-cache-api (server restarted with RESULT_CACHE_LRU_BYTES=0).
Diagnostics: v1-not-found, v1-no-key, hit-isolate-small.
Scale: miss-keyword-10k, miss-vector-10k, miss-hybrid-10k (group "scale", seeds 10,000 chunks);
scale-100k: the same over 100,000 chunks. Each dataset's line reports its ingest rate (documents/s
and chunks/s, end to end through the queue).

Exit status: 0, or 1 when any answer failed its check (status, x-cache layer, body).

npm run bench -- index-micro [options] runs the local index engine's micro-benchmark instead.
npm run bench -- ingest-worst [options] measures the ingest's worst cases in one queue invocation.
npm run bench -- ingest-adversarial [options] times the ingest parsers on prose and hostile inputs.
npm run bench -- ingest-flood [options] measures one tenant's ingest lag while another floods it.
npm run bench -- namespace-move [options] moves a namespace between D1 databases while clients search it.`;

const REQUEST_TIMEOUT_MS = 30_000;
/** The scenario with a throughput target, measured again in rounds interleaved with the no-op. */
const PAIRED_SCENARIO = "miss-hybrid-10k";
const SEED = 20_240_601;

const log = (line: string) => process.stderr.write(`${line}\n`);

function concurrencyLevels(value: string | undefined): number[] {
  const levels = (value ?? "1,16").split(",").map((s) => Number(s.trim()));
  if (levels.length === 0 || levels.some((n) => !Number.isInteger(n) || n < 1 || n > 1024)) {
    throw new UsageError(`--concurrency: expected positive integers like 1,16, got ${value}`);
  }
  return [...new Set(levels)];
}

function seconds(value: string | undefined, flag: string, fallback: number) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag}: expected seconds, got ${value}`);
  return n;
}

/** Read-only facts about the code under test, for comparing runs. */
function gitFacts() {
  const git = (args: string[]) =>
    spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
  const status = git(["status", "--porcelain"]);
  return { commit: git(["rev-parse", "HEAD"]) || null, changedFiles: status ? status.split("\n").length : 0 };
}

async function main(argv: string[]): Promise<number> {
  // The local index engine's micro-benchmark needs no server: `npm run bench -- index-micro [--help]`.
  if (argv[0] === "index-micro") return (await import("./bench/index-micro.ts")).main(argv.slice(1));
  // The ingest's worst cases, each in one queue invocation: `npm run bench -- ingest-worst [--help]`.
  if (argv[0] === "ingest-worst") return (await import("./bench/ingest-worst.ts")).main(argv.slice(1));
  // The ingest parsers on hostile inputs, no server either: `npm run bench -- ingest-adversarial`.
  if (argv[0] === "ingest-adversarial")
    return (await import("./bench/ingest-adversarial.ts")).main(argv.slice(1));
  // Ingest under an adversarial flood from another tenant: `npm run bench -- ingest-flood [--help]`.
  if (argv[0] === "ingest-flood") return (await import("./bench/ingest-flood.ts")).main(argv.slice(1));
  // A namespace moved between D1 databases while clients search it: `npm run bench -- namespace-move`.
  if (argv[0] === "namespace-move") return (await import("./bench/namespace-move.ts")).main(argv.slice(1));
  const values = parseCommandLine(argv, {
    duration: { type: "string" },
    warmup: { type: "string" },
    concurrency: { type: "string" },
    scenarios: { type: "string" },
    port: { type: "string" },
    client: { type: "string" },
    json: { type: "string" },
    keep: { type: "boolean" },
    "no-direct": { type: "boolean" },
    rounds: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const durationMs = seconds(values.duration, "--duration", 5) * 1000;
  const warmupMs = seconds(values.warmup, "--warmup", 1) * 1000;
  if (durationMs <= 0) throw new UsageError("--duration must be above 0");
  const levels = concurrencyLevels(values.concurrency);
  const rounds = values.rounds === undefined ? 3 : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 0) {
    throw new UsageError(`--rounds: expected 0 or a positive integer, got ${String(values.rounds)}`);
  }
  const port = values.port === undefined ? undefined : positiveInt(values.port, "--port", 0);
  const client = values.client ?? "http";
  if (client !== "http" && client !== "fetch") {
    throw new UsageError(`--client: expected ${TRANSPORTS.join(" or ")}, got ${client}`);
  }
  const clientKind = client as "http" | "fetch";
  const jsonOption = values.json;
  let selected: Scenario[];
  try {
    selected = selectScenarios(values.scenarios ?? "default");
  } catch (err) {
    throw new UsageError(`--scenarios: ${err instanceof Error ? err.message : String(err)}`);
  }
  const startedAt = new Date();
  const jsonFile = path.resolve(
    jsonOption ??
      path.join(ROOT, "bench-results", `bench-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`),
  );

  installSignalHandlers();
  const workspace = createWorkspace();
  // Runs last (cleanups run newest first): after Ctrl-C, once the servers are down.
  onCleanup(async () => {
    if (wasInterrupted() && !values.keep) removeWorkspace(workspace);
  });
  let failed = true;
  try {
    const profiles = Object.keys(PROFILES).filter((p) => selected.some((s) => s.profile === p));
    const adminKey = randomAdminKey();
    const samples = await loadSamples();
    const loadAvgStart = os.loadavg();

    log(`workspace ${workspace.dir}`);
    log("building the deploy bundle (wrangler deploy --dry-run)...");
    const bundle = await buildBundle(workspace);
    for (const line of bundleLines(bundle)) log(line);
    if (profiles.some((p) => PROFILES[p]?.server === "wrangler")) {
      log("applying D1 migrations to the bench state...");
      await applyMigrations(workspace);
    }

    const settings = {
      adminKey,
      vocabulary: samples.vocabulary,
      levels,
      warmupMs,
      durationMs,
      clientKind,
      seed: SEED,
      timeoutMs: REQUEST_TIMEOUT_MS,
      log,
    };
    const runs: RunResult[] = [];
    const seeded: Record<string, Awaited<ReturnType<typeof seedDataset>>> = {};
    const ingestCost: Record<string, CounterSample | null> = {};
    for (const profileName of profiles) {
      const profile = PROFILES[profileName];
      if (!profile) continue;
      log(`\n== ${profileName}: ${profile.description}`);
      const server =
        profile.server === "trivial"
          ? await startTrivial({ workspace, label: profileName })
          : await startWrangler({ workspace, adminKey, vars: profile.vars ?? {}, port, label: profileName });
      log(`   serving on ${server.baseUrl} (process group ${server.pgid})`);
      try {
        const scenarios = [
          baselineScenario(profileName),
          ...selected.filter((s) => s.profile === profileName),
        ];
        for (const name of new Set(scenarios.map((s) => s.dataset).filter((d) => d !== undefined))) {
          const dataset = DATASETS[name];
          if (!dataset || seeded[name]) continue;
          log(`   seeding dataset ${name} into namespace ${dataset.namespace}...`);
          const client = createClient({ baseUrl: server.baseUrl, apiKey: adminKey });
          const timeoutMs = seedTimeoutMs(dataset.targetChunks);
          seeded[name] = await seedDataset(client, dataset, samples, { timeoutMs, log });
          const s = seeded[name];
          log(`   ${s.documents} documents, ${s.chunks} chunks indexed in ${s.seconds.toFixed(1)} s`);
          ingestCost[name] = await ingestCounters(client.request, dataset.namespace);
          const transport = createTransport(clientKind, {
            baseUrl: server.baseUrl,
            concurrency: 1,
            timeoutMs: REQUEST_TIMEOUT_MS,
          });
          try {
            const ctx = {
              adminKey,
              namespace: dataset.namespace,
              vocabulary: samples.vocabulary,
              seed: SEED,
            };
            const settled = await waitSettled(transport.send, ctx);
            log(`   write settled: a repeated search is a cache hit (after ${settled.ms} ms)`);
          } finally {
            transport.close();
          }
        }
        const measured = await measureRun({
          label: profileName,
          description: profile.description,
          baseUrl: server.baseUrl,
          server,
          scenarios,
          settings,
        });
        runs.push(measured);
        const paired = scenarios.find((s) => s.name === PAIRED_SCENARIO);
        const baseline = scenarios[0];
        if (paired && baseline && rounds > 0) {
          const concurrency = Math.max(...levels);
          log(`   ${rounds} rounds of ${baseline.name} then ${paired.name} at c=${concurrency}:`);
          measured.paired = await measurePaired({
            baseUrl: server.baseUrl,
            server,
            baseline,
            scenario: paired,
            concurrency,
            rounds,
            settings,
          });
        }
        const direct = scenarios.filter((s) => s.direct);
        if (server.directUrl && direct.length > 1 && !values["no-direct"]) {
          log(`   direct: the Worker's own socket ${server.directUrl} (no dev proxy, no request log)`);
          runs.push(
            await measureRun({
              label: `${profileName}/direct`,
              description: `${profile.description}; requests sent to the Worker's socket behind the dev proxy`,
              baseUrl: server.directUrl,
              server,
              scenarios: direct,
              settings,
            }),
          );
        }
      } finally {
        await server.stop();
      }
    }

    const report = {
      version: 1,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      options: {
        durationMs,
        warmupMs,
        levels,
        rounds,
        client: clientKind,
        scenarios: selected.map((s) => s.name),
        seed: SEED,
        localObservability: LOCAL_OBSERVABILITY,
      },
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? null,
        node: process.version,
        loadAvgStart,
        loadAvgEnd: os.loadavg(),
      },
      code: gitFacts(),
      hitQuery: HIT_QUERY,
      bundle,
      datasets: seeded,
      runs,
      counters: counterReport(runs, ingestCost, startedAt),
    };
    await writeJson(jsonFile, report);
    console.log(renderReport(report, jsonFile));
    for (const line of counterLines(report.counters)) console.log(line);
    failed = false;
    return runs.some((r) => r.scenarios.some((s) => s.levels.some((l) => l.errors + l.mismatches > 0)))
      ? 1
      : 0;
  } catch (err) {
    // Requests cut off by the shutdown fail; that is not an error to report.
    if (wasInterrupted()) return 130;
    throw err;
  } finally {
    await runCleanups();
    if (!wasInterrupted()) {
      if (failed || values.keep) log(`kept the workspace (logs, state): ${workspace.dir}`);
      else removeWorkspace(workspace);
    }
  }
}

process.exitCode = await run(main, USAGE);
