// A local server for the Node-side checks (`npm run test:e2e`, `npm run test:verify`): started in
// its own process group (so stopping it also stops wrangler's workerd children), waited for until
// GET /healthz answers, and stopped whatever happens (registered with the cleanups of
// ../bench/processes.ts, which also run on Ctrl-C).
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { startGroup } from "../bench/processes.ts";
import { ROOT } from "./wrangler.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Environment for wrangler and `npm run dev`: the project's Node and wrangler first on PATH,
 * offline, no telemetry, no prompts, no reload when wrangler.toml changes.
 */
export function devEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${path.join(ROOT, "node_modules", ".bin")}${path.delimiter}${process.env.PATH ?? ""}`,
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_CI_DISABLE_CONFIG_WATCHING: "true",
    CI: "true",
  };
}

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Polls `probe` until it returns a truthy value (a throw counts as not yet).
 */
export async function waitFor<T>(what: string, probe: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

export function logTail(logFile: string, lines: number = 30) {
  try {
    return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function answersHealthy(baseUrl: string) {
  try {
    const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false; // Not listening yet.
  }
}

/**
 * Starts a server command in its own process group, output to `logFile`, and waits until
 * `${baseUrl}/healthz` answers 200. Fails early, with the end of the log, when the command exits
 * or the time runs out; the group is stopped then.
 */
export async function startServer(
  command: string,
  args: string[],
  options: {
    baseUrl: string;
    logFile: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    graceMs?: number;
  },
) {
  const { baseUrl, logFile } = options;
  if (!(await portFree(Number(new URL(baseUrl).port))))
    throw new Error(`port ${new URL(baseUrl).port} is in use`);
  const server = startGroup(command, args, {
    cwd: ROOT,
    env: options.env ?? devEnv(),
    logFile,
    ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
  });
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  while (!server.exited() && Date.now() < deadline) {
    if (await answersHealthy(baseUrl)) return server;
    await sleep(250);
  }
  const why = server.exited() ? `${command} exited` : `no healthy answer from ${baseUrl} in time`;
  await server.stop();
  throw new Error(`${why}; last lines of ${logFile}:\n${logTail(logFile)}`);
}
