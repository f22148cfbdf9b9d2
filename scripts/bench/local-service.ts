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

/**
 * @typedef {{ status: number, body: any }} Answer
 * @typedef {{ baseUrl: string, adminKey: string, logFile: string, workspaceDir: string,
 *   call: (method: string, path: string, body?: unknown, key?: string) => Promise<Answer> }} LocalService
 */

/** Command-line options of a script that starts the local service. */
export const SERVICE_OPTIONS = /** @type {const} */ ({
  port: { type: "string" },
  "inspector-port": { type: "string" },
  keep: { type: "boolean" },
});

export const SERVICE_USAGE = `  --port N            port for wrangler dev (default: a free one in the bench range)
  --inspector-port N  its inspector's port (default: a free one in the bench range)
  --keep              keep the temporary workspace (state, server log)`;

/**
 * The service settings of parsed SERVICE_OPTIONS.
 * @param {Record<string, unknown>} values
 */
export function serviceSettings(values) {
  /** @param {string} flag */
  const port = (flag) => {
    const value = values[flag];
    return typeof value === "string" ? positiveInt(value, `--${flag}`, 0) : undefined;
  };
  return { port: port("port"), inspectorPort: port("inspector-port"), keep: values.keep === true };
}

/**
 * @param {{ port?: number, inspectorPort?: number, label: string, keep: boolean,
 *   log: (line: string) => void }} options
 * @returns {Promise<LocalService>}
 */
export async function startLocalService({ port, inspectorPort, label, keep, log }) {
  installSignalHandlers();
  const workspace = createWorkspace();
  onCleanup(async () => {
    if (!keep) removeWorkspace(workspace);
  });
  log(`workspace ${workspace.dir}; building the Worker and applying migrations...`);
  await buildBundle(workspace);
  await applyMigrations(workspace);
  const adminKey = randomAdminKey();
  const server = await startWrangler({ workspace, adminKey, vars: {}, port, inspectorPort, label });
  onCleanup(() => server.stop());
  log(`serving at ${server.baseUrl} (log: ${server.logFile})`);
  /** @type {LocalService["call"]} */
  const call = async (method, path, body, key = adminKey) => {
    const res = await fetch(`${server.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed };
  };
  return { baseUrl: server.baseUrl, adminKey, logFile: server.logFile, workspaceDir: workspace.dir, call };
}

/**
 * A key of the run: the given roles on the given namespace patterns.
 * @param {LocalService} service
 * @param {{ name: string, namespaces: string[], roles: string[], rateLimit: string }} spec
 * @returns {Promise<string>}
 */
export async function createKey(service, spec) {
  const res = await service.call("POST", "/v1/admin/keys", spec);
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`creating key ${spec.name}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body.key;
}
