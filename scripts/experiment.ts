#!/usr/bin/env node
import { createClient } from "../client/src/index.ts";
// `npm run experiment -- <start|report|share|stop|promote|quality> --namespace NS [...]`: runs a
// namespace's online experiment between its active index version and a candidate, and prints
// its report (per-arm searches, latency, CTR and MRR with 95% intervals, shadow overlap, verdict);
// `quality` prints the nDCG@10 series the scheduled quality watch measured per version.
// Needs an admin key (EDGESEARCH_API_KEY, or ADMIN_API_KEY from .dev.vars locally).
import { connectionSettings, isEntryPoint, parseCommandLine, run, UsageError } from "./lib/args.ts";

const USAGE =
  "usage: npm run experiment -- start --namespace NS --candidate v2 --share 0.1 [--shadow 0.05] [--min-samples 1000]\n" +
  "       npm run experiment -- report|stop|promote --namespace NS [--id e1] [--json]\n" +
  "       npm run experiment -- share --namespace NS --share 0.25 [--shadow 0.1] [--id e1]\n" +
  "       npm run experiment -- quality --namespace NS [--json]\n" +
  "       (all take [--url URL])";

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const num = (x: number) => x.toFixed(3);
const ms = (x: number | null) => (x === null ? "-" : `${x}`);

function share(text: unknown, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1)
    throw new UsageError(`${flag} is a share from 0 to 1`);
  return value;
}

export async function main(argv: string[]) {
  const [command, ...rest] = argv;
  const values = parseCommandLine(rest, {
    namespace: { type: "string" },
    id: { type: "string" },
    candidate: { type: "string" },
    share: { type: "string" },
    shadow: { type: "string" },
    "min-samples": { type: "string" },
    json: { type: "boolean" },
    url: { type: "string" },
  });
  if (typeof values.namespace !== "string") throw new UsageError(USAGE);
  const ns = values.namespace;
  const client = createClient(connectionSettings(values));
  const experimentId = async () =>
    typeof values.id === "string"
      ? values.id
      : (await client.call("GET /v1/namespaces/{ns}/experiments/latest", { path: { ns } })).id;

  switch (command) {
    case "start": {
      const candidate = values.candidate;
      const split = share(values.share, "--share");
      if (typeof candidate !== "string" || split === undefined) throw new UsageError(USAGE);
      const started = await client.call("POST /v1/namespaces/{ns}/experiments", {
        path: { ns },
        body: {
          candidateVersion: candidate,
          share: split,
          shadowShare: share(values.shadow, "--shadow") ?? 0,
          minSamples: values["min-samples"] === undefined ? 1000 : Number(values["min-samples"]),
        },
      });
      console.log(
        `Started ${started.id}: ${started.candidate} answers ${pct(started.share)} of ${ns}'s searches`,
      );
      return 0;
    }
    case "share": {
      const body = { share: share(values.share, "--share"), shadowShare: share(values.shadow, "--shadow") };
      if (body.share === undefined && body.shadowShare === undefined) throw new UsageError(USAGE);
      const id = await experimentId();
      const updated = await client.call("PATCH /v1/namespaces/{ns}/experiments/{id}", {
        path: { ns, id },
        body,
      });
      console.log(`${id}: share ${pct(updated.share)}, shadow ${pct(updated.shadowShare)}`);
      return 0;
    }
    case "stop":
    case "promote": {
      const id = await experimentId();
      const ended = await client.call(`POST /v1/namespaces/{ns}/experiments/{id}/${command}`, {
        path: { ns, id },
      });
      console.log(`${id}: ${ended.state}${ended.endReason ? ` (${ended.endReason})` : ""}`);
      return 0;
    }
    case "report": {
      const id = await experimentId();
      const r = await client.call("GET /v1/namespaces/{ns}/experiments/{id}", { path: { ns, id } });
      if (values.json) {
        console.log(JSON.stringify(r, null, 2));
        return 0;
      }
      console.log(
        `${ns} ${r.id} (${r.state}): ${r.candidate} vs ${r.control}, share ${pct(r.share)}, shadow ${pct(r.shadowShare)}`,
      );
      console.log(
        "arm        version  searches  clicks  CTR [95% Wilson]        MRR [95% normal]        p50/p95/p99 ms",
      );
      for (const name of ["control", "candidate"] as const) {
        const a = r.arms[name];
        console.log(
          `${name.padEnd(10)} ${a.version.padEnd(8)} ${String(a.searches).padStart(8)}  ${String(a.clicks).padStart(6)}  ` +
            `${pct(a.ctr.value)} [${pct(a.ctr.low)}, ${pct(a.ctr.high)}]`.padEnd(24) +
            `${num(a.mrr.value)} [${num(a.mrr.low)}, ${num(a.mrr.high)}]`.padEnd(24) +
            `${ms(a.latencyMs.p50)}/${ms(a.latencyMs.p95)}/${ms(a.latencyMs.p99)}`,
        );
      }
      const s = r.shadow;
      console.log(
        `shadow: ${s.samples} samples (${s.failed} failed), overlap@10 ${s.overlapAt10 === null ? "-" : num(s.overlapAt10)}, ` +
          `RBO(p=0.9) ${s.rbo === null ? "-" : num(s.rbo)}, empty ${s.controlEmpty}/${s.candidateEmpty}, ` +
          `degraded ${s.controlDegraded}/${s.candidateDegraded}, p50 ${ms(s.latencyMs.control.p50)}/${ms(s.latencyMs.candidate.p50)} ms (control/candidate)`,
      );
      const d = r.mrrDifference;
      console.log(
        `verdict: ${r.verdict}${d ? ` (MRR difference ${num(d.value)} [${num(d.low)}, ${num(d.high)}])` : ""}, minimum ${r.minSamples} searches per arm`,
      );
      console.log(`method: ${r.method}`);
      return 0;
    }
    case "quality": {
      const q = await client.call("GET /v1/namespaces/{ns}/versions/quality", { path: { ns } });
      if (values.json) {
        console.log(JSON.stringify(q, null, 2));
        return 0;
      }
      console.log(
        `${ns}: nDCG@10 of the golden queries per version (alert below activation - ${q.tolerance})`,
      );
      for (const v of q.versions) {
        const activation = v.activation ? `${num(v.activation.ndcg)} (${v.activation.source})` : "-";
        const latest = v.latest ? `${num(v.latest.ndcg)} at ${v.latest.at}` : "-";
        const pass = v.pass ? `, pass in progress: ${v.pass.scored} queries scored` : "";
        console.log(
          `${v.version}: activation ${activation}, latest ${latest}${v.alerting ? ", QUALITY DROP" : ""}${pass}`,
        );
        for (const p of v.points.slice(-10)) console.log(`  ${p.at}  ${num(p.ndcg)}  (${p.queries} queries)`);
      }
      return 0;
    }
    default:
      throw new UsageError(USAGE);
  }
}

if (isEntryPoint(import.meta.url)) process.exitCode = await run(main, USAGE);
