// `npm run fuzz`: random documents of every parsed content type (the generator of the ingest fuzz
// test, scripts/lib/fuzz-documents.ts) written through the API of the local service (wrangler dev
// --local, as `npm run dev` serves it) and ingested by its real queue consumer. Reports how long it
// took, how many were indexed, failed (by reason) or never settled, and the consumer crashes
// (ingest.crashed events and uncaught errors in the server log).
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { mapConcurrent } from "../client/src/index.ts";
import { SERVICE_OPTIONS, SERVICE_USAGE, serviceSettings, startLocalService } from "./bench/local-service.ts";
import { runCleanups } from "./bench/processes.ts";
import { isEntryPoint, parseCommandLine, positiveInt, run } from "./lib/args.ts";
import { ingestDocument } from "./lib/fuzz-documents.ts";

const USAGE = `Usage: npm run fuzz [-- options]

Serves the Worker locally (wrangler dev --local, BACKEND=local, its own temporary state), writes
--count random documents (text, markdown, html, json; random sizes, unicode and markup) to one
namespace through PUT /v1/namespaces/{ns}/documents/{id}, waits until none is pending, then reads
each one's status.

Exit status 0 when there was no consumer crash, no 5xx, and every accepted document ended indexed
or failed with a reason.

Options:
  --count N           documents (default: 10000)
  --seed N            generator seed (default: random; printed, so a run can be replayed)
  --concurrency N     writes in flight (default: 8)
  --timeout N         seconds to wait for the queue to drain (default: 1800)
${SERVICE_USAGE}
  -h, --help          show this help`;

const NAMESPACE = "fuzz-ingest";

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    count: { type: "string" },
    seed: { type: "string" },
    concurrency: { type: "string" },
    timeout: { type: "string" },
    ...SERVICE_OPTIONS,
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const count = positiveInt(values.count, "--count", 10_000);
  const seed = positiveInt(values.seed, "--seed", Math.floor(Math.random() * 2 ** 31));
  const concurrency = positiveInt(values.concurrency, "--concurrency", 8);
  const timeoutMs = positiveInt(values.timeout, "--timeout", 1800) * 1000;
  console.log(`ingest fuzz: ${count} documents, seed ${seed}`);
  try {
    const service = await startLocalService({ ...serviceSettings(values), label: "fuzz", log });
    const started = performance.now();
    // One document at a time (all at once would hold hundreds of megabytes); each from its own
    // seed, so --seed replays the run.
    const documents = (function* () {
      for (let i = 0; i < count; i++)
        yield [i, fc.sample(ingestDocument, { numRuns: 1, seed: seed + i })[0]] as const;
    })();
    const submitStatuses: Record<string, number> = {};
    const accepted: string[] = [];
    await mapConcurrent(documents, concurrency, async ([i, doc]) => {
      if (!doc) return;
      const id = `d-${i}`;
      const res = await service
        .call("PUT", `/v1/namespaces/${NAMESPACE}/documents/${id}`, {
          text: doc.text,
          contentType: doc.contentType,
        })
        .catch((err) => ({ status: 0, body: String(err) }));
      bump(submitStatuses, String(res.status));
      if (res.status === 202) accepted.push(id);
      if (i % 1000 === 999) log(`${i + 1} written`);
    });
    const writtenMs = performance.now() - started;
    log(`written in ${(writtenMs / 1000).toFixed(1)} s; waiting for the queue to drain...`);
    for (;;) {
      const stats = await service.call("GET", `/v1/namespaces/${NAMESPACE}`);
      const settled = Number(stats.body?.documents) + Number(stats.body?.failed) >= accepted.length;
      if (stats.status === 200 && stats.body.pending === 0 && settled) break;
      if (performance.now() - started > timeoutMs) {
        log(`still ${stats.body?.pending} pending after the timeout`);
        break;
      }
      await sleep(1000);
    }
    const drainedMs = performance.now() - started;
    const byStatus: Record<string, number> = {};
    const failedBy: Record<string, number> = {};
    const unexplained = [];
    await mapConcurrent(accepted, concurrency, async (id) => {
      const res = await service.call("GET", `/v1/namespaces/${NAMESPACE}/documents/${id}`);
      const status = res.status === 200 ? String(res.body.status) : `HTTP ${res.status}`;
      bump(byStatus, status);
      if (status === "failed") bump(failedBy, String(res.body.error ?? "(no reason)").replace(/\d+/g, "N"));
      if (status !== "indexed" && !(status === "failed" && res.body.error)) unexplained.push(id);
    });
    const serverLog = readFileSync(service.logFile, "utf8");
    const crashes = (serverLog.match(/"event":"ingest\.crashed"/g) ?? []).length;
    const uncaught = (serverLog.match(/Uncaught|unhandled rejection|UnhandledPromiseRejection/gi) ?? [])
      .length;
    const serverErrors = Object.entries(submitStatuses)
      .filter(([s]) => s === "0" || s.startsWith("5"))
      .reduce((sum, [, n]) => sum + n, 0);
    console.log(
      `seed ${seed}: ${count} documents in ${(drainedMs / 1000).toFixed(1)} s (written in ${(writtenMs / 1000).toFixed(1)} s)`,
    );
    console.log(`submission statuses: ${JSON.stringify(submitStatuses)}`);
    console.log(`accepted ${accepted.length}: ${JSON.stringify(byStatus)}`);
    console.log(`failed by reason: ${JSON.stringify(failedBy)}`);
    console.log(
      `consumer crashes: ${crashes} ingest.crashed, ${uncaught} uncaught; never settled: ${unexplained.length}`,
    );
    return crashes === 0 && uncaught === 0 && serverErrors === 0 && unexplained.length === 0 ? 0 : 1;
  } finally {
    await runCleanups();
  }
}

if (isEntryPoint(import.meta.url)) process.exitCode = await run(main, USAGE);
