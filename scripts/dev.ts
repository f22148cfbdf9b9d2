#!/usr/bin/env node
// `npm run dev [-- wrangler dev flags]`: serves the whole service offline. On first run writes
// .dev.vars with a fresh admin key (ADMIN_API_KEY) and prints it; applies the D1 migrations to
// each local database of the pool (`npm run migrate-db`); then runs `wrangler dev --local` with
// the local stand-ins for Workers AI, Vectorize and R2 event notifications (BACKEND=local,
// R2_NOTIFICATIONS=true); once the server answers, requests /healthz, which starts the watcher
// that announces objects written beside the Worker (`wrangler r2 object put --local`). Extra
// flags (e.g. --port 8788) go to wrangler.
// wrangler runs in its own process group, stopped as a whole, so no workerd keeps the port.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
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

// The dev admin key: kept in .dev.vars (gitignored), created once.
const devVars = path.join(root, ".dev.vars");
const current = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
const existing = /^ADMIN_API_KEY=(.+)$/m.exec(current)?.[1]?.trim();
if (existing) {
  console.log(`edgesearch: dev admin key (from .dev.vars): ${existing}`);
} else {
  const key = `es_dev_${randomBytes(24).toString("base64url")}`;
  const prefix = current && !current.endsWith("\n") ? `${current}\n` : current;
  writeFileSync(devVars, `${prefix}ADMIN_API_KEY=${key}\n`, { mode: 0o600 });
  console.log(`edgesearch: created .dev.vars with a new dev admin key: ${key}`);
}
console.log('edgesearch: use it as  -H "authorization: Bearer <key>"  (scripts read it from .dev.vars)\n');

// `--persist-to DIR` moves the local state: the migrations must go to the database there.
const persistAt = args.findIndex((a) => a === "--persist-to" || a.startsWith("--persist-to="));
const persistArg = args[persistAt];
const persist =
  persistArg === undefined
    ? []
    : persistArg.includes("=")
      ? [persistArg]
      : args.slice(persistAt, persistAt + 2);
// Every database of the pool (DB and D1_DATA_DATABASES) gets the migrations (scripts/migrate-db.ts).
const migrate = spawnSync(
  process.execPath,
  [path.join(root, "scripts/migrate-db.ts"), "--local", ...persist],
  {
    cwd: root,
    env: { ...env, CI: "true" },
    stdio: ["ignore", "inherit", "inherit"],
  },
);
if (migrate.status !== 0) {
  console.error("edgesearch: applying the local D1 migrations failed");
  process.exit(migrate.status ?? 1);
}

// R2_NOTIFICATIONS on, as deployed: the local stand-in for R2 event notifications (Miniflare has
// none) sends each documents-bucket write's message, and the API does not enqueue its own.
const vars = ["--var", "BACKEND:local", "--var", "R2_NOTIFICATIONS:true"];
const child = spawn("wrangler", ["dev", "--local", ...vars, ...args], {
  cwd: root,
  env,
  stdio: "inherit",
  detached: true,
});

// The first request starts the documents bucket's watcher (workers/objects/local-bucket-watcher.ts):
// made here, it runs from startup, before any client calls.
const flag = (name: string) => {
  const at = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  const arg = args[at];
  if (arg === undefined) return undefined;
  return arg.includes("=") ? arg.slice(name.length + 1) : args[at + 1];
};
const host = flag("--ip") ?? "localhost";
const origin = `http://${host.includes(":") ? `[${host}]` : host}:${flag("--port") ?? "8787"}`;
const startWatcher = async () => {
  for (let attempt = 0; attempt < 600 && !stopping; attempt++) {
    try {
      const res = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(30_000) });
      await res.body?.cancel();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
};

let stopping = false;
// The child leads its own process group (detached), so -pid signals wrangler and workerd together.
const signalGroup = (signal: NodeJS.Signals) => {
  if (child.pid !== undefined) process.kill(-child.pid, signal);
};
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  try {
    signalGroup(signal);
  } catch {
    // Already gone.
  }
  setTimeout(() => {
    try {
      signalGroup("SIGKILL");
    } catch {
      // Already gone.
    }
    process.exit(130);
  }, 5000).unref();
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => stop(signal));
child.on("exit", (code, signal) => {
  try {
    signalGroup("SIGTERM");
  } catch {
    // The group is already gone.
  }
  process.exit(code ?? (signal ? 1 : 0));
});
void startWatcher();
