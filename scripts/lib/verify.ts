// `npm run verify`: a post-deploy check of a running service through its public API. It writes a
// canary document to a dedicated namespace, follows it through indexing, every search mode, a
// filter, the result cache and deletion, checks the namespace's counts, and removes it. Each step
// prints one line (name, result, milliseconds); the run stops at the first failure.

import type { Client, FetchFn } from "../../client/src/index.ts";
import { ApiError, createClient } from "../../client/src/index.ts";
import {
  CONNECTION_USAGE,
  checkNamespace,
  connectionSettings,
  positiveInt,
  ScriptError,
  UsageError,
} from "./args.ts";
import type { Context } from "./verify-steps.ts";
import { makeCanary, STEPS } from "./verify-steps.ts";

export const DEFAULT_NAMESPACE = "verify-canary";
export const DEFAULT_FILTER_FIELD = "category";
export const DEFAULT_TIMEOUT_SECONDS = 120;

export const USAGE = `Usage: npm run verify -- --url URL [--key KEY] [--namespace NS]

Checks a running service end to end and exits non-zero at the first failing step: health and
readiness, ingest of a canary document, indexing, search in every mode and with a filter, a
result-cache hit, deletion, and the namespace's counts. The canary is removed whatever happens.

Options:
  --key KEY          API key with the search and write roles on the namespace
                     (default: $EDGESEARCH_API_KEY, else .dev.vars for a local URL)
  --namespace NS     namespace for the canary (default: ${DEFAULT_NAMESPACE}); one that nothing
                     else writes to, as its counts are checked
  --timeout SECONDS  how long each waiting step may take (default: ${DEFAULT_TIMEOUT_SECONDS})
  --filter-field F   a FILTERABLE_FIELDS entry for the filter step (default: ${DEFAULT_FILTER_FIELD})
${CONNECTION_USAGE}`;

export const OPTIONS = {
  url: { type: "string" },
  help: { type: "boolean", short: "h" },
  key: { type: "string" },
  namespace: { type: "string" },
  timeout: { type: "string" },
  "filter-field": { type: "string" },
} as const;

/** The flags as parseCommandLine returns them over OPTIONS. */
export type VerifyFlags = Partial<Record<keyof typeof OPTIONS, string | boolean>>;

/**
 * The run's settings from the parsed flags (parseCommandLine over OPTIONS) and the environment.
 */
export function verifySettings(
  values: VerifyFlags,
  env: Record<string, string | undefined> = process.env,
  devAdminKey?: () => string | undefined,
):
  | { help: true }
  | {
      help: false;
      baseUrl: string;
      apiKey: string;
      namespace: string;
      timeoutMs: number;
      filterField: string;
    } {
  if (values.help) return { help: true };
  const settings = connectionSettings(values, env, devAdminKey);
  const apiKey = typeof values.key === "string" && values.key !== "" ? values.key : settings.apiKey;
  if (!apiKey) {
    throw new UsageError(
      `no API key for ${settings.baseUrl}: pass --key KEY or set EDGESEARCH_API_KEY ` +
        "(for a local URL, the ADMIN_API_KEY of .dev.vars is used)",
    );
  }
  const filterField =
    typeof values["filter-field"] === "string" ? values["filter-field"] : DEFAULT_FILTER_FIELD;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(filterField)) {
    throw new UsageError(`--filter-field: expected a metadata field name, got "${filterField}"`);
  }
  return {
    help: false,
    baseUrl: settings.baseUrl,
    apiKey,
    namespace: checkNamespace(typeof values.namespace === "string" ? values.namespace : DEFAULT_NAMESPACE),
    timeoutMs: positiveInt(values.timeout, "--timeout", DEFAULT_TIMEOUT_SECONDS) * 1000,
    filterField,
  };
}

function reasonOf(err: unknown) {
  if (err instanceof ScriptError || err instanceof ApiError) return err.message;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

export function formatStep(result: "ok" | "FAIL", name: string, ms: number, detail: string) {
  return `${result.padEnd(4)}  ${name.padEnd(14)} ${String(Math.round(ms)).padStart(6)} ms  ${detail}`;
}

/**
 * Runs the check. Never throws for a failing step: the result names it and gives the reason.
 */
export async function runVerify(options: {
  client: Client;
  namespace: string;
  timeoutMs: number;
  filterField: string;
  log: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}): Promise<{ ok: true; ms: number } | { ok: false; step: string; reason: string; ms: number }> {
  const { client, namespace, timeoutMs, log } = options;
  const sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const canary = makeCanary(options.filterField);
  const started = performance.now();
  log(`verify ${client.baseUrl}: namespace ${namespace}, canary ${canary.id} ("${canary.token}")`);

  const ctx: Context = {
    client,
    namespace,
    timeoutMs,
    sleep,
    canary,
    state: { backend: "cloudflare", written: false, deleted: false, indexedAt: 0, canaryChunks: 0 },
  };

  let failure: { step: string; reason: string } | null = null;
  for (const { name, run } of STEPS) {
    const t0 = performance.now();
    try {
      const detail = await run(ctx);
      log(formatStep("ok", name, performance.now() - t0, detail));
    } catch (err) {
      const reason = reasonOf(err).split("\n")[0] ?? "";
      log(formatStep("FAIL", name, performance.now() - t0, reason));
      failure = { step: name, reason };
      break;
    }
  }

  // Whatever happened above: a canary written and not deleted is removed.
  const t0 = performance.now();
  if (ctx.state.written && !ctx.state.deleted) {
    try {
      await client.deleteDocument(namespace, canary.id);
      log(formatStep("ok", "cleanup", performance.now() - t0, `deleted ${canary.id}`));
    } catch (err) {
      log(
        formatStep(
          "FAIL",
          "cleanup",
          performance.now() - t0,
          `could not delete ${canary.id}: ${reasonOf(err).split("\n")[0]}`,
        ),
      );
    }
  } else {
    log(
      formatStep(
        "ok",
        "cleanup",
        0,
        ctx.state.written ? "nothing left (the canary was deleted)" : "nothing written",
      ),
    );
  }

  const ms = performance.now() - started;
  if (failure) {
    log(`verify FAILED at ${failure.step} after ${(ms / 1000).toFixed(1)} s: ${failure.reason}`);
    return { ok: false, ...failure, ms };
  }
  log(`verify passed in ${(ms / 1000).toFixed(1)} s`);
  return { ok: true, ms };
}

/**
 * The command: runs the check with the parsed flags and returns the exit code (0 passed, 1 a step
 * failed; usage errors throw UsageError, which `run` maps to 2).
 */
export async function verifyCommand(
  values: VerifyFlags,
  deps: {
    fetch?: FetchFn;
    env?: Record<string, string | undefined>;
    devAdminKey?: () => string | undefined;
    log?: (line: string) => void;
  } = {},
): Promise<number> {
  const log = deps.log ?? ((line) => console.log(line));
  const args = verifySettings(values, deps.env ?? process.env, deps.devAdminKey);
  if (args.help) {
    log(USAGE);
    return 0;
  }
  const client = createClient({
    baseUrl: args.baseUrl,
    apiKey: args.apiKey,
    timeoutMs: 15_000,
    maxAttempts: 3,
    // A 503 or 429 with Retry-After is waited out a few times, not for minutes.
    maxRateLimitWaits: 3,
    maxRetryAfterMs: 30_000,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    onRetry: ({ reason, delayMs }) =>
      console.error(`  retrying in ${(delayMs / 1000).toFixed(1)} s: ${reason}`),
  });
  const result = await runVerify({
    client,
    namespace: args.namespace,
    timeoutMs: args.timeoutMs,
    filterField: args.filterField,
    log,
  });
  return result.ok ? 0 : 1;
}
