#!/usr/bin/env node
// `npm run test:verify [-- --port N]`: `npm run verify` against `npm run dev`, as a user runs it.
// Starts `npm run dev` on 127.0.0.1:PORT (default 8805) in its own process group, with temporary
// local state and its own Worker name (a running `npm run dev` is not disturbed); waits until it
// is healthy; runs `npm run verify -- --url http://127.0.0.1:PORT`, then uploads the samples with
// `npm run upload -- --r2 --wait` (R2 ingestion offline); stops the server whatever happens.
// Exits non-zero when the server did not start, verify failed or a sample was not indexed.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { installSignalHandlers, runCleanups } from "./bench/processes.ts";
import { isEntryPoint, parseCommandLine, positiveInt, run, ScriptError } from "./lib/args.ts";
import { devEnv, startServer } from "./lib/dev-server.ts";
import { ROOT } from "./lib/wrangler.ts";

const USAGE = `Usage: npm run test:verify [-- --port N]

Starts \`npm run dev\` on 127.0.0.1:N (default 8805) with temporary state, runs
\`npm run verify -- --url http://127.0.0.1:N\` against it, uploads the samples through R2
(\`npm run upload -- samples --r2 --wait\`), and stops the server.`;

function npm(args: string[]): Promise<number> {
  // As documented for a local server: the key comes from .dev.vars, not from a variable set for
  // a deployment.
  const { EDGESEARCH_API_KEY: _key, EDGESEARCH_URL: _url, ...env } = devEnv();
  return new Promise((resolve, reject) => {
    const child = spawn("npm", args, { cwd: ROOT, env, stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(argv: string[]) {
  const values = parseCommandLine(argv, { port: { type: "string" }, help: { type: "boolean", short: "h" } });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = positiveInt(values.port, "--port", 8805);
  const baseUrl = `http://127.0.0.1:${port}`;
  installSignalHandlers();
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgesearch-verify-"));
  const logFile = path.join(dir, "dev.log");
  let code = 1;
  try {
    const started = performance.now();
    console.log(`npm run dev -- --port ${port} (log: ${logFile})`);
    await startServer(
      "npm",
      [
        "run",
        "dev",
        "--",
        "--ip",
        "127.0.0.1",
        "--port",
        String(port),
        "--persist-to",
        path.join(dir, "state"),
        "--show-interactive-dev-session=false",
        // wrangler's dev registry is keyed by Worker name: another local "edgesearch" keeps running.
        "--name",
        `edgesearch-verify-${process.pid}`,
      ],
      // `npm run dev` stops wrangler's own group on SIGTERM and kills it after 5 s: wait longer
      // than that before killing npm, or wrangler would outlive it.
      { baseUrl, logFile, timeoutMs: 180_000, graceMs: 8000 },
    ).catch((err) => {
      throw new ScriptError(`npm run dev did not start: ${err instanceof Error ? err.message : String(err)}`);
    });
    console.log(`server healthy in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    code = await npm(["run", "--silent", "verify", "--", "--url", baseUrl]);
    // R2 ingestion offline: the samples as objects of the local bucket, ingested on the local
    // stand-in's notifications (exit code 1 unless every one is indexed).
    if (code === 0) {
      const r2 = ["samples", "--namespace", "verify-r2", "--r2", "--force", "--url", baseUrl];
      code = await npm(["run", "--silent", "upload", "--", ...r2, "--wait", "--timeout", "300"]);
    }
  } finally {
    await runCleanups();
    if (code === 0) rmSync(dir, { recursive: true, force: true });
    else console.error(`server log kept at ${logFile}`);
  }
  return code;
}

if (isEntryPoint(import.meta.url)) {
  process.exitCode = await run(main, USAGE);
}
