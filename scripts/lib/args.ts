// Command-line plumbing shared by the scripts: option parsing, connection settings from flags and
// environment, progress lines, plain-text tables and one way of turning failures into exit codes.
import { pathToFileURL } from "node:url";
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { ApiError, createClient, DEFAULT_BASE_URL } from "../../client/src/index.ts";
import { NAMESPACE_PATTERN } from "../../src/validation.ts";
import { isLoopback, readDevAdminKey } from "./dev-vars.ts";

/** A mistake in the command line: reported with the usage text, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** An expected failure with a message that says it all (bad input file, nothing indexed, ...). */
export class ScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScriptError";
  }
}

/** Options every script that talks to the API accepts. */
export const CONNECTION_OPTIONS = {
  url: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const CONNECTION_USAGE = `  --url URL          API base URL (default: $EDGESEARCH_URL or ${DEFAULT_BASE_URL})
  -h, --help         show this help

Environment: EDGESEARCH_API_KEY, when set, is sent as "Authorization: Bearer <key>"; when it is
not set and the URL is local, the ADMIN_API_KEY line of the repo's .dev.vars (written by
\`npm run dev\`) is used.`;

/**
 * Strict parseArgs: unknown flags and stray positionals are usage errors.
 */
export function parseCommandLine<O extends ParseArgsOptionsConfig>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/**
 * @param devAdminKey the local dev server's key (from .dev.vars)
 */
export function connectionSettings(
  values: { url?: string | boolean | undefined },
  env: Record<string, string | undefined> = process.env,
  devAdminKey: () => string | undefined = readDevAdminKey,
): { baseUrl: string; apiKey: string | undefined } {
  const raw = typeof values.url === "string" ? values.url : env.EDGESEARCH_URL || DEFAULT_BASE_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url: not a URL: ${raw}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--url: expected http or https, got ${url.protocol}`);
  }
  // The dev key is only ever sent to this machine: it would be useless, and a leak, elsewhere.
  const apiKey = env.EDGESEARCH_API_KEY || (isLoopback(url) ? devAdminKey() : undefined);
  return { baseUrl: raw.replace(/\/+$/, ""), apiKey };
}

/**
 * The key of connectionSettings as a shell expression, for commands a script prints for the user
 * to paste: $EDGESEARCH_API_KEY when it is set, else the dev key read from .dev.vars (the README's
 * quickstart sets no variable).
 */
export function apiKeyShell(env: Record<string, string | undefined> = process.env): string {
  return env.EDGESEARCH_API_KEY ? "$EDGESEARCH_API_KEY" : "$(sed -n 's/^ADMIN_API_KEY=//p' .dev.vars)";
}

export function checkNamespace(name: string): string {
  if (!NAMESPACE_PATTERN.test(name)) {
    throw new UsageError(`--namespace: "${name}" must match ${NAMESPACE_PATTERN.source}`);
  }
  return name;
}

export function positiveInt(value: string | boolean | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || !Number.isInteger(n) || n < 1) {
    throw new UsageError(`${flag}: expected a positive integer, got ${String(value)}`);
  }
  return n;
}

/**
 * A status line that rewrites itself on a terminal and, when output is piped, prints at most one
 * line every `intervalMs` so logs stay readable.
 */
export function createProgress(stream: NodeJS.WriteStream = process.stderr, intervalMs: number = 15_000) {
  const tty = stream.isTTY === true;
  let lastPrinted = 0;
  let open = false;
  return {
    update(line: string) {
      if (tty) {
        stream.write(`\r\x1b[2K${line}`);
        open = true;
        return;
      }
      const now = Date.now();
      if (now - lastPrinted >= intervalMs) {
        stream.write(`${line}\n`);
        lastPrinted = now;
      }
    },
    /** Ends the status line so that ordinary output can follow. */
    done() {
      if (open) stream.write("\n");
      open = false;
    },
  };
}

/**
 * Formats rows as an aligned plain-text table; numeric-looking cells are right-aligned.
 */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[-\d.,%]+$/.test(r[i] ?? "")));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}

/**
 * True when the module at `moduleUrl` is the script Node was started with.
 */
export function isEntryPoint(moduleUrl: string) {
  const entry = process.argv[1];
  return entry !== undefined && moduleUrl === pathToFileURL(entry).href;
}

/**
 * Runs a script's main function and maps failures to exit codes: 2 for usage errors (with the
 * usage text), 1 for API and other errors (message only for expected failures, stack otherwise).
 */
export async function run(
  main: (argv: string[]) => Promise<number>,
  usage: string,
  argv: string[] = process.argv.slice(2),
): Promise<number> {
  try {
    return await main(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${usage}\n`);
      return 2;
    }
    if (err instanceof ApiError || err instanceof ScriptError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

/**
 * An API client that reports its retries on stderr, after checking the API answers at all.
 */
export async function connect(
  settings: { baseUrl: string; apiKey: string | undefined },
  progress: { done(): void },
) {
  const client = createClient({
    ...settings,
    onRetry: ({ reason, delayMs }) => {
      progress.done();
      console.error(`retrying in ${(delayMs / 1000).toFixed(1)} s: ${reason}`);
    },
  });
  try {
    await client.health({ maxAttempts: 2 });
  } catch (err) {
    if (err instanceof ApiError && err.status === 0) {
      throw new ScriptError(
        `cannot reach the API at ${settings.baseUrl}: is \`npm run dev\` running? (${err.message})`,
      );
    }
    throw err;
  }
  return client;
}
