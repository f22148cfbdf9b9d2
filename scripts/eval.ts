// Measures retrieval quality and latency on a BEIR dataset: ingests its corpus into a fresh
// namespace, runs every judged query in each search mode and reports nDCG@10, Recall@100, MRR@10
// and query latency. `node scripts/eval.ts --dataset <dir>`; see --help.
import { createReadStream } from "node:fs";
import { access, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Client, DocumentInput } from "../client/src/index.ts";
import { batchDocuments, mapConcurrent, waitForIndexing } from "../client/src/index.ts";
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  checkNamespace,
  connect,
  connectionSettings,
  createProgress,
  fixed,
  formatTable,
  isEntryPoint,
  parseCommandLine,
  positiveInt,
  run,
  ScriptError,
  UsageError,
} from "./lib/args.ts";
import { mean, mrrAtK, ndcgAtK, parseQrels, percentile, recallAtK } from "./lib/metrics.ts";

export type Mode = "keyword" | "vector" | "hybrid" | "hybrid+rerank";

export type JudgedQuery = { id: string; text: string; grades: Map<string, number> };

const MODES = ["keyword", "vector", "hybrid", "hybrid+rerank"] as const;
const TOP_K = 100;
/** Stay under the batch endpoint's 8 MiB body limit with room for the envelope. */
const MAX_BATCH_BYTES = 7 * 1024 * 1024;
const MAX_BATCH_DOCS = 1000;
const MAX_ID_BYTES = 512;

const USAGE = `Usage: node scripts/eval.ts --dataset DIR [options]

Ingests a BEIR dataset's corpus into a fresh namespace, runs every judged query in each search mode
(topK ${TOP_K}, grouped by document, cache bypassed) and reports nDCG@10, Recall@100, MRR@10 and
query latency. The namespace is deleted at the end unless --keep is given.

DIR holds corpus.jsonl ({_id, title, text}), queries-<split>.jsonl or queries.jsonl ({_id, text}) and
qrels-<split>.tsv or qrels/<split>.tsv ("query-id corpus-id score" with a header line).

Options:
  --dataset DIR           BEIR dataset folder (required)
  --namespace NS          namespace to use (default: eval-<dataset>-<timestamp>)
  --modes LIST            comma-separated modes (default: ${MODES.join(",")});
                          hybrid+rerank is hybrid search with "rerank": true
  --queries-split SPLIT   judgments to use (default: test if present, else the only split found)
  --limit-docs N          ingest only the first N documents; judgments are cut to those documents
  --batch-size N          documents per ingest request (default: 500, at most ${MAX_BATCH_DOCS})
  --ingest-concurrency N  ingest requests in flight (default: 2)
  --concurrency N         searches in flight (default: 8)
  --timeout SECONDS       how long to wait for indexing (default: 3600)
  --skip-ingest           search an existing namespace (needs --namespace); never deletes it
  --keep                  keep the namespace after the run
  --json FILE             also write the results as JSON
${CONNECTION_USAGE}`;

/**
 * Finds the corpus, queries and qrels files of a BEIR folder.
 */
export async function resolveDataset(
  dir: string,
  split: string | undefined,
): Promise<{ name: string; split: string; corpusPath: string; queriesPath: string; qrelsPath: string }> {
  const exists = (p: string) =>
    access(p).then(
      () => true,
      () => false,
    );
  const corpusPath = path.join(dir, "corpus.jsonl");
  if (!(await exists(corpusPath))) throw new ScriptError(`${corpusPath} not found`);

  const splits: Set<string> = new Set();
  for (const name of await readdir(dir)) {
    const m = /^qrels-(.+)\.tsv$/.exec(name);
    if (m?.[1]) splits.add(m[1]);
  }
  for (const name of await readdir(path.join(dir, "qrels")).catch(() => [])) {
    const m = /^(.+)\.tsv$/.exec(name);
    if (m?.[1]) splits.add(m[1]);
  }
  const available = [...splits].sort();
  let chosen = split;
  if (chosen === undefined) {
    if (splits.has("test")) chosen = "test";
    else if (available.length === 1) chosen = available[0];
    else if (available.length === 0)
      throw new ScriptError(`no qrels-<split>.tsv or qrels/<split>.tsv in ${dir}`);
    else
      throw new UsageError(
        `${dir} has several splits (${available.join(", ")}): choose one with --queries-split`,
      );
  }
  if (chosen === undefined || !splits.has(chosen)) {
    throw new ScriptError(
      `no judgments for split "${chosen}" in ${dir} (found: ${available.join(", ") || "none"})`,
    );
  }
  const qrelsFlat = path.join(dir, `qrels-${chosen}.tsv`);
  const qrelsPath = (await exists(qrelsFlat)) ? qrelsFlat : path.join(dir, "qrels", `${chosen}.tsv`);
  const queriesSplit = path.join(dir, `queries-${chosen}.jsonl`);
  const queriesAll = path.join(dir, "queries.jsonl");
  const queriesPath = (await exists(queriesSplit)) ? queriesSplit : queriesAll;
  if (!(await exists(queriesPath))) throw new ScriptError(`neither ${queriesSplit} nor ${queriesAll} exists`);
  return { name: path.basename(path.resolve(dir)), split: chosen, corpusPath, queriesPath, qrelsPath };
}

/**
 * Yields the parsed objects of a JSONL file, one line at a time.
 */
async function* readJsonLines(
  file: string,
): AsyncGenerator<{ record: Record<string, unknown>; line: number }> {
  const lines = createInterface({
    input: createReadStream(file, "utf8"),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === "") continue;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (err) {
      throw new ScriptError(
        `${file}:${line}: not JSON (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new ScriptError(`${file}:${line}: expected a JSON object`);
    }
    yield { record: record as Record<string, unknown>, line };
  }
}

/**
 * Turns a BEIR corpus record into a document, or says why it cannot be one. An empty text falls
 * back to the title, which some BEIR corpora use for title-only entries.
 */
export function beirDocument(record: Record<string, unknown>): DocumentInput | string {
  const rawId = record._id;
  const id = typeof rawId === "number" ? String(rawId) : rawId;
  if (typeof id !== "string" || id === "") return "missing _id";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ids with control characters are rejected by the API
  if (Buffer.byteLength(id) > MAX_ID_BYTES || /[\u0000-\u001f\u007f]/.test(id)) return "invalid _id";
  const title = typeof record.title === "string" ? record.title.trim() : "";
  const body = typeof record.text === "string" ? record.text.trim() : "";
  const text = body || title;
  if (text === "") return "empty text";
  return title ? { id, title, text } : { id, text };
}

/**
 * Reads the corpus (the first `limit` records when set) and, unless `submit` is false, sends it in
 * batches. Returns what was read, skipped and accepted, and the ids that made it in.
 */
export async function ingestCorpus(options: {
  client: Client;
  namespace: string;
  corpusPath: string;
  limit: number | undefined;
  batchSize: number;
  concurrency: number;
  submit: boolean;
  onProgress: (line: string) => void;
}) {
  const { client, namespace, corpusPath, limit, submit } = options;
  const ids: Set<string> = new Set();
  const skipped: Record<string, number> = {};
  let read = 0;
  let accepted = 0;
  // Searching an existing namespace needs the corpus ids only to cut the judgments to a prefix.
  if (!submit && limit === undefined) return { read, skipped, accepted, ids };
  async function* documents() {
    for await (const { record, line } of readJsonLines(corpusPath)) {
      if (limit !== undefined && read >= limit) return;
      read++;
      const doc = beirDocument(record);
      if (typeof doc === "string" || ids.has(doc.id)) {
        const reason = typeof doc === "string" ? doc : "duplicate _id";
        skipped[reason] = (skipped[reason] ?? 0) + 1;
        if (skipped[reason] === 1) {
          process.stderr.write(`skipping ${corpusPath}:${line} (${reason}); further ones are only counted\n`);
        }
        continue;
      }
      ids.add(doc.id);
      yield doc;
    }
  }
  await mapConcurrent(
    batchDocuments(documents(), options.batchSize, MAX_BATCH_BYTES),
    submit ? options.concurrency : 1,
    async (batch) => {
      if (!submit) return;
      const res = await client.putDocuments(namespace, batch);
      accepted += res.accepted;
      options.onProgress(`submitted ${accepted} documents`);
    },
  );
  return { read, skipped, accepted, ids };
}

/**
 * Loads the judged queries of the split: those with at least one relevant (grade > 0) document,
 * restricted to `corpusIds` when the corpus was cut short.
 */
export async function loadJudgedQueries(
  queriesPath: string,
  qrelsPath: string,
  corpusIds: Set<string> | undefined,
) {
  const qrels = parseQrels(await readFile(qrelsPath, "utf8"));
  const texts: Map<string, string> = new Map();
  for await (const { record } of readJsonLines(queriesPath)) {
    const id = typeof record._id === "number" ? String(record._id) : record._id;
    if (typeof id === "string" && typeof record.text === "string") texts.set(id, record.text);
  }
  const judged: JudgedQuery[] = [];
  let withoutRelevant = 0;
  let withoutText = 0;
  for (const [id, all] of qrels) {
    const grades = corpusIds ? new Map([...all].filter(([doc]) => corpusIds.has(doc))) : all;
    if (![...grades.values()].some((g) => g > 0)) {
      withoutRelevant++;
      continue;
    }
    const text = texts.get(id);
    if (text === undefined || text.trim() === "") {
      withoutText++;
      continue;
    }
    judged.push({ id, text, grades });
  }
  return { judged, judgedTotal: qrels.size, withoutRelevant, withoutText };
}

/**
 * The search request fields of an evaluation mode.
 */
export function modeRequest(mode: Mode): { mode: "keyword" | "vector" | "hybrid"; rerank: boolean } {
  return mode === "hybrid+rerank" ? { mode: "hybrid", rerank: true } : { mode, rerank: false };
}

/**
 * Runs every query in one mode and scores the rankings.
 */
export async function evaluateMode({
  client,
  namespace,
  mode,
  queries,
  concurrency,
  onProgress,
}: {
  client: Client;
  namespace: string;
  mode: Mode;
  queries: JudgedQuery[];
  concurrency: number;
  onProgress: (line: string) => void;
}) {
  let done = 0;
  const perQuery = await mapConcurrent(queries, concurrency, async (q) => {
    const {
      data: response,
      lastAttemptMs,
      attempts,
    } = await client.searchTimed(namespace, {
      query: q.text,
      topK: TOP_K,
      ...modeRequest(mode),
      groupBy: "document",
      includeText: false,
      cache: "bypass",
    });
    const ranked = response.results.map((r) => r.id);
    done++;
    onProgress(`${mode}: ${done}/${queries.length} queries`);
    return {
      queryId: q.id,
      ndcgAt10: ndcgAtK(ranked, q.grades, 10),
      recallAt100: recallAtK(ranked, q.grades, 100),
      mrrAt10: mrrAtK(ranked, q.grades, 10),
      latencyMs: Math.round(lastAttemptMs * 10) / 10,
      results: ranked.length,
      degraded: response.degraded,
      retries: attempts - 1,
    };
  });
  const degradedReasons: Record<string, number> = {};
  for (const q of perQuery)
    for (const reason of q.degraded) degradedReasons[reason] = (degradedReasons[reason] ?? 0) + 1;
  const latencies = perQuery.map((q) => q.latencyMs);
  return {
    mode,
    queries: perQuery.length,
    ndcgAt10: mean(perQuery.map((q) => q.ndcgAt10)),
    recallAt100: mean(perQuery.map((q) => q.recallAt100)),
    mrrAt10: mean(perQuery.map((q) => q.mrrAt10)),
    latencyMs: { mean: mean(latencies), p95: percentile(latencies, 95) },
    zeroResults: perQuery.filter((q) => q.results === 0).length,
    degradedQueries: perQuery.filter((q) => q.degraded.length > 0).length,
    degradedReasons,
    retries: perQuery.reduce((sum, q) => sum + q.retries, 0),
    perQuery,
  };
}

/**
 * The figures of a run as one JSON object, for scripts and CI logs.
 */
export function summarize(
  dataset: { name: string; split: string },
  results: Awaited<ReturnType<typeof evaluateMode>>[],
) {
  const round = (x: number, digits: number) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);
  return {
    dataset: dataset.name,
    split: dataset.split,
    modes: Object.fromEntries(
      results.map((r) => [
        r.mode,
        {
          queries: r.queries,
          ndcgAt10: round(r.ndcgAt10, 4),
          recallAt100: round(r.recallAt100, 4),
          mrrAt10: round(r.mrrAt10, 4),
          meanMs: round(r.latencyMs.mean, 1),
          p95Ms: round(r.latencyMs.p95, 1),
          degraded: r.degradedQueries,
        },
      ]),
    ),
  };
}

function defaultNamespace(datasetName: string) {
  const slug =
    datasetName
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-")
      .replace(/^[-_]+|[-_]+$/g, "")
      .slice(0, 40) || "dataset";
  const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
  return `eval-${slug}-${stamp}`;
}

function parseModes(value: string | boolean | undefined): Mode[] {
  if (value === undefined) return [...MODES];
  const modes = [
    ...new Set(
      String(value)
        .split(",")
        .map((m) => m.trim())
        .filter(Boolean),
    ),
  ];
  for (const m of modes) {
    if (!MODES.includes(m as Mode)) {
      throw new UsageError(`--modes: unknown mode "${m}" (expected ${MODES.join(", ")})`);
    }
  }
  if (modes.length === 0) throw new UsageError("--modes: no mode given");
  return modes as Mode[];
}

/**
 * @returns the exit code
 */
export async function main(argv: string[]): Promise<number> {
  const values = parseCommandLine(argv, {
    ...CONNECTION_OPTIONS,
    dataset: { type: "string" },
    namespace: { type: "string" },
    modes: { type: "string" },
    "queries-split": { type: "string" },
    "limit-docs": { type: "string" },
    "batch-size": { type: "string" },
    "ingest-concurrency": { type: "string" },
    concurrency: { type: "string" },
    timeout: { type: "string" },
    "skip-ingest": { type: "boolean" },
    keep: { type: "boolean" },
    json: { type: "string" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.dataset === undefined) throw new UsageError("--dataset is required");
  const { baseUrl, apiKey } = connectionSettings(values);
  const modes = parseModes(values.modes);
  const limitDocs =
    values["limit-docs"] === undefined ? undefined : positiveInt(values["limit-docs"], "--limit-docs", 1);
  const batchSize = positiveInt(values["batch-size"], "--batch-size", 500);
  if (batchSize > MAX_BATCH_DOCS) throw new UsageError(`--batch-size: at most ${MAX_BATCH_DOCS}`);
  const ingestConcurrency = positiveInt(values["ingest-concurrency"], "--ingest-concurrency", 2);
  const concurrency = positiveInt(values.concurrency, "--concurrency", 8);
  const timeoutMs = positiveInt(values.timeout, "--timeout", 3600) * 1000;
  const skipIngest = values["skip-ingest"] === true;
  if (skipIngest && values.namespace === undefined) throw new UsageError("--skip-ingest needs --namespace");

  const dataset = await resolveDataset(values.dataset, values["queries-split"]);
  const namespace = checkNamespace(values.namespace ?? defaultNamespace(dataset.name));
  // Only a namespace this run filled is ours to delete.
  const cleanUp = !skipIngest && values.keep !== true;
  const startedAt = new Date();

  const progress = createProgress();
  const client = await connect({ baseUrl, apiKey }, progress);

  console.log(`Dataset ${dataset.name} (split ${dataset.split}) -> namespace "${namespace}" at ${baseUrl}`);
  const onInterrupt = async () => {
    progress.done();
    if (cleanUp) {
      console.error(`\ninterrupted: deleting namespace "${namespace}"`);
      await client
        .deleteNamespace(namespace)
        .catch((err) => console.error(`could not delete it: ${err.message}`));
    } else {
      console.error(`\ninterrupted: namespace "${namespace}" left in place`);
    }
    process.exit(130);
  };
  process.once("SIGINT", onInterrupt);

  try {
    const ingestStarted = performance.now();
    const corpus = await ingestCorpus({
      client,
      namespace,
      corpusPath: dataset.corpusPath,
      limit: limitDocs,
      batchSize,
      concurrency: ingestConcurrency,
      submit: !skipIngest,
      onProgress: (line) => progress.update(line),
    });
    const skippedTotal = Object.values(corpus.skipped).reduce((a, b) => a + b, 0);
    let ingest: {
      seconds: number;
      documentsPerSecond: number;
      indexed: number;
      failed: number;
      chunks: number;
    } | null = null;
    if (!skipIngest) {
      const stats = await waitForIndexing(client, namespace, {
        expected: corpus.accepted,
        timeoutMs,
        intervalMs: 2000,
        onProgress: (s, elapsedMs) =>
          progress.update(
            `indexing: ${s.documents}/${corpus.accepted} indexed, ${s.pending} pending, ${s.failed} failed ` +
              `(${Math.round(elapsedMs / 1000)} s)`,
          ),
      });
      progress.done();
      const seconds = (performance.now() - ingestStarted) / 1000;
      ingest = {
        seconds: Math.round(seconds * 10) / 10,
        documentsPerSecond: Math.round((stats.documents / seconds) * 10) / 10,
        indexed: stats.documents,
        failed: stats.failed,
        chunks: stats.chunks,
      };
      console.log(
        `Ingested ${corpus.accepted} documents in ${fixed(ingest.seconds, 1)} s ` +
          `(${fixed(ingest.documentsPerSecond, 1)} documents/s): ` +
          `${stats.documents} indexed, ${stats.chunks} chunks, ${stats.failed} failed` +
          (skippedTotal > 0 ? `; ${skippedTotal} skipped (${JSON.stringify(corpus.skipped)})` : ""),
      );
      if (stats.failed > 0)
        console.error(`warning: ${stats.failed} documents failed to index; they count as misses`);
    }

    const queries = await loadJudgedQueries(
      dataset.queriesPath,
      dataset.qrelsPath,
      limitDocs === undefined ? undefined : corpus.ids,
    );
    console.log(
      `Queries: ${queries.judged.length} evaluated of ${queries.judgedTotal} judged` +
        (queries.withoutRelevant > 0 ? `; ${queries.withoutRelevant} without a relevant document` : "") +
        (limitDocs !== undefined ? " in the ingested documents" : "") +
        (queries.withoutText > 0
          ? `; ${queries.withoutText} missing from ${path.basename(dataset.queriesPath)}`
          : ""),
    );
    if (limitDocs !== undefined) {
      console.log(
        `note: --limit-docs ${limitDocs} searches a reduced corpus; scores are not comparable to published ones`,
      );
    }
    if (queries.judged.length === 0) throw new ScriptError("no query left to evaluate");

    const results = [];
    for (const mode of modes) {
      const r = await evaluateMode({
        client,
        namespace,
        mode,
        queries: queries.judged,
        concurrency,
        onProgress: (line) => progress.update(line),
      });
      progress.done();
      results.push(r);
      console.log(
        `\n${mode} (${r.queries} ${r.queries === 1 ? "query" : "queries"})\n` +
          `  nDCG@10     ${fixed(r.ndcgAt10, 4)}\n` +
          `  Recall@100  ${fixed(r.recallAt100, 4)}\n` +
          `  MRR@10      ${fixed(r.mrrAt10, 4)}\n` +
          `  latency     mean ${fixed(r.latencyMs.mean, 1)} ms, p95 ${fixed(r.latencyMs.p95, 1)} ms\n` +
          `  zero results: ${r.zeroResults} queries; degraded: ${r.degradedQueries} queries` +
          (r.degradedQueries > 0 ? ` ${JSON.stringify(r.degradedReasons)}` : "") +
          (r.retries > 0 ? `; ${r.retries} retried requests` : ""),
      );
    }

    console.log(
      `\n${formatTable(
        ["mode", "queries", "nDCG@10", "Recall@100", "MRR@10", "mean ms", "p95 ms", "zero", "degraded"],
        results.map((r) => [
          r.mode,
          String(r.queries),
          fixed(r.ndcgAt10, 4),
          fixed(r.recallAt100, 4),
          fixed(r.mrrAt10, 4),
          fixed(r.latencyMs.mean, 1),
          fixed(r.latencyMs.p95, 1),
          String(r.zeroResults),
          String(r.degradedQueries),
        ]),
      )}`,
    );
    console.log(`\n${JSON.stringify(summarize(dataset, results))}`);

    if (typeof values.json === "string") {
      const report = {
        dataset: dataset.name,
        split: dataset.split,
        url: baseUrl,
        namespace,
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        settings: {
          topK: TOP_K,
          groupBy: "document",
          cache: "bypass",
          concurrency,
          limitDocs: limitDocs ?? null,
        },
        corpus: { read: corpus.read, submitted: corpus.accepted, skipped: corpus.skipped },
        ingest,
        queries: {
          judged: queries.judgedTotal,
          evaluated: queries.judged.length,
          withoutRelevant: queries.withoutRelevant,
          withoutText: queries.withoutText,
        },
        modes: Object.fromEntries(results.map((r) => [r.mode, r])),
      };
      await mkdir(path.dirname(path.resolve(values.json)), { recursive: true });
      await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
      console.log(`\nWrote ${values.json}`);
    }
    return 0;
  } finally {
    progress.done();
    process.removeListener("SIGINT", onInterrupt);
    if (cleanUp) {
      try {
        await client.deleteNamespace(namespace);
        console.log(`Deleted namespace "${namespace}"`);
      } catch (err) {
        console.error(
          `could not delete namespace "${namespace}": ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    } else if (!skipIngest) {
      console.log(`Kept namespace "${namespace}" (re-run with --skip-ingest --namespace ${namespace})`);
    }
  }
}

if (isEntryPoint(import.meta.url)) {
  process.exitCode = await run(main, USAGE);
}
