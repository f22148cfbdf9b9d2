// `npm run bench -- ingest-worst`: what the ingest's worst cases cost in one queue invocation:
// a 1 MiB markdown document, a 1 MiB JSON document and a queue batch of max_batch_size (10) of
// them. Serves the built Worker with `wrangler dev --local` from a temporary workspace (as the
// bench does), uploads each case through the API (the batch in one request, so its messages reach
// the consumer as one batch), and reports for each queue invocation:
// - D1 queries and subrequests, as the invocation budget counted them (its debug log line);
// - CPU ms of the Worker's workerd process from the upload request to the queue invocation's end,
//   from /proc: an upper bound, as it also holds the upload's request, the local D1, R2 and vector
//   index (SQLite) and the local embedder, which on Cloudflare run elsewhere;
// - CPU ms of the ingest's pure parts (parse and chunk) in Node (process.cpuUsage), the Worker's
//   own CPU on Cloudflare apart from the runtime's;
// - peak memory: the Worker isolate's V8 heap, sampled every 20 ms over the inspector (what the
//   128 MB limit is about, though a peak inside a long synchronous step can be missed, and the
//   local Durable Objects share the isolate); and the workerd process's peak RSS (VmHWM after
//   resetting it through clear_refs) and its rise over the RSS before: the whole process.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createClient } from "../../client/src/index.ts";
import type * as ChunkModule from "../../src/ingest/chunk.ts";
import type * as ParseModule from "../../src/ingest/parse.ts";
import { parseCommandLine, positiveInt, run, UsageError } from "../lib/args.ts";
import { worstCaseJson, worstCaseMarkdown } from "../lib/worst-case-documents.ts";
import { importBundled } from "./node-bundle.ts";
import { installSignalHandlers, onCleanup, runCleanups } from "./processes.ts";
import { workerPids } from "./procstat.ts";
import { table, writeJson } from "./report.ts";
import {
  applyMigrations,
  buildBundle,
  createWorkspace,
  ROOT,
  randomAdminKey,
  removeWorkspace,
  startWrangler,
} from "./server.ts";

const USAGE = `Usage: npm run bench -- ingest-worst [options]

Measures the ingest's worst cases, each in one queue invocation of a local server (wrangler dev
--local): a 1 MiB markdown document, a 1 MiB JSON document, and a queue batch of 10 of them. For
each: D1 queries and subrequests (as the invocation budget counts them), CPU ms (the workerd
process, and the parse and chunk steps alone in Node) and peak memory (the workerd process's RSS).

Options:
  --port N        port for wrangler dev (default: a free one in 8790-8799)
  --json PATH     where to write the JSON (default: bench-results/ingest-worst-<timestamp>.json)
  --keep          keep the temporary workspace (state, bundle, server logs)
  -h, --help      show this help`;

const MAX_BYTES = 1024 * 1024;
const BATCH_SIZE = 10;
const QUEUE = "edgesearch-ingest";
const TICKS_PER_SECOND = 100;

const log = (line: string) => process.stderr.write(`${line}\n`);

function procStatus(pid: number) {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
  return { rssBytes: kb("VmRSS") * 1024, peakBytes: kb("VmHWM") * 1024 };
}

/** @param pid CPU ms (user + system) of the process so far */
function cpuMs(pid: number) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
}

/** @param pid Resets the process's peak RSS (VmHWM) to its current RSS. */
function resetPeak(pid: number) {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

/**
 * The invocation budget's lines for the ingest queue written to the log after `offset`.
 */
function queueBudgets(logFile: string, offset: number) {
  const text = readFileSync(logFile, "utf8").slice(offset);
  const found: {
    messages: number;
    d1Queries: number;
    serviceSubrequests: number;
    externalSubrequests: number;
    subrequests: number;
  }[] = [];
  for (const line of text.split("\n")) {
    const at = line.indexOf('{"ts"');
    if (at < 0 || !line.includes('"invocation.budget"')) continue;
    const record = JSON.parse(line.slice(at));
    if (record.handler === `queue ${QUEUE}`) found.push(record);
  }
  return found;
}

/**
 * Samples the Worker isolate's V8 heap (Runtime.getHeapUsage over wrangler's inspector) until
 * stopped, and gives the largest used size seen. The isolate answers between its turns, so a peak
 * inside one long synchronous step can be missed; local Durable Objects share the isolate and
 * count too. Null when the inspector cannot be reached.
 */
async function heapSampler(inspectorPort: number | undefined) {
  if (inspectorPort === undefined || typeof WebSocket === "undefined") return null;
  try {
    const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as {
      webSocketDebuggerUrl?: string;
    }[];
    const url = targets.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl;
    if (!url) return null;
    // wrangler's inspector proxy refuses a connection without an Origin header (undici's
    // WebSocket takes headers as an extension).
    const socket = new WebSocket(url, { headers: { origin: "http://127.0.0.1" } } as unknown as string[]);
    await new Promise((resolve, reject) => {
      socket.addEventListener("open", resolve, { once: true });
      socket.addEventListener("error", reject, { once: true });
    });
    let peak = 0;
    let next = 1;
    let waiting = false;
    socket.addEventListener("message", (event) => {
      const reply = JSON.parse(String(event.data));
      // Events (console lines) come on the same socket: only replies carry an id.
      if (reply.id === undefined) return;
      if (typeof reply.result?.usedSize === "number") peak = Math.max(peak, reply.result.usedSize);
      waiting = false;
    });
    const timer = setInterval(() => {
      if (waiting || socket.readyState !== WebSocket.OPEN) return;
      waiting = true;
      socket.send(JSON.stringify({ id: next++, method: "Runtime.getHeapUsage" }));
    }, 20);
    return {
      /** Starts a new window. */
      reset: () => {
        peak = 0;
      },
      peak: () => peak,
      close: () => {
        clearInterval(timer);
        socket.close();
      },
    };
  } catch {
    return null;
  }
}

/** parseDocument and chunkDocument, bundled for Node. */
async function loadPureParts() {
  const [parse, chunk] = await Promise.all([
    importBundled<typeof ParseModule>(path.join(ROOT, "src", "ingest", "parse.ts"), "ingest-worst-"),
    importBundled<typeof ChunkModule>(path.join(ROOT, "src", "ingest", "chunk.ts"), "ingest-worst-"),
  ]);
  return { parseDocument: parse.parseDocument, chunkDocument: chunk.chunkDocument };
}

/**
 * CPU ms of parsing and chunking the documents in Node (as the consumer does, 256/32 tokens).
 */
async function pureCpuMs(
  ingest: {
    parseDocument: typeof ParseModule.parseDocument;
    chunkDocument: typeof ChunkModule.chunkDocument;
  },
  docs: { text: string; contentType: string }[],
) {
  const start = process.cpuUsage();
  let chunks = 0;
  for (const d of docs) {
    const parsed = await ingest.parseDocument(d.text, d.contentType);
    chunks += ingest.chunkDocument(parsed, { maxTokens: 256, overlapTokens: 32, modelMaxTokens: 512 }).length;
  }
  const used = process.cpuUsage(start);
  return { ms: (used.user + used.system) / 1000, chunks };
}

function worstDocument(i: number) {
  return i % 2 === 0
    ? { id: `doc-${i}.md`, text: worstCaseMarkdown(MAX_BYTES, i + 1), contentType: "text/markdown" }
    : { id: `doc-${i}.json`, text: worstCaseJson(MAX_BYTES, i + 1), contentType: "application/json" };
}

export async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    port: { type: "string" },
    json: { type: "string" },
    keep: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!existsProc()) throw new UsageError("ingest-worst reads /proc: it runs on Linux only");
  const port = values.port === undefined ? undefined : positiveInt(values.port, "--port", 0);
  installSignalHandlers();
  try {
    const cases = [
      { name: "1 MiB markdown", docs: [worstDocument(0)] },
      { name: "1 MiB JSON", docs: [worstDocument(1)] },
      {
        name: `queue batch of ${BATCH_SIZE} x 1 MiB`,
        docs: Array.from({ length: BATCH_SIZE }, (_, i) => worstDocument(i)),
      },
    ];
    log("bundling the parse and chunk steps for Node ...");
    const ingest = await loadPureParts();
    const workspace = createWorkspace();
    if (!values.keep) onCleanup(() => removeWorkspace(workspace));
    else log(`workspace: ${workspace.dir}`);
    log("building the Worker ...");
    await buildBundle(workspace);
    await applyMigrations(workspace);
    const adminKey = randomAdminKey();
    log("starting wrangler dev ...");
    const server = await startWrangler({
      workspace,
      adminKey,
      // Debug: the invocation budget logs each invocation's counts; the batch goes in one request.
      vars: { LOG_LEVEL: "debug", MAX_REQUEST_BYTES: String(16 * 1024 * 1024) },
      port,
      label: "ingest-worst",
    });
    onCleanup(() => server.stop());
    const client = createClient({ baseUrl: server.baseUrl, apiKey: adminKey, timeoutMs: 120_000 });
    const pids = workerPids(server.pgid, server.proxyPort);
    if (pids.length !== 1) throw new Error(`expected one Worker workerd process, found ${pids.length}`);
    const pid = pids[0] as number;
    const heap = await heapSampler(server.inspectorPort);
    if (heap) onCleanup(() => heap.close());
    else log("the inspector is not reachable: no isolate heap figures");

    const results = [];
    for (const [i, c] of cases.entries()) {
      const ns = `worst-${i}-${Date.now().toString(36)}`;
      const pure = await pureCpuMs(ingest, c.docs);
      // From before the upload: the consumer may start before the upload's answer arrives. The
      // upload request is included in the CPU and memory figures.
      const offset = readFileSync(server.logFile, "utf8").length;
      const rssBefore = procStatus(pid).rssBytes;
      resetPeak(pid);
      heap?.reset();
      const cpuBefore = cpuMs(pid);
      log(`${c.name}: uploading ${c.docs.length} document(s) ...`);
      await client.putDocuments(ns, c.docs);
      const deadline = Date.now() + 600_000;
      let budgets = queueBudgets(server.logFile, offset);
      while (budgets.reduce((n, b) => n + b.messages, 0) < c.docs.length) {
        if (Date.now() > deadline)
          throw new Error(`${c.name}: the queue consumer did not finish in 10 minutes`);
        await new Promise((r) => setTimeout(r, 100));
        budgets = queueBudgets(server.logFile, offset);
      }
      const cpu = cpuMs(pid) - cpuBefore;
      const { peakBytes } = procStatus(pid);
      const stats = await client.namespaceStats(ns);
      results.push({
        case: c.name,
        documents: c.docs.length,
        indexed: stats.documents,
        chunks: pure.chunks,
        queueInvocations: budgets.length,
        d1Queries: Math.max(...budgets.map((b) => b.d1Queries)),
        subrequests: Math.max(...budgets.map((b) => b.subrequests)),
        workerdCpuMs: cpu,
        parseChunkCpuMs: Math.round(pure.ms),
        peakHeapMiB: heap ? heap.peak() / 2 ** 20 : null,
        peakRssMiB: peakBytes / 2 ** 20,
        rssRiseMiB: (peakBytes - rssBefore) / 2 ** 20,
      });
      if (stats.documents !== c.docs.length)
        log(`${c.name}: only ${stats.documents} of ${c.docs.length} indexed`);
    }

    console.log(
      table(
        [
          "case",
          "docs",
          "indexed",
          "chunks",
          "queue inv.",
          "D1 queries",
          "subrequests",
          "CPU ms (workerd, upload+ingest)",
          "CPU ms (parse+chunk, Node)",
          "peak heap MiB",
          "peak RSS MiB",
          "RSS rise MiB",
        ],
        results.map((r) => [
          r.case,
          String(r.documents),
          String(r.indexed),
          String(r.chunks),
          String(r.queueInvocations),
          String(r.d1Queries),
          String(r.subrequests),
          String(Math.round(r.workerdCpuMs)),
          String(r.parseChunkCpuMs),
          r.peakHeapMiB === null ? "-" : r.peakHeapMiB.toFixed(0),
          r.peakRssMiB.toFixed(0),
          r.rssRiseMiB.toFixed(0),
        ]),
      ),
    );
    const file =
      typeof values.json === "string"
        ? values.json
        : path.join(
            ROOT,
            "bench-results",
            `ingest-worst-${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
          );
    await writeJson(file, { at: new Date().toISOString(), results });
    log(`wrote ${file}`);
    return results.every((r) => r.indexed === r.documents && r.queueInvocations === 1) ? 0 : 1;
  } finally {
    await runCleanups();
  }
}

function existsProc() {
  try {
    readFileSync("/proc/self/status");
    return true;
  } catch {
    return false;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = await run(main, USAGE);
}
