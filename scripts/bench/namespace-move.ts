// `npm run bench -- namespace-move`: moves a namespace holding a BEIR corpus (SciFact) to another
// D1 database of the pool while clients search it, against the local service (wrangler dev
// --local, as `npm run dev` serves it). Reports the errors and wrong answers seen during the move,
// how long each phase took, nDCG@10 before and after, and search latency before and during it.
import path from "node:path";
import { createClient, waitForIndexing } from "../../client/src/index.ts";
import { evaluateMode, ingestCorpus, type JudgedQuery, loadJudgedQueries, resolveDataset } from "../eval.ts";
import { parseCommandLine, positiveInt, UsageError } from "../lib/args.ts";
import type { LocalService } from "./local-service.ts";
import { SERVICE_OPTIONS, SERVICE_USAGE, serviceSettings, startLocalService } from "./local-service.ts";
import { runCleanups } from "./processes.ts";
import { table, writeJson } from "./report.ts";
import { ROOT } from "./server.ts";
import { summarizeLatencies } from "./stats.ts";

const DEFAULT_DATASET = path.join(ROOT, "test/fixtures/scifact");

const USAGE = `Usage: npm run bench -- namespace-move [options]

Serves the Worker locally (wrangler dev --local, its own temporary state), ingests a BEIR
dataset's corpus into one namespace and scores keyword and hybrid nDCG@10 on its judged queries.
Then --clients clients search the namespace continuously (judged query texts, keyword and hybrid,
cache bypassed; every --probe-every-th request a probe query whose relevant documents the first
keyword search found in its top 10): --baseline-seconds before the move, then while the namespace
moves to another pool database (POST /v1/admin/namespaces/{ns}/move), then --after-seconds after
it. Every answer must be a 200, not degraded, and a probe's answer must hold its expected
documents. nDCG@10 is scored again after the move.

Reports: errors, probe answers missing an expected document, each phase's duration (as seen by
polling the job every 250 ms), nDCG@10 before and after, and search p50/p95 before, during and
after the move. Targets: 0 errors, 0 missing, identical nDCG@10.

Options:
  --dataset DIR           BEIR folder (default: test/fixtures/scifact, a 750-document subset)
  --queries-split SPLIT   judgments to use (default: train)
  --to DATABASE           the pool database to move to (default: the first that is not the
                          namespace's own)
  --clients N             concurrent searching clients (default: 4)
  --probes N              probe queries (default: 20)
  --probe-every N         every Nth request of a client is a probe (default: 3)
  --baseline-seconds N    searching before the move (default: 30)
  --after-seconds N       searching after the move (default: 10)
  --batch-size N          documents per ingest request (default: 100)
  --ingest-concurrency N  ingest requests in flight (default: 2)
  --timeout N             seconds to wait for indexing, and for the move (default: 3600)
  --json PATH             where to write the JSON (default: bench-results/namespace-move-<timestamp>.json)
${SERVICE_USAGE}
  -h, --help              show this help`;

const NAMESPACE = "move-bench";
const POLL_MS = 250;
const MODES = ["keyword", "hybrid"] as const;

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Probe = { query: string; expected: string[] };
type Window = "before" | "during" | "after";
type Sample = { window: Window; ms: number; probe: boolean };

/** What the clients saw, by window: latencies, errors and probe answers missing a document. */
class Ledger {
  window: Window = "before";
  readonly samples: Sample[] = [];
  readonly errors: Record<Window, number> = { before: 0, during: 0, after: 0 };
  readonly missing: Record<Window, number> = { before: 0, during: 0, after: 0 };
  readonly examples: string[] = [];

  record(sample: Sample, problem: { kind: "error" | "missing"; detail: string } | null) {
    this.samples.push(sample);
    if (problem === null) return;
    (problem.kind === "error" ? this.errors : this.missing)[sample.window]++;
    if (this.examples.length < 10) this.examples.push(`${sample.window} ${problem.kind}: ${problem.detail}`);
  }

  latencies(window: Window) {
    const s = summarizeLatencies(this.samples.filter((x) => x.window === window).map((x) => x.ms));
    return { requests: s.count, p50: round(s.p50), p95: round(s.p95), max: round(s.max) };
  }
}

const round = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null);

const searchBody = (query: string, mode: "keyword" | "hybrid") => ({
  query,
  mode,
  topK: 10,
  groupBy: "document",
  includeText: false,
  cache: "bypass",
});

function resultIds(body: Record<string, unknown>): string[] {
  const results = Array.isArray(body.results) ? body.results : [];
  return results.map((r) => (typeof r?.id === "string" ? r.id : ""));
}

/** Why an answer fails the check, or null. */
function checkAnswer(res: { status: number; body: Record<string, unknown> }, expected: string[]) {
  if (res.status !== 200)
    return { kind: "error" as const, detail: `${res.status} ${JSON.stringify(res.body).slice(0, 200)}` };
  const degraded = res.body.degraded;
  if (!Array.isArray(degraded) || degraded.length > 0)
    return { kind: "error" as const, detail: `degraded ${JSON.stringify(degraded)}` };
  const ids = new Set(resultIds(res.body));
  const lost = expected.filter((id) => !ids.has(id));
  return lost.length > 0 ? { kind: "missing" as const, detail: `lost ${lost.join(",")}` } : null;
}

/**
 * Probe queries: judged queries whose keyword top 10 holds at least one relevant document; those
 * documents are what each later answer to the probe must hold.
 */
async function pickProbes(service: LocalService, queries: JudgedQuery[], count: number): Promise<Probe[]> {
  const probes: Probe[] = [];
  for (const q of queries) {
    if (probes.length >= count) break;
    const res = await service.call(
      "POST",
      `/v1/namespaces/${NAMESPACE}/search`,
      searchBody(q.text, "keyword"),
    );
    if (res.status !== 200) throw new Error(`probe search: ${res.status} ${JSON.stringify(res.body)}`);
    const expected = resultIds(res.body).filter((id) => (q.grades.get(id) ?? 0) > 0);
    if (expected.length > 0) probes.push({ query: q.text, expected });
  }
  if (probes.length === 0) throw new Error("no judged query finds a relevant document: no probe");
  return probes;
}

/** One client: searches until `stop()`, a probe every `probeEvery` requests. */
async function client(options: {
  service: LocalService;
  ledger: Ledger;
  texts: string[];
  probes: Probe[];
  probeEvery: number;
  offset: number;
  stop: () => boolean;
}) {
  const { service, ledger, texts, probes, probeEvery, offset } = options;
  for (let i = offset; !options.stop(); i++) {
    const probe = i % probeEvery === 0 ? probes[Math.floor(i / probeEvery) % probes.length] : undefined;
    const query = probe?.query ?? texts[(i * 7919) % texts.length] ?? "";
    const mode = probe ? "keyword" : (MODES[i % MODES.length] ?? "keyword");
    const window = ledger.window;
    const started = performance.now();
    let problem: ReturnType<typeof checkAnswer>;
    try {
      const res = await service.call("POST", `/v1/namespaces/${NAMESPACE}/search`, searchBody(query, mode));
      problem = checkAnswer(res, probe?.expected ?? []);
    } catch (err) {
      problem = { kind: "error", detail: err instanceof Error ? err.message : String(err) };
    }
    ledger.record({ window, ms: performance.now() - started, probe: probe !== undefined }, problem);
  }
}

type MoveAnswer = {
  id: string;
  state: string;
  phase: string;
  from: string;
  to: string;
  error: string | null;
};

/** Starts the move: to `to`, or to the first pool member the namespace is not in. */
async function startMove(service: LocalService, to: string | undefined): Promise<MoveAnswer> {
  const shards = await service.call("GET", "/v1/admin/shards");
  const pool = Array.isArray(shards.body.databases)
    ? shards.body.databases.filter((d) => d?.inPool).map((d) => String(d.database))
    : [];
  for (const target of to === undefined ? pool : [to]) {
    const res = await service.call("POST", `/v1/admin/namespaces/${NAMESPACE}/move`, { to: target });
    if (res.status === 202) return res.body as unknown as MoveAnswer;
    if (res.status !== 409 || to !== undefined)
      throw new Error(`move to ${target}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  throw new Error(`no pool database to move to (pool: ${pool.join(", ")})`);
}

/** Follows the job until it ends; returns each phase's duration in seconds (first seen to next). */
async function followMove(service: LocalService, job: MoveAnswer, timeoutMs: number) {
  const started = performance.now();
  const seen: { phase: string; at: number }[] = [{ phase: job.phase, at: started }];
  let current = job;
  while (current.state === "running") {
    if (performance.now() - started > timeoutMs) throw new Error(`the move took over ${timeoutMs / 1000} s`);
    await sleep(POLL_MS);
    const res = await service.call("GET", `/v1/admin/namespaces/${NAMESPACE}/move/${job.id}`);
    if (res.status !== 200) continue;
    current = res.body as unknown as MoveAnswer;
    if (current.phase !== seen[seen.length - 1]?.phase)
      seen.push({ phase: current.phase, at: performance.now() });
  }
  const ended = performance.now();
  const phases = seen
    .filter((s) => s.phase !== "done")
    .map((s, i, all) => ({ phase: s.phase, seconds: round(((all[i + 1]?.at ?? ended) - s.at) / 1000) }));
  return { job: current, seconds: round((ended - started) / 1000), phases };
}

async function scoreModes(service: LocalService, queries: JudgedQuery[]) {
  const api = createClient({ baseUrl: service.baseUrl, apiKey: service.adminKey, timeoutMs: 120_000 });
  const scores: Record<string, { ndcgAt10: number; degraded: number }> = {};
  for (const mode of MODES) {
    const r = await evaluateMode({
      client: api,
      namespace: NAMESPACE,
      mode,
      queries,
      concurrency: 4,
      onProgress: () => {},
    });
    scores[mode] = { ndcgAt10: Number(r.ndcgAt10.toFixed(4)), degraded: r.degradedQueries };
  }
  return scores;
}

async function ingest(service: LocalService, corpusPath: string, options: ReturnType<typeof parseOptions>) {
  const api = createClient({ baseUrl: service.baseUrl, apiKey: service.adminKey, timeoutMs: 120_000 });
  const started = performance.now();
  const corpus = await ingestCorpus({
    client: api,
    namespace: NAMESPACE,
    corpusPath,
    limit: undefined,
    batchSize: options.batchSize,
    concurrency: options.ingestConcurrency,
    submit: true,
    onProgress: () => {},
  });
  let reportedAt = 0;
  const stats = await waitForIndexing(api, NAMESPACE, {
    expected: corpus.accepted,
    timeoutMs: options.timeoutMs,
    intervalMs: 2000,
    onProgress: (s, elapsedMs) => {
      if (elapsedMs - reportedAt < 30_000) return;
      reportedAt = elapsedMs;
      log(
        `  ${s.documents}/${corpus.accepted} indexed, ${s.pending} pending (${Math.round(elapsedMs / 1000)} s)`,
      );
    },
  });
  if (stats.failed > 0) throw new Error(`${stats.failed} documents failed to index`);
  return {
    documents: stats.documents,
    chunks: stats.chunks,
    seconds: round((performance.now() - started) / 1000),
  };
}

function parseOptions(argv: string[]) {
  const values = parseCommandLine(argv, {
    ...SERVICE_OPTIONS,
    dataset: { type: "string" },
    "queries-split": { type: "string" },
    to: { type: "string" },
    clients: { type: "string" },
    probes: { type: "string" },
    "probe-every": { type: "string" },
    "baseline-seconds": { type: "string" },
    "after-seconds": { type: "string" },
    "batch-size": { type: "string" },
    "ingest-concurrency": { type: "string" },
    timeout: { type: "string" },
    json: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  const batchSize = positiveInt(values["batch-size"], "--batch-size", 100);
  if (batchSize > 1000) throw new UsageError("--batch-size: at most 1000");
  return {
    help: values.help === true,
    service: serviceSettings(values),
    dataset: typeof values.dataset === "string" ? values.dataset : DEFAULT_DATASET,
    split: typeof values["queries-split"] === "string" ? values["queries-split"] : "train",
    to: typeof values.to === "string" ? values.to : undefined,
    clients: positiveInt(values.clients, "--clients", 4),
    probes: positiveInt(values.probes, "--probes", 20),
    probeEvery: positiveInt(values["probe-every"], "--probe-every", 3),
    baselineMs: positiveInt(values["baseline-seconds"], "--baseline-seconds", 30) * 1000,
    afterMs: positiveInt(values["after-seconds"], "--after-seconds", 10) * 1000,
    batchSize,
    ingestConcurrency: positiveInt(values["ingest-concurrency"], "--ingest-concurrency", 2),
    timeoutMs: positiveInt(values.timeout, "--timeout", 3600) * 1000,
    json:
      typeof values.json === "string"
        ? values.json
        : path.join(
            ROOT,
            "bench-results",
            `namespace-move-${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
          ),
  };
}

/** Searches with the clients before, during and after the move; returns the move's figures. */
async function searchThroughMove(
  service: LocalService,
  judged: JudgedQuery[],
  probes: Probe[],
  options: ReturnType<typeof parseOptions>,
) {
  const ledger = new Ledger();
  let stopped = false;
  const texts = judged.map((q) => q.text);
  const clients = Array.from({ length: options.clients }, (_, offset) =>
    client({ service, ledger, texts, probes, probeEvery: options.probeEvery, offset, stop: () => stopped }),
  );
  try {
    await sleep(options.baselineMs);
    ledger.window = "during";
    const job = await startMove(service, options.to);
    log(`moving ${NAMESPACE} from ${job.from} to ${job.to} (job ${job.id})`);
    const move = await followMove(service, job, options.timeoutMs);
    ledger.window = "after";
    await sleep(options.afterMs);
    return { ledger, move };
  } finally {
    stopped = true;
    await Promise.all(clients);
  }
}

function printReport(report: {
  move: Awaited<ReturnType<typeof followMove>>;
  ledger: Ledger;
  before: Awaited<ReturnType<typeof scoreModes>>;
  after: Awaited<ReturnType<typeof scoreModes>>;
}) {
  const { move, ledger, before, after } = report;
  console.log(
    `\nMove ${move.job.from} -> ${move.job.to}: ${move.job.state} in ${move.seconds} s${move.job.error ? ` (${move.job.error})` : ""}`,
  );
  console.log(
    table(
      ["phase", "seconds"],
      move.phases.map((p) => [p.phase, String(p.seconds)]),
    ),
  );
  console.log(
    `\n${table(
      ["window", "requests", "errors", "missing", "p50 ms", "p95 ms", "max ms"],
      (["before", "during", "after"] as const).map((w) => {
        const l = ledger.latencies(w);
        return [
          w,
          String(l.requests),
          String(ledger.errors[w]),
          String(ledger.missing[w]),
          String(l.p50),
          String(l.p95),
          String(l.max),
        ];
      }),
    )}`,
  );
  console.log(
    `\n${table(
      ["mode", "nDCG@10 before", "nDCG@10 after", "degraded before", "degraded after"],
      MODES.map((m) => [
        m,
        String(before[m]?.ndcgAt10),
        String(after[m]?.ndcgAt10),
        String(before[m]?.degraded),
        String(after[m]?.degraded),
      ]),
    )}`,
  );
  for (const line of ledger.examples) console.log(`  ${line}`);
}

export async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const dataset = await resolveDataset(options.dataset, options.split);
  try {
    const service = await startLocalService({
      ...options.service,
      label: "move",
      log,
      vars: { LOG_LEVEL: "warn" },
    });
    log(`ingesting ${dataset.corpusPath} into ${NAMESPACE}...`);
    const corpus = await ingest(service, dataset.corpusPath, options);
    log(`  ${corpus.documents} documents, ${corpus.chunks} chunks in ${corpus.seconds} s`);
    const { judged } = await loadJudgedQueries(dataset.queriesPath, dataset.qrelsPath, undefined);
    const before = await scoreModes(service, judged);
    const probes = await pickProbes(service, judged, options.probes);
    log(
      `scored ${judged.length} queries; ${probes.length} probes; searching with ${options.clients} clients`,
    );
    const { ledger, move } = await searchThroughMove(service, judged, probes, options);
    const after = await scoreModes(service, judged);
    printReport({ move, ledger, before, after });
    const windows = (["before", "during", "after"] as const).map((w) => ({
      window: w,
      ...ledger.latencies(w),
      errors: ledger.errors[w],
      missing: ledger.missing[w],
    }));
    await writeJson(options.json, {
      dataset: dataset.name,
      split: dataset.split,
      corpus,
      queries: judged.length,
      probes: probes.length,
      clients: options.clients,
      move,
      windows,
      ndcgAt10: { before, after },
      examples: ledger.examples,
    });
    log(`wrote ${options.json}`);
    const failed = move.job.state !== "complete" || windows.some((w) => w.errors + w.missing > 0);
    return failed ? 1 : 0;
  } finally {
    await runCleanups();
  }
}
