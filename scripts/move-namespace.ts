#!/usr/bin/env node
import { createClient } from "../client/src/index.ts";
// `npm run move-namespace -- --namespace NS --to DATA_DB_1 [--no-wait] [--url URL]`: moves a
// namespace's documents to another D1 database of the pool, online (searches and writes go on),
// and follows the job until it completes or fails. Needs an admin key (EDGESEARCH_API_KEY, or
// ADMIN_API_KEY from .dev.vars locally).
import { connectionSettings, isEntryPoint, parseCommandLine, run, UsageError } from "./lib/args.ts";

const USAGE = "usage: npm run move-namespace -- --namespace NS --to DATABASE [--no-wait] [--url URL]";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    namespace: { type: "string" },
    to: { type: "string" },
    "no-wait": { type: "boolean" },
    url: { type: "string" },
  });
  if (typeof values.namespace !== "string" || typeof values.to !== "string") throw new UsageError(USAGE);
  const client = createClient(connectionSettings(values));
  const ns = values.namespace;
  let job = await client.call("POST /v1/admin/namespaces/{ns}/move", {
    path: { ns },
    body: { to: values.to },
  });
  console.log(`Moving ${values.namespace} from ${job.from} to ${job.to}: job ${job.id}`);
  if (values["no-wait"]) return 0;
  let phase = "";
  while (job.state === "running") {
    await sleep(2000);
    job = await client.call("GET /v1/admin/namespaces/{ns}/move/{id}", { path: { ns, id: job.id } });
    if (job.phase !== phase) {
      phase = job.phase;
      const p = job.progress;
      console.log(`  ${phase}  copied ${p.copied}, repaired ${p.repaired}, removed ${p.removed}`);
    }
  }
  if (job.state === "failed") {
    console.error(`The move failed: ${job.error ?? "no reason given"}`);
    return 1;
  }
  console.log(`${values.namespace} is in ${job.to}.`);
  return 0;
}

if (isEntryPoint(import.meta.url)) process.exitCode = await run(main, USAGE);
