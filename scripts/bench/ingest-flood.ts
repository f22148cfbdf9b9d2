// `npm run bench -- ingest-flood`: one tenant floods ingest with adversarial documents while another
// ingests ordinary ones at a steady rate; reports the steady tenant's upload latency, its lag from
// the accepted write (202) to `indexed`, and how many of its documents never got indexed, with and
// without the flood, against the local service (wrangler dev --local, as `npm run dev` serves it).
import path from "node:path";
import { RATE_LIMIT_TIERS } from "../../src/auth/scopes.ts";
import { parseCommandLine, positiveInt, UsageError } from "../lib/args.ts";
import { seededRandom } from "../lib/random.ts";
import type { LocalService } from "./local-service.ts";
import {
  createKey,
  SERVICE_OPTIONS,
  SERVICE_USAGE,
  serviceSettings,
  startLocalService,
} from "./local-service.ts";
import { runCleanups } from "./processes.ts";
import { type CpuSnapshot, cpuDelta, cpuSnapshot, runQueueWaitMs, workerPids } from "./procstat.ts";
import { table, writeJson } from "./report.ts";
import { ROOT } from "./server.ts";
import { summarizeLatencies } from "./stats.ts";

const USAGE = `Usage: npm run bench -- ingest-flood [options]

Serves the Worker locally (wrangler dev --local, BACKEND=local, its own temporary state), then runs
two phases of --seconds each: "no-flood" (the steady tenant alone) and "flood" (the steady tenant
while a write-scoped key floods adversarial documents: deeply nested JSON, long runs of markdown
markup, huge single lines, near-cap sizes). The steady tenant (its own key and namespace) writes
one ordinary document every 1/--rate seconds and polls each until it is indexed.

Reports for the steady tenant, each p50/p95: upload latency (request start to the 202), lag (the
202 to the document indexed, as the status answer's updatedAt records it: what a user waits from
an accepted write until search can return it) and total (request start to indexed); the count
lost (not indexed within --grace seconds after its phase); and the CPU the Worker's process, the
bench and other programs used in each phase. Target: flood lag p95 within 2x of no-flood, 0 lost.

Options:
  --seconds N     length of each phase (default: 60)
  --rate N        steady documents per second (default: 2)
  --flooders N    concurrent flood writers (default: 4)
  --grace N       seconds a phase waits for its last documents (default: 120)
  --flood-tier T  the flooding key's rate limit tier: low, standard, high or unlimited
                  (default: standard, 200 requests per 10 s)
  --no-flood      run the no-flood phase only
  --json PATH     where to write the JSON (default: bench-results/ingest-flood-<timestamp>.json)
${SERVICE_USAGE}
  -h, --help      show this help`;

const SEED = 20_261_205;
const MIB = 1024 * 1024;
const POLL_MS = 250;

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Adversarial documents, each under the 1 MiB document cap unless it is meant to probe it.
 */
export function floodDocument(random: () => number): { kind: string; contentType: string; text: string } {
  const pick = Math.floor(random() * 6);
  const n = (min: number, max: number) => min + Math.floor(random() * (max - min));
  switch (pick) {
    case 0: {
      const depth = n(10_000, 200_000);
      return {
        kind: "nested-json",
        contentType: "application/json",
        text: `${"[".repeat(depth)}1${"]".repeat(depth)}`,
      };
    }
    case 1: {
      const unit = ["*", "_", "`", "[", "> ", "#", "|", "\\"][n(0, 8)] ?? "*";
      return {
        kind: "markdown-run",
        contentType: "text/markdown",
        text: unit.repeat(Math.floor(n(200_000, 1_000_000) / unit.length)),
      };
    }
    case 2:
      return { kind: "huge-line", contentType: "text/plain", text: "x".repeat(n(500_000, MIB - 1024)) };
    case 3: {
      const words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
      const parts = [];
      let size = 0;
      while (size < MIB - 2048) {
        const word = words[n(0, words.length)] ?? "alpha";
        parts.push(word);
        size += word.length + 1;
      }
      return { kind: "near-cap", contentType: "text/plain", text: parts.join(" ") };
    }
    case 4: {
      const depth = n(10_000, 60_000);
      return {
        kind: "nested-html",
        contentType: "text/html",
        text: `${"<div>".repeat(depth)}x${"</div>".repeat(depth)}`,
      };
    }
    default:
      return { kind: "markdown-table", contentType: "text/markdown", text: "|a".repeat(n(100_000, 400_000)) };
  }
}

type PhaseOptions = {
  phase: string;
  seconds: number;
  rate: number;
  flooders: number;
  graceSeconds: number;
  flood: boolean;
  tenantKey: string;
  floodKey: string;
};

/** One steady document: when its upload started, when the 202 came back, and once indexed. */
type Timing = { started: number; accepted: number };

/** The steady tenant's documents and what was measured of them. */
class SteadyLedger {
  readonly pending: Map<string, Timing> = new Map();
  readonly uploadMs: number[] = [];
  readonly queueLagMs: number[] = [];
  readonly totalMs: number[] = [];
  readonly observedMs: number[] = [];
  readonly tally = { submitted: 0, indexed: 0, failed: 0, rejected: 0, statusReadsRefused: 0 };

  uploaded(id: string, started: number, accepted: number, status: number) {
    this.tally.submitted += 1;
    this.uploadMs.push(accepted - started);
    if (status === 202) this.pending.set(id, { started, accepted });
    else this.tally.rejected += 1;
  }

  /**
   * The document read as indexed at `seenAt`; `indexedAt` is when its row became indexed (the
   * status answer's updatedAt, written by the consumer as it commits the document), so polling
   * delay does not count. Same machine, same clock.
   */
  indexed(id: string, timing: Timing, indexedAt: number, seenAt: number) {
    const at = Number.isFinite(indexedAt) ? indexedAt : seenAt;
    this.queueLagMs.push(Math.max(0, at - timing.accepted));
    this.totalMs.push(Math.max(0, at - timing.started));
    this.observedMs.push(seenAt - timing.accepted);
    this.tally.indexed += 1;
    this.pending.delete(id);
  }

  summary() {
    return {
      ...this.tally,
      lost: this.pending.size,
      uploadMs: summarizeLatencies(this.uploadMs),
      queueLagMs: summarizeLatencies(this.queueLagMs),
      totalMs: summarizeLatencies(this.totalMs),
      observedMs: summarizeLatencies(this.observedMs),
    };
  }
}

/**
 * Starts one upload every 1/rate seconds whether or not the previous one was answered (a slow
 * upload does not thin out the steady tenant's writes, or its samples).
 */
async function steadyWriter(
  service: LocalService,
  o: PhaseOptions,
  ns: string,
  endAt: number,
  ledger: SteadyLedger,
) {
  const uploads: Promise<void>[] = [];
  const start = Date.now();
  for (let i = 0; Date.now() < endAt; i++) {
    const id = `doc-${i}`;
    const started = Date.now();
    uploads.push(
      service
        .call(
          "PUT",
          `/v1/namespaces/${ns}/documents/${id}`,
          { text: `Ordinary note ${i} about tide pools, sandpipers and the morning fog over the bay.` },
          o.tenantKey,
        )
        .catch(() => ({ status: 0, body: null }))
        .then((res) => ledger.uploaded(id, started, Date.now(), res.status)),
    );
    await sleep(Math.max(0, start + ((i + 1) * 1000) / o.rate - Date.now()));
  }
  await Promise.all(uploads);
}

async function poll(
  service: LocalService,
  o: PhaseOptions,
  ns: string,
  ledger: SteadyLedger,
  done: () => boolean,
  deadline: () => number,
) {
  while (!done() || ledger.pending.size > 0) {
    for (const [id, timing] of [...ledger.pending]) {
      const res = await service
        .call("GET", `/v1/namespaces/${ns}/documents/${id}`, undefined, o.tenantKey)
        .catch(() => ({ status: 0, body: null }));
      if (res.status !== 200 || res.body === null) {
        ledger.tally.statusReadsRefused += 1;
        continue;
      }
      if (res.body.status === "indexed") {
        ledger.indexed(id, timing, Date.parse(String(res.body.updatedAt)), Date.now());
      } else if (res.body.status === "failed") {
        ledger.tally.failed += 1;
        ledger.pending.delete(id);
      }
    }
    await sleep(POLL_MS);
    if (done() && Date.now() > deadline()) break;
  }
}

type FloodTally = {
  submitted: number;
  accepted: number;
  uploadMs: number[];
  statuses: Record<string, number>;
};

async function flooder(
  service: LocalService,
  o: PhaseOptions,
  w: number,
  endAt: number,
  random: () => number,
  tally: FloodTally,
) {
  for (let i = 0; Date.now() < endAt; i++) {
    const doc = floodDocument(random);
    const started = Date.now();
    const res = await service
      .call(
        "PUT",
        `/v1/namespaces/flood-${o.phase}/documents/w${w}-${i}`,
        { text: doc.text, contentType: doc.contentType },
        o.floodKey,
      )
      .catch(() => ({ status: 0, body: null }));
    tally.submitted += 1;
    tally.uploadMs.push(Date.now() - started);
    if (res.status === 202) tally.accepted += 1;
    const key = `${doc.kind} ${res.status}`;
    tally.statuses[key] = (tally.statuses[key] ?? 0) + 1;
    // A refused flooder backs off as a client honouring 429 would, instead of spinning.
    if (res.status === 429) await sleep(250);
  }
}

async function runPhase(service: LocalService, o: PhaseOptions) {
  const tenantNs = `tenant-${o.phase}`;
  const endAt = Date.now() + o.seconds * 1000;
  const ledger = new SteadyLedger();
  const floodTally: FloodTally = { submitted: 0, accepted: 0, uploadMs: [], statuses: {} };
  const server = { pgid: service.pgid, proxyPort: service.proxyPort };
  const workers = workerPids(service.pgid, service.proxyPort);
  const cpuBefore = cpuSnapshot(server);
  const waitBefore = runQueueWaitMs(workers);
  let writing = true;
  const poller = poll(
    service,
    o,
    tenantNs,
    ledger,
    () => !writing,
    () => endAt + o.graceSeconds * 1000,
  );
  const random = seededRandom(SEED);
  const flooders = o.flood
    ? Array.from({ length: o.flooders }, (_, w) => flooder(service, o, w, endAt, random, floodTally))
    : [];
  await Promise.all([steadyWriter(service, o, tenantNs, endAt, ledger), ...flooders]);
  // CPU over the writing part of the phase, when the flood (if any) is running.
  const cpu = phaseCpu(cpuBefore, cpuSnapshot(server), runQueueWaitMs(workers) - waitBefore);
  writing = false;
  await poller;
  const { uploadMs, ...flood } = floodTally;
  return {
    phase: o.phase,
    tenant: ledger.summary(),
    flood: o.flood ? { ...flood, uploadMs: summarizeLatencies(uploadMs) } : null,
    cpu,
  };
}

/**
 * Cores used in a phase (1.0 = one core busy throughout): the Worker's workerd (API and consumer
 * locally), the rest of the server's group, this process, and the machine's other programs.
 */
function phaseCpu(a: CpuSnapshot | null, b: CpuSnapshot | null, waitMs: number) {
  const delta = cpuDelta(a, b, 0);
  if (!a || !b || !delta) return null;
  const cores = (role: string) => ((b.groups[role] ?? 0) - (a.groups[role] ?? 0)) / delta.wallMs;
  return {
    worker: cores("worker"),
    /** Threads of the worker workerd runnable but waiting for a CPU (in threads, like cores). */
    workerWaiting: waitMs / delta.wallMs,
    server: delta.serverCores,
    client: delta.clientCores,
    machineBusy: delta.machineBusyCores,
    other: delta.otherCores,
    machineCores: delta.cores,
  };
}

type PhaseResult = Awaited<ReturnType<typeof runPhase>>;

const LAG_DEFINITION =
  "lag = from the upload's 202 (accepted) to the document indexed (its status turns indexed and " +
  "search can return it), taken from the status answer's updatedAt so polling delay does not count";

const ms = (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : "-");
const cores = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(2));

/** Prints the phases' figures and the target line; returns whether the target was met. */
function report(results: PhaseResult[]): boolean | null {
  console.log(
    table(
      [
        "phase",
        "submitted",
        "indexed",
        "failed",
        "lost",
        "upload p50/p95",
        "lag p50/p95",
        "total p50/p95",
        "seen p95",
        "reads refused",
      ],
      results.map((r) => [
        r.phase,
        String(r.tenant.submitted),
        String(r.tenant.indexed),
        String(r.tenant.failed),
        String(r.tenant.lost),
        `${ms(r.tenant.uploadMs.p50)}/${ms(r.tenant.uploadMs.p95)}`,
        `${ms(r.tenant.queueLagMs.p50)}/${ms(r.tenant.queueLagMs.p95)}`,
        `${ms(r.tenant.totalMs.p50)}/${ms(r.tenant.totalMs.p95)}`,
        ms(r.tenant.observedMs.p95),
        String(r.tenant.statusReadsRefused),
      ]),
      1,
    ),
  );
  console.log(
    "(ms; upload = request start to 202; total = request start to indexed; seen = 202 to the bench's " +
      "first status read answering indexed, which waits behind its other reads; reads refused = status " +
      "reads not answered 200, e.g. 429 past the steady key's rate limit)",
  );
  console.log(`${LAG_DEFINITION}.`);
  console.log(
    table(
      [
        "phase",
        "worker cores",
        "worker waiting",
        "server cores",
        "bench cores",
        "other programs",
        "flood accepted",
        "flood upload p95",
      ],
      results.map((r) => [
        r.phase,
        cores(r.cpu?.worker),
        cores(r.cpu?.workerWaiting),
        cores(r.cpu?.server),
        cores(r.cpu?.client),
        cores(r.cpu?.other),
        r.flood ? `${r.flood.accepted}/${r.flood.submitted}` : "-",
        r.flood ? ms(r.flood.uploadMs.p95) : "-",
      ]),
      1,
    ),
  );
  console.log(
    "(cores over the writing part of each phase; the worker workerd runs both the API and the consumer " +
      "locally; worker waiting = its threads runnable but waiting for a CPU, from /proc schedstat)",
  );
  const [calm, flooded] = results;
  if (!calm || !flooded) return null;
  const ratio = (pick: (r: PhaseResult) => number) => pick(flooded) / pick(calm);
  const lag = ratio((r) => r.tenant.queueLagMs.p95);
  const met = lag <= 2 && flooded.tenant.lost === 0;
  console.log(
    `lag p95 flood / no-flood = ${lag.toFixed(2)} (target <= 2), lost ${flooded.tenant.lost} (target 0): ${met ? "met" : "NOT met"}`,
  );
  console.log(
    `also: upload p95 ${ratio((r) => r.tenant.uploadMs.p95).toFixed(2)}x, total p95 ${ratio((r) => r.tenant.totalMs.p95).toFixed(2)}x`,
  );
  console.log(`flood documents by kind and status: ${JSON.stringify(flooded.flood?.statuses)}`);
  return met;
}

export async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    seconds: { type: "string" },
    rate: { type: "string" },
    flooders: { type: "string" },
    grace: { type: "string" },
    "flood-tier": { type: "string" },
    "no-flood": { type: "boolean" },
    ...SERVICE_OPTIONS,
    json: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const seconds = positiveInt(values.seconds, "--seconds", 60);
  const rate = positiveInt(values.rate, "--rate", 2);
  const flooders = positiveInt(values.flooders, "--flooders", 4);
  const graceSeconds = positiveInt(values.grace, "--grace", 120);
  const floodTier = values["flood-tier"] ?? "standard";
  if (!(RATE_LIMIT_TIERS as readonly string[]).includes(floodTier)) {
    throw new UsageError(`--flood-tier must be one of ${RATE_LIMIT_TIERS.join(", ")}`);
  }
  if (seconds < 1) throw new UsageError("--seconds must be at least 1");
  const started = new Date();
  const jsonFile = path.resolve(
    values.json ??
      path.join(ROOT, "bench-results", `ingest-flood-${started.toISOString().replace(/[:.]/g, "-")}.json`),
  );
  try {
    const service = await startLocalService({ ...serviceSettings(values), label: "ingest-flood", log });
    const tenantKey = await createKey(service, {
      name: "steady tenant",
      namespaces: ["tenant-*"],
      roles: ["write", "search"],
      rateLimit: "standard",
    });
    const floodKey = await createKey(service, {
      name: "flooder",
      namespaces: ["flood-*"],
      roles: ["write"],
      rateLimit: floodTier,
    });
    const phases = values["no-flood"] ? [false] : [false, true];
    const results = [];
    for (const flood of phases) {
      const phase = flood ? "flood" : "no-flood";
      log(`phase ${phase}: ${seconds} s, ${rate} steady documents/s${flood ? `, ${flooders} flooders` : ""}`);
      results.push(
        await runPhase(service, { phase, seconds, rate, flooders, graceSeconds, flood, tenantKey, floodKey }),
      );
    }
    const met = report(results);
    await writeJson(jsonFile, {
      startedAt: started.toISOString(),
      seconds,
      rate,
      flooders,
      floodTier,
      lagDefinition: LAG_DEFINITION,
      results,
      targetMet: met,
    });
    log(`wrote ${jsonFile}`);
    return 0;
  } finally {
    await runCleanups();
  }
}
