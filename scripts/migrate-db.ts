#!/usr/bin/env node
// `npm run migrate-db [-- --remote] [--env NAME]`: applies the D1 migrations to every database of
// the pool (the control database DB and each member of D1_DATA_DATABASES), locally by default,
// and reports each one. The member list and the loop live in lib/d1-pool.ts.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { isEntryPoint, parseCommandLine, run, ScriptError, UsageError } from "./lib/args.ts";
import { formatResult, migratePool, poolMembers, sharedLocalDatabases } from "./lib/d1-pool.ts";
import { parseToml } from "./lib/provision-toml.ts";
import { ROOT, runWrangler } from "./lib/wrangler.ts";

const USAGE = `Usage: npm run migrate-db [-- --remote] [--env NAME] [--persist-to DIR]

Applies the D1 migrations (migrations/) to every database of the pool, one after another: the
control database DB, then each binding D1_DATA_DATABASES names (without that var, every
[[d1_databases]] table with a migrations_dir). Each database gets only the migrations it has not
recorded yet. A database that fails does not stop the others; the run then exits 1, and running
it again finishes the job.

Options:
  --local             the local databases of \`npm run dev\` and the tests (the default)
  --remote            the deployed databases (needs \`npx wrangler login\` or CLOUDFLARE_API_TOKEN)
  --env NAME          a [env.NAME] section of wrangler.toml (default: the top level)
  --persist-to DIR    with --local: the state directory wrangler dev was given
  --config FILE       the wrangler configuration (default: wrangler.toml)
  -h, --help          show this help`;

export async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    local: { type: "boolean" },
    remote: { type: "boolean" },
    env: { type: "string" },
    "persist-to": { type: "string" },
    config: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.local && values.remote) throw new UsageError("--local and --remote exclude each other");
  const remote = values.remote === true;
  if (remote && values["persist-to"] !== undefined)
    throw new UsageError("--persist-to only goes with --local");
  const env = typeof values.env === "string" && values.env !== "" ? values.env : null;
  const configPath = path.resolve(
    typeof values.config === "string" ? values.config : path.join(ROOT, "wrangler.toml"),
  );

  let members: ReturnType<typeof poolMembers>;
  try {
    members = poolMembers(parseToml(await readFile(configPath, "utf8")).data, env);
  } catch (err) {
    throw new ScriptError(err instanceof Error ? err.message : String(err));
  }
  if (members.length === 0)
    throw new ScriptError("wrangler.toml declares no D1 database with a migrations_dir");
  if (!remote) for (const warning of sharedLocalDatabases(members)) console.warn(`warning: ${warning}`);

  const where = `${remote ? "remote" : "local"} databases${env === null ? "" : ` of ${env}`}`;
  console.log(`Applying D1 migrations to the ${where}: ${members.map((m) => m.binding).join(", ")}`);
  // --config is wrangler's own flag too: the members and the commands come from the same file.
  const wrangler = (args: string[]) =>
    runWrangler(values.config === undefined ? args : [...args, "--config", configPath]);
  const results = await migratePool(
    members,
    { remote, env, persistTo: typeof values["persist-to"] === "string" ? values["persist-to"] : undefined },
    wrangler,
    (result) => {
      console.log(formatResult(result));
      if (result.error) console.log(result.error.replace(/^/gm, "    "));
    },
  );
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    throw new ScriptError(
      `${failed.length} of ${results.length} databases failed (${failed.map((r) => r.member.binding).join(", ")}); the others are migrated. Fix the cause and run again: each database gets only what it lacks.`,
    );
  }
  return 0;
}

if (isEntryPoint(import.meta.url)) process.exitCode = await run(main, USAGE);
