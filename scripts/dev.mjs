#!/usr/bin/env node
// `npm run dev [-- wrangler dev flags]`: serves the whole service offline. Applies the D1
// migrations to the local database, then runs `wrangler dev --local` with the local stand-ins
// for Workers AI and Vectorize (BACKEND=local). Extra flags (e.g. --port 8788) go to wrangler.
// wrangler runs in its own process group, stopped as a whole, so no workerd keeps the port.
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = {
  ...process.env,
  PATH: `${path.join(root, "node_modules", ".bin")}${path.delimiter}${process.env.PATH ?? ""}`,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
};
const args = process.argv.slice(2);

const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], {
  cwd: root,
  env: { ...env, CI: "true" },
  stdio: ["ignore", "inherit", "inherit"],
});
if (migrate.status !== 0) {
  console.error("edgesearch: applying the local D1 migrations failed");
  process.exit(migrate.status ?? 1);
}

const child = spawn("wrangler", ["dev", "--local", "--var", "BACKEND:local", ...args], {
  cwd: root,
  env,
  stdio: "inherit",
  detached: true,
});

let stopping = false;
const stop = (signal) => {
  if (stopping) return;
  stopping = true;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
  setTimeout(() => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
    process.exit(130);
  }, 5000).unref();
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => stop(signal));
child.on("exit", (code, signal) => {
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    // The group is already gone.
  }
  process.exit(code ?? (signal ? 1 : 0));
});
