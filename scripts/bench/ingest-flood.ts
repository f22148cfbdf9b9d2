// `npm run bench -- ingest-flood`: one tenant floods ingest with adversarial documents while another
// ingests ordinary ones at a steady rate; reports the steady tenant's lag from submission to
// `indexed` (p50/p95) and how many of its documents never got indexed, with and without the flood,
// against the local service (wrangler dev --local, as `npm run dev` serves it).
import path from "node:path";
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
import { table, writeJson } from "./report.ts";
import { ROOT } from "./server.ts";
import { summarizeLatencies } from "./stats.ts";

const USAGE = `Usage: npm run bench -- ingest-flood [options]

Serves the Worker locally (wrangler dev --local, BACKEND=local, its own temporary state), then runs
two phases of --seconds each: "no-flood" (the steady tenant alone) and "flood" (the steady tenant
while a write-scoped key floods adversarial documents: deeply nested JSON, long runs of markdown
markup, huge single lines, near-cap sizes). The steady tenant (its own key and namespace) writes
one ordinary document every 1/--rate seconds and polls each until it is indexed.

Reports the steady tenant's p50/p95 lag from submission to indexed and the count lost (not indexed
within --grace seconds after its phase). Target: flood p95 within 2x of no-flood, 0 lost.

Options:
  --seconds N     length of each phase (default: 60)
  --rate N        steady documents per second (default: 2)
  --flooders N    concurrent flood writers (default: 4)
  --grace N       seconds a phase waits for its last documents (default: 120)
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

async function runPhase(
  service: LocalService,
  options: {
    phase: string;
    seconds: number;
    rate: number;
    flooders: number;
    graceSeconds: number;
    flood: boolean;
    tenantKey: string;
    floodKey: string;
  },
) {
  const { phase, seconds, rate, flood, tenantKey, floodKey } = options;
  const tenantNs = `tenant-${phase}`;
  const floodNs = `flood-${phase}`;
  const random = seededRandom(SEED);
  const endAt = Date.now() + seconds * 1000;
  const pending: Map<string, number> = new Map();
  const lags: number[] = [];
  const tally = { submitted: 0, indexed: 0, failed: 0, rejected: 0 };
  const floodTally = { submitted: 0, accepted: 0, statuses: {} as Record<string, number> };

  const steady = (async () => {
    for (let i = 0; Date.now() < endAt; i++) {
      const due = Date.now() + 1000 / rate;
      const id = `doc-${i}`;
      const submitted = Date.now();
      const res = await service.call(
        "PUT",
        `/v1/namespaces/${tenantNs}/documents/${id}`,
        { text: `Ordinary note ${i} about tide pools, sandpipers and the morning fog over the bay.` },
        tenantKey,
      );
      tally.submitted += 1;
      if (res.status === 202) pending.set(id, submitted);
      else tally.rejected += 1;
      await sleep(Math.max(0, due - Date.now()));
    }
  })();

  let polling = true;
  const poller = (async () => {
    while (polling || pending.size > 0) {
      for (const [id, submitted] of [...pending]) {
        const res = await service.call(
          "GET",
          `/v1/namespaces/${tenantNs}/documents/${id}`,
          undefined,
          tenantKey,
        );
        if (res.status !== 200) continue;
        if (res.body.status === "indexed") {
          lags.push(Date.now() - submitted);
          tally.indexed += 1;
          pending.delete(id);
        } else if (res.body.status === "failed") {
          tally.failed += 1;
          pending.delete(id);
        }
      }
      await sleep(POLL_MS);
      if (!polling && Date.now() > endAt + options.graceSeconds * 1000) break;
    }
  })();

  const flooders = flood
    ? Array.from({ length: options.flooders }, async (_, w) => {
        for (let i = 0; Date.now() < endAt; i++) {
          const doc = floodDocument(random);
          const res = await service
            .call(
              "PUT",
              `/v1/namespaces/${floodNs}/documents/w${w}-${i}`,
              { text: doc.text, contentType: doc.contentType },
              floodKey,
            )
            .catch(() => ({ status: 0, body: null }));
          floodTally.submitted += 1;
          if (res.status === 202) floodTally.accepted += 1;
          const key = `${doc.kind} ${res.status}`;
          floodTally.statuses[key] = (floodTally.statuses[key] ?? 0) + 1;
        }
      })
    : [];

  await Promise.all([steady, ...flooders]);
  polling = false;
  await poller;
  const lost = pending.size;
  return {
    phase,
    tenant: { ...tally, lost, lagMs: summarizeLatencies(lags) },
    flood: flood ? floodTally : null,
  };
}

export async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    seconds: { type: "string" },
    rate: { type: "string" },
    flooders: { type: "string" },
    grace: { type: "string" },
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
      rateLimit: "unlimited",
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
    const ms = (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : "-");
    console.log(
      table(
        ["phase", "submitted", "indexed", "failed", "lost", "p50 ms", "p95 ms", "max ms", "flood accepted"],
        results.map((r) => [
          r.phase,
          String(r.tenant.submitted),
          String(r.tenant.indexed),
          String(r.tenant.failed),
          String(r.tenant.lost),
          ms(r.tenant.lagMs.p50),
          ms(r.tenant.lagMs.p95),
          ms(r.tenant.lagMs.max),
          r.flood ? `${r.flood.accepted}/${r.flood.submitted}` : "-",
        ]),
        1,
      ),
    );
    const [calm, flooded] = results;
    let met = null;
    if (calm && flooded) {
      const ratio = flooded.tenant.lagMs.p95 / calm.tenant.lagMs.p95;
      met = ratio <= 2 && flooded.tenant.lost === 0;
      console.log(
        `flood p95 / no-flood p95 = ${ratio.toFixed(2)} (target <= 2), lost ${flooded.tenant.lost} (target 0): ${met ? "met" : "NOT met"}`,
      );
      console.log(`flood documents by kind and status: ${JSON.stringify(flooded.flood?.statuses)}`);
    }
    await writeJson(jsonFile, {
      startedAt: started.toISOString(),
      seconds,
      rate,
      flooders,
      results,
      targetMet: met,
    });
    log(`wrote ${jsonFile}`);
    return 0;
  } finally {
    await runCleanups();
  }
}
