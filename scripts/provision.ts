#!/usr/bin/env node
// `npm run provision [-- --env staging|production] [--dry-run [--state FILE]]`: creates, through
// the wrangler CLI, every Cloudflare resource wrangler.toml declares for one environment and
// that the account does not have yet, writes the new KV and D1 ids back into wrangler.toml,
// applies the D1 migrations and puts the secrets. Safe to run again: what exists is left alone.
// The plan is a pure function (lib/provision-plan.ts); this file only runs wrangler and asks for
// secrets. --dry-run prints the plan and never calls Cloudflare.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { isEntryPoint, parseCommandLine, run, ScriptError, UsageError } from "./lib/args.ts";
import {
  parseAuthToken,
  parseD1List,
  parseD1ReadReplication,
  parseKvList,
  parseMetadataIndexes,
  parseNotificationRules,
  parseQueueList,
  parseR2BucketList,
  parseSecretList,
  parseVectorizeList,
  parseWhoamiAccounts,
  stripAnsi,
} from "./lib/provision-parse.ts";
import type { ObservedState, ProvisionConfig, Step } from "./lib/provision-plan.ts";
import {
  apiCommand,
  emptyState,
  formatPlan,
  planProvision,
  resolveEnvironment,
  shellCommand,
  stateFromJson,
} from "./lib/provision-plan.ts";
import { parseToml, setTomlString } from "./lib/provision-toml.ts";
import { ROOT, runWrangler } from "./lib/wrangler.ts";

const root = ROOT;
const MAX_QUEUE_PAGES = 50;

const USAGE = `Usage: npm run provision [-- --env NAME] [--dry-run [--state FILE]]

Creates what wrangler.toml declares for one environment and the Cloudflare account lacks: the
Vectorize index and its metadata indexes, the KV namespace, every D1 database (the control
database and the data pool; applies the migrations to each and turns on its read replication),
the queues, the R2 buckets (documents, with event notifications to the ingest
queue; backups, without), and the secrets ADMIN_API_KEY (required), BACKUP_SIGNING_KEY,
SENTRY_DSN and ANALYTICS_API_TOKEN (optional). New KV and D1 ids are written into
wrangler.toml. Existing resources are never changed.

Options:
  --env NAME             a [env.NAME] section of wrangler.toml (default: the top level)
  --dry-run              print the plan with its commands; Cloudflare is not called
  --state FILE           with --dry-run: JSON of what exists (see docs/runbooks/deploy.md)
  --field-type F=TYPE    metadata index type of a filterable field: string, number or boolean
                         (repeatable; default: year=number, every other field string)
  --config FILE          the wrangler configuration (default: wrangler.toml)
  --no-read-replication  leave the D1 databases' read replication as it is
  -h, --help             show this help

Secrets come from the environment variables of the same name when set, else from a hidden
prompt; they are passed to wrangler on stdin and never printed. Needs \`npx wrangler login\` or
CLOUDFLARE_API_TOKEN (and CLOUDFLARE_ACCOUNT_ID for tokens that see several accounts). Read
replication is set through the Cloudflare API with the same credentials (\`wrangler auth token\`).`;

const wrangler = runWrangler;

/**
 * @returns stdout
 */
async function wranglerOk(args: string[]): Promise<string> {
  const r = await wrangler(args);
  if (r.code !== 0) {
    const output = stripAnsi(`${r.stdout}\n${r.stderr}`).trim().split("\n").slice(-15).join("\n");
    throw new ScriptError(`${shellCommand(args)} failed (exit ${r.code}):\n${output}`);
  }
  return r.stdout;
}

/**
 * What the account holds of the resources this environment names.
 */
async function observe(config: ProvisionConfig): Promise<ObservedState> {
  const state = emptyState();
  state.known = true;
  const envArgs = config.env === null ? [] : ["--env", config.env];

  for (const index of parseVectorizeList(await wranglerOk(["vectorize", "list", "--json"]))) {
    if (!config.vectorize.some((v) => v.indexName === index.name)) continue;
    const metadataIndexes = parseMetadataIndexes(
      await wranglerOk(["vectorize", "list-metadata-index", index.name, "--json"]),
    );
    state.vectorize[index.name] = { dimensions: index.dimensions, metric: index.metric, metadataIndexes };
  }
  if (config.kv.length > 0) state.kvNamespaces = parseKvList(await wranglerOk(["kv", "namespace", "list"]));
  if (config.d1.length > 0) state.d1Databases = parseD1List(await wranglerOk(["d1", "list", "--json"]));
  for (const db of state.d1Databases) {
    if (!config.d1.some((d) => d.databaseName === db.name || d.databaseId === db.uuid)) continue;
    // d1 info also reads metrics through GraphQL; when it fails the mode stays unknown and the
    // replication call is planned (it only sets what is asked).
    const info = await wrangler(["d1", "info", db.name, "--json", ...envArgs]);
    const mode = info.code === 0 ? parseD1ReadReplication(info.stdout) : null;
    if (mode !== null) db.readReplication = mode;
  }

  for (let page = 1; page <= MAX_QUEUE_PAGES; page++) {
    const names = parseQueueList(await wranglerOk(["queues", "list", "--page", String(page)]));
    const fresh = names.filter((n) => !state.queues.includes(n));
    if (fresh.length === 0) break;
    state.queues.push(...fresh);
  }

  if (config.r2.length > 0) {
    state.r2Buckets = parseR2BucketList(await wranglerOk(["r2", "bucket", "list"]));
    for (const { bucketName } of config.r2) {
      if (!state.r2Buckets.includes(bucketName)) continue;
      state.r2Notifications[bucketName] = parseNotificationRules(
        await wranglerOk(["r2", "bucket", "notification", "list", bucketName]),
      );
    }
  }

  // Before the first deploy there is no Worker, hence no secrets: that is not a failure.
  const secrets = await wrangler(["secret", "list", "--format", "json", ...envArgs]);
  if (secrets.code === 0) state.secrets = parseSecretList(secrets.stdout);
  return state;
}

/**
 * Reads a line without echoing it (for secrets).
 */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding("utf8");
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = (settle: () => void) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      settle();
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return finish(() => resolve(value));
        if (ch === "\u0003" || ch === "\u0004") return finish(() => reject(new ScriptError("cancelled")));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else if (ch >= " ") value += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/**
 * A secret's value: its environment variable, else a hidden prompt; undefined to skip an
 * optional one.
 */
async function secretValue(secret: { name: string; required: boolean }): Promise<string | undefined> {
  const fromEnv = process.env[secret.name];
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY) {
    if (!secret.required) return undefined;
    throw new ScriptError(
      `${secret.name} is not set and there is no terminal to ask for it: set it in the environment`,
    );
  }
  for (;;) {
    const value = (
      await promptHidden(
        secret.required
          ? `${secret.name} (at least 32 characters, e.g. from \`openssl rand -base64 33\`): `
          : `${secret.name} (optional; Enter skips): `,
      )
    ).trim();
    if (value === "" && !secret.required) return undefined;
    if (secret.name !== "ADMIN_API_KEY" || value.length >= 32) return value;
    process.stderr.write("  too short: the Worker refuses an ADMIN_API_KEY under 32 characters\n");
  }
}

/**
 * A Cloudflare API call wrangler has no command for, with wrangler's credentials and account.
 */
async function callApi(api: NonNullable<Step["api"]>) {
  const uuid = parseD1List(await wranglerOk(["d1", "list", "--json"])).find(
    (d) => d.name === api.database,
  )?.uuid;
  if (!uuid) throw new ScriptError(`D1 database ${api.database} is not listed yet; run provision again`);
  const token =
    process.env.CLOUDFLARE_API_TOKEN || parseAuthToken(await wranglerOk(["auth", "token", "--json"]));
  if (!token)
    throw new ScriptError("no API token (global API keys are not supported here): set CLOUDFLARE_API_TOKEN");
  let account = process.env.CLOUDFLARE_ACCOUNT_ID;
  if (!account) {
    const accounts = parseWhoamiAccounts(await wranglerOk(["whoami", "--json"]));
    if (accounts.length !== 1 || !accounts[0])
      throw new ScriptError(`the credentials reach ${accounts.length} accounts: set CLOUDFLARE_ACCOUNT_ID`);
    account = accounts[0];
  }
  const res = await fetch(`https://api.cloudflare.com/client/v4/accounts/${account}/d1/database/${uuid}`, {
    method: api.method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(api.body),
  });
  if (!res.ok) {
    throw new ScriptError(
      `${apiCommand(api)} failed (HTTP ${res.status}):\n${(await res.text()).slice(0, 2000)}`,
    );
  }
  await res.body?.cancel();
}

async function execute(step: Step, configPath: string) {
  if (step.status === "exists" || step.status === "warn") return;
  if (step.status === "conflict") return;
  if (step.api) {
    await callApi(step.api);
    return;
  }
  if (step.kind === "config-id" && step.configEdit) {
    const edit = step.configEdit;
    let value = edit.value;
    if (value === undefined && edit.lookup?.kind === "kv") {
      const title = edit.lookup.title;
      value = parseKvList(await wranglerOk(["kv", "namespace", "list"])).find((n) => n.title === title)?.id;
    } else if (value === undefined && edit.lookup?.kind === "d1") {
      const name = edit.lookup.name;
      value = parseD1List(await wranglerOk(["d1", "list", "--json"])).find((d) => d.name === name)?.uuid;
    }
    if (!value)
      throw new ScriptError(`${step.title}: the new resource is not listed yet; run provision again`);
    const text = await readFile(configPath, "utf8");
    await writeFile(configPath, setTomlString(text, edit.table, edit.key, value));
    console.log(`       wrote ${edit.key} = "${value}"`);
    return;
  }
  if (step.kind === "secret" && step.secret && step.command) {
    const value = await secretValue(step.secret);
    if (value === undefined) {
      console.log("       skipped");
      return;
    }
    await wranglerOkWithInput(step.command, value);
    return;
  }
  if (step.command) await wranglerOk(step.command);
}

async function wranglerOkWithInput(args: string[], input: string) {
  const r = await wrangler(args, { input });
  if (r.code !== 0) {
    // The output never echoes stdin, so it is safe to show.
    throw new ScriptError(
      `${shellCommand(args)} failed (exit ${r.code}):\n${stripAnsi(`${r.stdout}\n${r.stderr}`).trim()}`,
    );
  }
}

export async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    env: { type: "string" },
    "dry-run": { type: "boolean" },
    state: { type: "string" },
    "field-type": { type: "string", multiple: true },
    config: { type: "string" },
    "no-read-replication": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const dryRun = values["dry-run"] === true;
  if (values.state !== undefined && !dryRun) throw new UsageError("--state only goes with --dry-run");
  const fieldTypes: Record<string, string> = {};
  for (const spec of (values["field-type"] ?? []) as string[]) {
    const m = /^([A-Za-z][A-Za-z0-9_]*)=(string|number|boolean)$/.exec(spec);
    if (!m?.[1] || !m[2])
      throw new UsageError(`--field-type: expected FIELD=string|number|boolean, got ${spec}`);
    fieldTypes[m[1]] = m[2];
  }
  const configPath = path.resolve(
    typeof values.config === "string" ? values.config : path.join(root, "wrangler.toml"),
  );
  const env = typeof values.env === "string" && values.env !== "" ? values.env : null;

  let config: ProvisionConfig;
  try {
    config = resolveEnvironment(parseToml(await readFile(configPath, "utf8")).data, env);
  } catch (err) {
    throw new ScriptError(err instanceof Error ? err.message : String(err));
  }

  let state = emptyState();
  if (dryRun && typeof values.state === "string") {
    try {
      state = stateFromJson(JSON.parse(await readFile(values.state, "utf8")));
    } catch (err) {
      throw new ScriptError(`--state ${values.state}: ${err instanceof Error ? err.message : String(err)}`);
    }
  } else if (!dryRun) {
    console.log("Listing what the account already has...");
    state = await observe(config);
  }

  const steps = planProvision(config, state, {
    fieldTypes,
    readReplication: values["no-read-replication"] !== true,
  });
  console.log(formatPlan(config, steps, { dryRun, stateKnown: state.known }));
  const conflicts = steps.filter((s) => s.status === "conflict");
  if (dryRun) return conflicts.length > 0 ? 1 : 0;
  if (conflicts.length > 0) {
    throw new ScriptError(
      `${conflicts.length} conflict(s) above: resolve them, then run again. Nothing was changed.`,
    );
  }

  console.log("");
  for (const [i, step] of steps.entries()) {
    if (step.status === "exists" || step.status === "warn") continue;
    console.log(`${String(i + 1).padStart(3)}. ${step.title}`);
    await execute(step, configPath);
  }
  const envFlag = env === null ? "" : ` --env ${env}`;
  console.log(`\nDone. Next: npx wrangler deploy${envFlag}   (then see docs/runbooks/deploy.md)`);
  return 0;
}

if (isEntryPoint(import.meta.url)) process.exitCode = await run(main, USAGE);
