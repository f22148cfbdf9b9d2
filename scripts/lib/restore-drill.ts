// `npm run restore-drill`: proves that a namespace's latest complete backup restores. It restores
// the backup into a scratch namespace ("<ns>--drill-<time>"), waits for the restore, compares the
// live and scratch namespaces (document and chunk counts, and the top 10 of each sampled query in
// every search mode), prints the report, deletes the scratch namespace, and exits 1 on a mismatch.
// The queries are the namespace's golden queries, or those of --queries FILE.

import type { BackupJob, Client, FetchFn, SearchRequest } from "../../client/src/index.ts";
import { ApiError, createClient } from "../../client/src/index.ts";
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  checkNamespace,
  connectionSettings,
  positiveInt,
  ScriptError,
  UsageError,
} from "./args.ts";
import { seededRandom } from "./random.ts";

export const MODES = ["keyword", "vector", "hybrid"] as const;
export type Mode = (typeof MODES)[number];
export const TOP_K = 10;
export const DEFAULT_SAMPLE = 20;
export const DEFAULT_SEED = 20201;
export const DEFAULT_TIMEOUT_SECONDS = 1800;
/** Event name of the failed-drill log line: alerts and the runbook key on it. */
export const DRILL_FAILED_EVENT = "restore_drill.failed";

export const USAGE = `Usage: npm run restore-drill -- --namespace NS [--url URL] [--key KEY] [options]

Restores the namespace's latest complete backup into a scratch namespace (NS--drill-<time>),
compares document and chunk counts and the top ${TOP_K} results of sampled queries in every search
mode between the live and the scratch namespace, prints the report, deletes the scratch namespace
and exits 1 on any mismatch (2 on a usage error).

Options:
  --namespace NS     the namespace to drill (required)
  --key KEY          an admin key for NS (default: $EDGESEARCH_API_KEY, else .dev.vars for a local URL)
  --backup ID        drill this backup instead of the latest complete one
  --queries FILE     queries to compare: BEIR queries JSONL ({"_id", "text"}) or one query per
                     line (default: the namespace's golden queries, GET /golden-queries)
  --sample N         queries sampled from them (default: ${DEFAULT_SAMPLE}; 0: all)
  --seed N           seed of the sample (default: ${DEFAULT_SEED})
  --timeout SECONDS  how long the restore may take (default: ${DEFAULT_TIMEOUT_SECONDS})
  --keep             keep the scratch namespace (to inspect a mismatch)
${CONNECTION_USAGE}`;

export const OPTIONS = {
  ...CONNECTION_OPTIONS,
  key: { type: "string" },
  namespace: { type: "string" },
  backup: { type: "string" },
  queries: { type: "string" },
  sample: { type: "string" },
  seed: { type: "string" },
  timeout: { type: "string" },
  keep: { type: "boolean" },
} as const;

export type DrillFlags = Partial<Record<keyof typeof OPTIONS, string | boolean>>;

/** One query's top 10 in one mode, live against scratch. */
export interface QueryComparison {
  query: string;
  mode: Mode;
  identical: boolean;
  /**
   * Not identical, but only in the order of documents with tied keyword scores. A restore writes
   * rows in another order than the original ingest did, and the keyword index breaks ties by row:
   * in keyword mode the differing positions hold equal scores; in hybrid mode the query's keyword
   * ranking is tied this way and its vector ranking identical, and the same documents are listed.
   */
  tied: boolean;
  live: string[];
  scratch: string[];
}

interface Ranked {
  ids: string[];
  scores: number[];
}

const sameScore = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a));

/**
 * Whether two rankings differ only among equal scores: the same score at each position, and the
 * same documents in each run of equal scores (the last run may be cut by topK differently).
 */
export function differOnlyInTies(a: Ranked, b: Ranked): boolean {
  if (a.ids.length !== b.ids.length) return false;
  let start = 0;
  while (start < a.ids.length) {
    let end = start + 1;
    while (end < a.ids.length && sameScore(a.scores[end], a.scores[start])) end++;
    for (let i = start; i < end; i++) if (!sameScore(a.scores[i], b.scores[i])) return false;
    if (end < a.ids.length) {
      const run = new Set(a.ids.slice(start, end));
      if (!b.ids.slice(start, end).every((id) => run.has(id))) return false;
    }
    start = end;
  }
  return true;
}

const sameIds = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((id, i) => b[i] === id);

/** A comparison passes when its rankings are identical or differ only in tied keyword scores. */
export const rankingsAgree = (q: QueryComparison) => q.identical || q.tied;

export interface DrillReport {
  namespace: string;
  scratch: string;
  backup: { id: string; createdAt: string; documents: number; chunks: number };
  counts: { live: { documents: number; chunks: number }; scratch: { documents: number; chunks: number } };
  queries: QueryComparison[];
  ok: boolean;
}

/** The scratch namespace: the drilled one's name (cut to fit 63 characters) and the time. */
export function scratchNamespace(namespace: string, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "")
    .toLowerCase();
  const suffix = `--drill-${stamp}`;
  return `${namespace.slice(0, 63 - suffix.length)}${suffix}`;
}

/** Queries from a file: BEIR JSONL ({"text"}) or plain lines; blank lines and duplicates dropped. */
export function parseQueries(text: string): string[] {
  const queries: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    let query = line;
    if (line.startsWith("{")) {
      const parsed = JSON.parse(line) as { text?: unknown; query?: unknown };
      const value = parsed.text ?? parsed.query;
      if (typeof value !== "string")
        throw new ScriptError(`a query line has no "text": ${line.slice(0, 80)}`);
      query = value;
    }
    if (query.trim() !== "" && !queries.includes(query)) queries.push(query);
  }
  return queries;
}

/** `size` of the queries, drawn with a seeded PRNG and kept in their order (all when size is 0). */
export function sampleQueries(queries: readonly string[], size: number, seed: number): string[] {
  if (size === 0 || size >= queries.length) return [...queries];
  const random = seededRandom(seed);
  const indexes = queries.map((_, i) => i);
  for (let i = indexes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [indexes[i], indexes[j]] = [indexes[j] ?? 0, indexes[i] ?? 0];
  }
  return indexes
    .slice(0, size)
    .sort((a, b) => a - b)
    .map((i) => queries[i] ?? "");
}

/** The ids and scores of one ranking, as the drill compares them. */
async function topIds(client: Client, namespace: string, query: string, mode: Mode): Promise<Ranked> {
  const body: SearchRequest = { query, mode, topK: TOP_K, includeText: false, cache: "bypass" };
  const answer = await client.search(namespace, body);
  return { ids: answer.results.map((r) => r.id), scores: answer.results.map((r) => r.score) };
}

/**
 * Compares two namespaces: counts, and each query's top 10 ids in every mode. Shared by the
 * drill and its test.
 */
export async function compareNamespaces(
  client: Client,
  live: string,
  scratch: string,
  queries: readonly string[],
): Promise<Pick<DrillReport, "counts" | "queries">> {
  const [liveStats, scratchStats] = await Promise.all([
    client.namespaceStats(live),
    client.namespaceStats(scratch),
  ]);
  const comparisons: QueryComparison[] = [];
  for (const query of queries) {
    const ranked = new Map<Mode, [Ranked, Ranked]>();
    for (const mode of MODES) {
      ranked.set(
        mode,
        await Promise.all([topIds(client, live, query, mode), topIds(client, scratch, query, mode)]),
      );
    }
    const keywordTied = (() => {
      const [a, b] = ranked.get("keyword") ?? [];
      return a !== undefined && b !== undefined && !sameIds(a.ids, b.ids) && differOnlyInTies(a, b);
    })();
    const vectorSame = (() => {
      const [a, b] = ranked.get("vector") ?? [];
      return a !== undefined && b !== undefined && sameIds(a.ids, b.ids);
    })();
    for (const mode of MODES) {
      const [a, b] = ranked.get(mode) ?? [];
      if (!a || !b) continue;
      const identical = sameIds(a.ids, b.ids);
      const tied =
        !identical &&
        (mode === "keyword"
          ? keywordTied
          : mode === "hybrid" && keywordTied && vectorSame && sameIds([...a.ids].sort(), [...b.ids].sort()));
      comparisons.push({ query, mode, identical, tied, live: a.ids, scratch: b.ids });
    }
  }
  const counts = (s: { documents: number; chunks: number }) => ({ documents: s.documents, chunks: s.chunks });
  return { counts: { live: counts(liveStats), scratch: counts(scratchStats) }, queries: comparisons };
}

/** The report's lines: counts, each query (identical, or both rankings where they differ), verdict. */
export function formatReport(report: DrillReport): string[] {
  const { live, scratch } = report.counts;
  const same = (a: number, b: number) => (a === b ? "identical" : "MISMATCH");
  const lines = [
    `restore drill of ${report.namespace}: backup ${report.backup.id} (${report.backup.createdAt}, ${report.backup.documents} documents, ${report.backup.chunks} chunks) restored into ${report.scratch}`,
    `documents  live ${live.documents}  scratch ${scratch.documents}  ${same(live.documents, scratch.documents)}`,
    `chunks     live ${live.chunks}  scratch ${scratch.chunks}  ${same(live.chunks, scratch.chunks)}`,
  ];
  if (live.documents !== report.backup.documents) {
    lines.push(
      `note: the live namespace holds ${live.documents} documents, the backup ${report.backup.documents}: it changed since the backup`,
    );
  }
  const byQuery = new Map<string, QueryComparison[]>();
  for (const q of report.queries) byQuery.set(q.query, [...(byQuery.get(q.query) ?? []), q]);
  for (const [query, modes] of byQuery) {
    const label = `"${query.length > 70 ? `${query.slice(0, 67)}...` : query}"`;
    if (modes.every((q) => q.identical)) {
      lines.push(`ok    ${label}  top ${TOP_K} identical (${modes.map((q) => q.mode).join(", ")})`);
      continue;
    }
    const tied = modes.filter((q) => q.tied).map((q) => q.mode);
    if (modes.every(rankingsAgree)) {
      lines.push(`ok    ${label}  top ${TOP_K} identical up to tied keyword scores (${tied.join(", ")})`);
      continue;
    }
    for (const q of modes.filter((m) => !rankingsAgree(m))) {
      lines.push(`DIFF  ${label}  ${q.mode}`);
      const rows = Math.max(q.live.length, q.scratch.length);
      for (let i = 0; i < rows; i++) {
        const a = q.live[i] ?? "-";
        const b = q.scratch[i] ?? "-";
        lines.push(
          `        #${String(i + 1).padStart(2)}  live ${a.padEnd(24)} scratch ${b}${a === b ? "" : "  <>"}`,
        );
      }
    }
  }
  const identical = report.queries.filter(rankingsAgree).length;
  const tied = report.queries.filter((q) => q.tied).length;
  lines.push(
    `verdict: ${report.ok ? "PASS" : "FAIL"}: counts ${live.documents === scratch.documents && live.chunks === scratch.chunks ? "identical" : "differ"}, ` +
      `${identical}/${report.queries.length} rankings identical${tied > 0 ? ` (${tied} up to tied keyword scores)` : ""} (${report.queries.length / MODES.length} queries x ${MODES.length} modes)`,
  );
  return lines;
}

async function waitForRestore(
  client: Client,
  namespace: string,
  id: string,
  timeoutMs: number,
  sleep: (ms: number) => Promise<void>,
  log: (line: string) => void,
): Promise<BackupJob> {
  const deadline = Date.now() + timeoutMs;
  let lastProgress = "";
  for (;;) {
    const job = await client.call("GET /v1/namespaces/{ns}/restore/{id}", { path: { ns: namespace, id } });
    if (job.state !== "running") return job;
    const progress = `${job.phase} ${job.progress.documents}/${job.progress.expected?.documents ?? "?"} documents`;
    if (progress !== lastProgress) log(`restore ${id}: ${progress}`);
    lastProgress = progress;
    if (Date.now() > deadline)
      throw new ScriptError(`restore ${id} still running after ${timeoutMs / 1000} s`);
    await sleep(1000);
  }
}

/** Deletes the scratch namespace's documents, a page per call, until none remain. */
async function deleteScratch(client: Client, namespace: string): Promise<void> {
  for (let calls = 0; calls < 1000; calls++) {
    const { remaining } = await client.deleteNamespace(namespace);
    if (!remaining) return;
  }
  throw new ScriptError(`${namespace} still holds documents after 1000 delete calls`);
}

export interface DrillOptions {
  client: Client;
  namespace: string;
  backupId?: string;
  /** The queries to sample from; null: the namespace's golden queries. */
  queries: string[] | null;
  sample: number;
  seed: number;
  timeoutMs: number;
  keep: boolean;
  log: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: Date;
}

/** Runs the drill; throws ScriptError when it cannot run (no backup, restore failed). */
export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const { client, namespace, log } = options;
  const sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const pool =
    options.queries ??
    (await client.call("GET /v1/namespaces/{ns}/golden-queries", { path: { ns: namespace } })).queries.map(
      (q) => q.query,
    );
  if (pool.length === 0) {
    throw new ScriptError(
      `${namespace} has no golden queries (PUT /v1/namespaces/${namespace}/golden-queries): pass --queries FILE`,
    );
  }
  const queries = sampleQueries(pool, options.sample, options.seed);

  const { jobs } = await client.call("GET /v1/namespaces/{ns}/backups", { path: { ns: namespace } });
  const backup = options.backupId
    ? jobs.find((j) => j.id === options.backupId)
    : jobs.find((j) => j.state === "complete");
  if (!backup) {
    throw new ScriptError(
      options.backupId
        ? `backup ${options.backupId} of ${namespace} does not exist`
        : `${namespace} has no complete backup (POST /v1/namespaces/${namespace}/backups)`,
    );
  }
  if (backup.state !== "complete") throw new ScriptError(`backup ${backup.id} is ${backup.state}`);

  const scratch = scratchNamespace(namespace, options.now ?? new Date());
  log(`restoring backup ${backup.id} of ${namespace} into ${scratch}; ${queries.length} queries to compare`);
  const started = Date.now();
  let restored = false;
  try {
    const restore = await client.call("POST /v1/namespaces/{ns}/restore", {
      path: { ns: scratch },
      body: { from: { namespace, backupId: backup.id } },
    });
    restored = true;
    const done = await waitForRestore(client, scratch, restore.id, options.timeoutMs, sleep, log);
    if (done.state !== "complete")
      throw new ScriptError(`restore ${done.id} failed: ${done.error ?? "no reason"}`);
    log(`restore ${done.id} complete in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const compared = await compareNamespaces(client, namespace, scratch, queries);
    const { live, scratch: copy } = compared.counts;
    return {
      namespace,
      scratch,
      backup: {
        id: backup.id,
        createdAt: backup.createdAt,
        documents: backup.progress.documents,
        chunks: backup.progress.chunks,
      },
      ...compared,
      ok:
        live.documents === copy.documents &&
        live.chunks === copy.chunks &&
        compared.queries.every(rankingsAgree),
    };
  } finally {
    if (restored && !options.keep) {
      await deleteScratch(client, scratch);
      log(`deleted ${scratch}`);
    } else if (restored) {
      log(`kept ${scratch} (--keep)`);
    }
  }
}

/**
 * The command: runs the drill with the parsed flags and returns the exit code (0 identical, 1 a
 * mismatch or a drill that could not run; usage errors throw UsageError, which `run` maps to 2).
 * A failed drill also writes one JSON line at error level (event DRILL_FAILED_EVENT) to stderr.
 */
export async function drillCommand(
  values: DrillFlags,
  deps: {
    fetch?: FetchFn;
    env?: Record<string, string | undefined>;
    devAdminKey?: () => string | undefined;
    readFile?: (path: string) => Promise<string>;
    log?: (line: string) => void;
    alert?: (line: string) => void;
    now?: Date;
  } = {},
): Promise<number> {
  const log = deps.log ?? ((line) => console.log(line));
  const alert = deps.alert ?? ((line) => console.error(line));
  if (values.help) {
    log(USAGE);
    return 0;
  }
  if (typeof values.namespace !== "string") throw new UsageError("--namespace is required");
  const namespace = checkNamespace(values.namespace);
  const settings = connectionSettings(values, deps.env ?? process.env, deps.devAdminKey);
  const apiKey = typeof values.key === "string" && values.key !== "" ? values.key : settings.apiKey;
  if (!apiKey)
    throw new UsageError(`no API key for ${settings.baseUrl}: pass --key KEY or set EDGESEARCH_API_KEY`);
  const sample = values.sample === "0" ? 0 : positiveInt(values.sample, "--sample", DEFAULT_SAMPLE);
  const seed = positiveInt(values.seed, "--seed", DEFAULT_SEED);
  const timeoutMs = positiveInt(values.timeout, "--timeout", DEFAULT_TIMEOUT_SECONDS) * 1000;
  let queries: string[] | null = null;
  if (typeof values.queries === "string") {
    const read =
      deps.readFile ?? (async (path: string) => (await import("node:fs/promises")).readFile(path, "utf8"));
    queries = parseQueries(await read(values.queries));
  }
  const client = createClient({
    baseUrl: settings.baseUrl,
    apiKey,
    timeoutMs: 30_000,
    maxAttempts: 3,
    maxRateLimitWaits: 3,
    maxRetryAfterMs: 30_000,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  const failed = (reason: string) => {
    alert(
      JSON.stringify({
        ts: new Date().toISOString(),
        level: "error",
        event: DRILL_FAILED_EVENT,
        namespace,
        url: settings.baseUrl,
        error: reason,
      }),
    );
    return 1;
  };
  let report: DrillReport;
  try {
    report = await runDrill({
      client,
      namespace,
      backupId: typeof values.backup === "string" ? values.backup : undefined,
      queries,
      sample,
      seed,
      timeoutMs,
      keep: values.keep === true,
      log,
      now: deps.now,
    });
  } catch (err) {
    if (err instanceof ScriptError || err instanceof ApiError) {
      log(`restore drill FAILED: ${err.message}`);
      return failed(err.message);
    }
    throw err;
  }
  for (const line of formatReport(report)) log(line);
  if (report.ok) return 0;
  const diffs = report.queries.filter((q) => !rankingsAgree(q)).length;
  return failed(
    `live and scratch differ: documents ${report.counts.live.documents}/${report.counts.scratch.documents}, chunks ${report.counts.live.chunks}/${report.counts.scratch.chunks}, ${diffs} rankings differ`,
  );
}
