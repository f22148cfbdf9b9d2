// The servers under test. The Worker is built once (`wrangler deploy --dry-run`, which also gives
// the bundle size) and served from that build with `wrangler dev --no-bundle` and a copy of
// wrangler.toml, from a temporary workspace that also holds the persisted state: edits made to
// the tree while the bench runs cannot reload the server mid-measurement, and the user's
// .wrangler folder is never touched. A trivial Node server measures the client alone.
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { migrationCommand, poolMembers } from "../lib/d1-pool.ts";
import { devEnv, portFree } from "../lib/dev-server.ts";
import { parseToml } from "../lib/provision-toml.ts";
import { runGroup, startGroup } from "./processes.ts";
import { listeningPorts, workerPids } from "./procstat.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const PORT_RANGE = [8790, 8799] as const;

/**
 * wrangler dev streams every invocation's trace events (the request, each Durable Object, D1, KV
 * and queue call) to a collector worker in the same process, for its local explorer. That costs
 * about a third of a no-op request's CPU, more for a search, which makes a dozen invocations, and
 * has no counterpart on a deployed Worker's request path: the bench measures the service without
 * it unless X_LOCAL_OBSERVABILITY=true.
 */
export const LOCAL_OBSERVABILITY = process.env.X_LOCAL_OBSERVABILITY ?? "false";

/** Environment for wrangler (the project's Node and wrangler, offline, no telemetry or reloads). */
function wranglerEnv() {
  return { ...devEnv(), X_LOCAL_OBSERVABILITY: LOCAL_OBSERVABILITY };
}

/**
 * A fresh temporary workspace with a snapshot of wrangler.toml and the migrations.
 */
export function createWorkspace(): {
  dir: string;
  stateDir: string;
  bundleDir: string;
  configFile: string;
  logsDir: string;
} {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgesearch-bench-"));
  cpSync(path.join(ROOT, "wrangler.toml"), path.join(dir, "wrangler.toml"));
  cpSync(path.join(ROOT, "migrations"), path.join(dir, "migrations"), { recursive: true });
  return {
    dir,
    stateDir: path.join(dir, "state"),
    bundleDir: path.join(dir, "bundle"),
    configFile: path.join(dir, "wrangler.toml"),
    logsDir: dir,
  };
}

export function removeWorkspace(workspace: { dir: string }) {
  rmSync(workspace.dir, { recursive: true, force: true });
}

/**
 * Builds the deploy bundle and measures it: every output file, the upload (modules without source
 * maps and the README wrangler adds) raw and gzipped, and wrangler's own "Total Upload" line.
 */
export async function buildBundle(workspace: ReturnType<typeof createWorkspace>) {
  const logFile = path.join(workspace.logsDir, "build.log");
  await runGroup("wrangler", ["deploy", "--dry-run", "--outdir", workspace.bundleDir], {
    cwd: ROOT,
    env: wranglerEnv(),
    logFile,
    timeoutMs: 120_000,
  });
  const files = readdirSync(workspace.bundleDir).map((name) => {
    const file = path.join(workspace.bundleDir, name);
    return { name, bytes: statSync(file).size, file };
  });
  const modules = files.filter((f) => !f.name.endsWith(".map") && f.name !== "README.md");
  const gzipBytes = modules.reduce((sum, f) => sum + gzipSync(readFileSync(f.file)).length, 0);
  const reported = /Total Upload: ([\d.]+ \w+) \/ gzip: ([\d.]+ \w+)/.exec(readFileSync(logFile, "utf8"));
  return {
    files: files.map(({ name, bytes }) => ({ name, bytes })),
    totalBytes: files.reduce((sum, f) => sum + f.bytes, 0),
    uploadBytes: modules.reduce((sum, f) => sum + f.bytes, 0),
    uploadGzipBytes: gzipBytes,
    wranglerReported: reported ? { upload: reported[1] ?? "", gzip: reported[2] ?? "" } : null,
  };
}

/**
 * Applies the migrations to every database of the pool that `configFile` declares (DB and
 * D1_DATA_DATABASES, as `npm run migrate-db` does): a namespace placed in or moved to a data
 * database needs its tables.
 */
export async function migrateLocalPool(options: {
  configFile: string;
  stateDir: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFile: (binding: string) => string;
}) {
  const members = poolMembers(parseToml(readFileSync(options.configFile, "utf8")).data, null);
  for (const member of members) {
    const args = migrationCommand(member, { remote: false, env: null, persistTo: options.stateDir });
    await runGroup("wrangler", args, {
      cwd: options.cwd,
      env: options.env,
      logFile: options.logFile(member.binding),
      timeoutMs: 120_000,
    });
  }
}

export async function applyMigrations(workspace: ReturnType<typeof createWorkspace>) {
  await migrateLocalPool({
    configFile: workspace.configFile,
    stateDir: workspace.stateDir,
    cwd: workspace.dir,
    env: { ...wranglerEnv(), CI: "true" },
    logFile: (binding) => path.join(workspace.logsDir, `migrations-${binding}.log`),
  });
}

/**
 * The first `count` free ports of the bench's range, skipping `exclude`.
 */
export async function freePorts(count: number, exclude: number[] = []) {
  const found: number[] = [];
  for (let port = PORT_RANGE[0]; port <= PORT_RANGE[1] && found.length < count; port++) {
    if (!exclude.includes(port) && (await portFree(port))) found.push(port);
  }
  if (found.length < count) {
    throw new Error(`need ${count} free ports in ${PORT_RANGE[0]}-${PORT_RANGE[1]}, found ${found.length}`);
  }
  return found;
}

/** A random admin key for this run only (the server needs at least 32 characters). */
export function randomAdminKey() {
  return `bench_${randomBytes(24).toString("base64url")}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function logTail(logFile: string, lines: number = 30) {
  try {
    return readFileSync(logFile, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Polls GET /healthz until it answers 200; fails early when the server exits.
 */
async function waitHealthy(
  baseUrl: string,
  group: { exited: () => unknown },
  logFile: string,
  timeoutMs: number,
) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (group.exited())
      throw new Error(`the server exited during startup; log ${logFile}:\n${logTail(logFile)}`);
    try {
      const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(250);
  }
  throw new Error(
    `no healthy answer from ${baseUrl} within ${timeoutMs / 1000} s; log ${logFile}:\n${logTail(logFile)}`,
  );
}

export type RunningServer = {
  kind: string;
  baseUrl: string;
  port: number;
  pgid: number;
  proxyPort: number;
  directUrl: string | null;
  logFile: string;
  stop: () => Promise<void>;
  inspectorPort?: number;
};

/**
 * The Worker's own socket behind wrangler's dev proxy (found among the Worker runtime's loopback
 * listeners by asking each for /healthz), or null. Requests sent there skip the proxy workerd and
 * wrangler's request logging, two costs a deployed Worker does not have.
 */
async function findDirectUrl(pgid: number, proxyPort: number) {
  for (const pid of workerPids(pgid, proxyPort)) {
    for (const port of listeningPorts(pid)) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
        const body = await res.text();
        if (res.status === 200 && body === '{"status":"ok"}') return `http://127.0.0.1:${port}`;
      } catch {
        // Not an HTTP listener (the inspector, internal services).
      }
    }
  }
  return null;
}

/**
 * Serves the built Worker with `wrangler dev --local`; `vars` are passed as --var.
 */
export async function startWrangler({
  workspace,
  adminKey,
  vars,
  port,
  inspectorPort: inspector,
  label,
}: {
  workspace: ReturnType<typeof createWorkspace>;
  adminKey: string;
  vars: Record<string, string>;
  port?: number;
  inspectorPort?: number;
  label: string;
}): Promise<RunningServer> {
  const [httpPort, inspectorPort] =
    port === undefined ? await freePorts(2) : [port, inspector ?? (await freePorts(1, [port]))[0]];
  if (httpPort === undefined || inspectorPort === undefined) throw new Error("no free port");
  const logFile = path.join(workspace.logsDir, `wrangler-${label}.log`);
  const varArgs = Object.entries({ BACKEND: "local", ADMIN_API_KEY: adminKey, ...vars }).flatMap(([k, v]) => [
    "--var",
    `${k}:${v}`,
  ]);
  const group = startGroup(
    "wrangler",
    [
      "dev",
      path.join(workspace.bundleDir, "index.js"),
      "--no-bundle",
      "--config",
      workspace.configFile,
      "--local",
      "--persist-to",
      workspace.stateDir,
      "--ip",
      "127.0.0.1",
      "--port",
      String(httpPort),
      "--inspector-ip",
      "127.0.0.1",
      "--inspector-port",
      String(inspectorPort),
      "--show-interactive-dev-session=false",
      // Its own name: wrangler's dev registry is keyed by Worker name, and another local session
      // of "edgesearch" (npm run dev, the e2e check) starting or stopping must not touch this one.
      "--name",
      `edgesearch-bench-${process.pid}`,
      ...varArgs,
    ],
    { cwd: workspace.dir, env: wranglerEnv(), logFile },
  );
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  try {
    await waitHealthy(baseUrl, group, logFile, 90_000);
  } catch (err) {
    await group.stop();
    throw err;
  }
  return {
    kind: "wrangler",
    baseUrl,
    port: httpPort,
    pgid: group.pgid,
    proxyPort: httpPort,
    directUrl: await findDirectUrl(group.pgid, httpPort),
    logFile,
    stop: group.stop,
    inspectorPort,
  };
}

/**
 * A trivial Node HTTP server in its own process: what the client alone can do on this machine.
 */
export async function startTrivial({
  workspace,
  port,
  label,
}: {
  workspace: ReturnType<typeof createWorkspace>;
  port?: number;
  label: string;
}): Promise<RunningServer> {
  const [httpPort] = port === undefined ? await freePorts(1) : [port];
  if (httpPort === undefined) throw new Error("no free port");
  const logFile = path.join(workspace.logsDir, `${label}.log`);
  const script = fileURLToPath(new URL("./trivial-server.ts", import.meta.url));
  const group = startGroup(process.execPath, [script, String(httpPort)], {
    cwd: workspace.dir,
    env: process.env,
    logFile,
  });
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  try {
    await waitHealthy(baseUrl, group, logFile, 15_000);
  } catch (err) {
    await group.stop();
    throw err;
  }
  return {
    kind: "trivial",
    baseUrl,
    port: httpPort,
    pgid: group.pgid,
    proxyPort: httpPort,
    directUrl: null,
    logFile,
    stop: group.stop,
  };
}
