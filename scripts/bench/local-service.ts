// The service as `npm run dev` serves it (wrangler dev --local, BACKEND=local) from a temporary
// workspace of its own, for the ingest measurements: a fresh admin key, a small JSON API caller,
// and the server's log (where the consumer's ingest.* events land). Stopped by the cleanups.
import { positiveInt } from "../lib/args.ts";
import { installSignalHandlers, onCleanup } from "./processes.ts";
import {
  applyMigrations,
  buildBundle,
  createWorkspace,
  randomAdminKey,
  removeWorkspace,
  startWrangler,
} from "./server.ts";

/** A JSON answer's fields; a body that is not JSON stays its text, whose fields read as undefined. */
export type Answer = { status: number; body: Record<string, unknown> };
export type LocalService = {
  baseUrl: string;
  adminKey: string;
  logFile: string;
  workspaceDir: string;
  /** The server's process group and the port its proxy serves, for CPU accounting (procstat.ts). */
  pgid: number;
  proxyPort: number;
  call: (method: string, path: string, body?: unknown, key?: string) => Promise<Answer>;
};

/** Command-line options of a script that starts the local service. */
export const SERVICE_OPTIONS = {
  port: { type: "string" },
  "inspector-port": { type: "string" },
  keep: { type: "boolean" },
} as const;

export const SERVICE_USAGE = `  --port N            port for wrangler dev (default: a free one in the bench range)
  --inspector-port N  its inspector's port (default: a free one in the bench range)
  --keep              keep the temporary workspace (state, server log)`;

/**
 * The service settings of parsed SERVICE_OPTIONS.
 */
export function serviceSettings(values: Record<string, unknown>) {
  const port = (flag: string) => {
    const value = values[flag];
    return typeof value === "string" ? positiveInt(value, `--${flag}`, 0) : undefined;
  };
  return { port: port("port"), inspectorPort: port("inspector-port"), keep: values.keep === true };
}

export async function startLocalService({
  port,
  inspectorPort,
  label,
  keep,
  log,
  vars = {},
}: {
  port?: number;
  inspectorPort?: number;
  label: string;
  keep: boolean;
  log: (line: string) => void;
  /** Extra Worker vars (wrangler dev --var). */
  vars?: Record<string, string>;
}): Promise<LocalService> {
  installSignalHandlers();
  const workspace = createWorkspace();
  onCleanup(async () => {
    if (!keep) removeWorkspace(workspace);
  });
  log(`workspace ${workspace.dir}; building the Worker and applying migrations...`);
  await buildBundle(workspace);
  await applyMigrations(workspace);
  const adminKey = randomAdminKey();
  const server = await startWrangler({ workspace, adminKey, vars, port, inspectorPort, label });
  onCleanup(() => server.stop());
  log(`serving at ${server.baseUrl} (log: ${server.logFile})`);
  const call: LocalService["call"] = async (method, path, body, key = adminKey) => {
    const res = await fetch(`${server.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed as Record<string, unknown> };
  };
  return {
    baseUrl: server.baseUrl,
    adminKey,
    logFile: server.logFile,
    workspaceDir: workspace.dir,
    pgid: server.pgid,
    proxyPort: server.proxyPort,
    call,
  };
}

/**
 * A key of the run: the given roles on the given namespace patterns.
 */
export async function createKey(
  service: LocalService,
  spec: { name: string; namespaces: string[]; roles: string[]; rateLimit: string },
): Promise<string> {
  const res = await service.call("POST", "/v1/admin/keys", spec);
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`creating key ${spec.name}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  if (typeof res.body.key !== "string") throw new Error(`creating key ${spec.name}: no key in the answer`);
  return res.body.key;
}
