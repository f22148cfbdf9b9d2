#!/usr/bin/env node
// `npm run migrate -- --namespace NS --model MODEL [options]`: moves a namespace to another
// embedding model (or chunking) with the versions API: creates the version, follows its build,
// sets golden queries from a BEIR dataset's judgments if given, optionally keeps searching while it
// builds (to show the namespace keeps answering), and activates it when --activate is given.
// Needs an admin key (EDGESEARCH_API_KEY, or ADMIN_API_KEY from .dev.vars locally).
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { ApiError, type CreateVersionRequest, type Result } from "../client/src/index.ts";
import { resolveDataset } from "./eval.ts";
import {
  CONNECTION_OPTIONS,
  CONNECTION_USAGE,
  checkNamespace,
  connect,
  connectionSettings,
  createProgress,
  isEntryPoint,
  parseCommandLine,
  positiveInt,
  run,
  ScriptError,
  UsageError,
} from "./lib/args.ts";
import { parseQrels } from "./lib/metrics.ts";

const USAGE = `Usage: npm run migrate -- --namespace NS --model MODEL [options]

Creates an index version of the namespace with another embedding model (and optionally other
chunking), waits for it to be built, and activates it with --activate (the quality gate decides).

Options:
  --namespace NS          the namespace to migrate (required)
  --model MODEL           embedding model of the new version, e.g. @cf/baai/bge-small-en-v1.5 (required)
  --pooling cls|mean      pooling (default: the active version's)
  --max-tokens N          chunk size in tokens (default: the active version's)
  --overlap N             chunk overlap in tokens (default: the active version's)
  --index NAME            vector index for the new version (default: chosen by the service)
  --dataset DIR           BEIR folder: its judged queries become the golden queries and the load
  --queries-split NAME    which qrels split of --dataset (default: test, or the only one)
  --load N                searches in flight while the version builds (default: 0 = none)
  --activate              activate the version once built
  --force                 activate even if the quality gate fails
  --timeout SECONDS       how long to wait for the build (default: 3600)
${CONNECTION_USAGE}`;

/**
 * Judged queries of a BEIR dataset as golden queries (relevant = grade > 0).
 */
async function goldenFrom(
  queriesPath: string,
  qrelsPath: string,
): Promise<{ query: string; relevant: string[] }[]> {
  const qrels = parseQrels(await readFile(qrelsPath, "utf8"));
  const golden: { query: string; relevant: string[] }[] = [];
  const lines = createInterface({
    input: createReadStream(queriesPath),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    const q = JSON.parse(line) as { _id: string; text: string };
    const judged = qrels.get(String(q._id));
    if (!judged) continue;
    const relevant = [...judged.entries()].filter(([, g]) => g > 0).map(([id]) => id);
    if (relevant.length > 0) golden.push({ query: q.text, relevant: relevant.slice(0, 100) });
  }
  return golden;
}

export async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    namespace: { type: "string" },
    model: { type: "string" },
    pooling: { type: "string" },
    "max-tokens": { type: "string" },
    overlap: { type: "string" },
    index: { type: "string" },
    dataset: { type: "string" },
    "queries-split": { type: "string" },
    load: { type: "string" },
    activate: { type: "boolean" },
    force: { type: "boolean" },
    timeout: { type: "string" },
    ...CONNECTION_OPTIONS,
  });
  if (values.namespace === undefined) throw new UsageError("--namespace is required");
  if (values.model === undefined) throw new UsageError("--model is required");
  const namespace = checkNamespace(values.namespace);
  const load = values.load === undefined ? 0 : positiveInt(values.load, "--load", 0);
  const timeoutMs = positiveInt(values.timeout, "--timeout", 3600) * 1000;
  const settings = connectionSettings(values);
  const progress = createProgress();
  const client = await connect(settings, progress);
  const ns = encodeURIComponent(namespace);

  let golden: { query: string; relevant: string[] }[] = [];
  if (values.dataset !== undefined) {
    const dataset = await resolveDataset(values.dataset, values["queries-split"]);
    golden = (await goldenFrom(dataset.queriesPath, dataset.qrelsPath)).slice(0, 500);
    await client.call("PUT /v1/namespaces/{ns}/golden-queries", {
      path: { ns: namespace },
      body: { queries: golden },
    });
    console.log(`Golden queries: ${golden.length} from ${dataset.name} (${dataset.split})`);
  }

  // The service validates the model and pooling names (a 400 naming the field).
  const body: CreateVersionRequest = { model: values.model as CreateVersionRequest["model"] };
  if (values.pooling !== undefined) body.pooling = values.pooling as CreateVersionRequest["pooling"];
  if (values["max-tokens"] !== undefined || values.overlap !== undefined) {
    body.chunking = {
      maxTokens: positiveInt(values["max-tokens"], "--max-tokens", 256),
      overlapTokens: positiveInt(values.overlap, "--overlap", 32),
    };
  }
  if (values.index !== undefined) body.index = values.index;

  // Searches during the build, sent raw (no client retries) so every error counts.
  const searches = { ok: 0, errors: 0, degraded: 0, versions: {} as Record<string, number> };
  let searching = load > 0 && golden.length > 0;
  const searcher = async (worker: number) => {
    let i = worker;
    while (searching) {
      const g = golden[i % golden.length];
      i += load;
      try {
        const res = await fetch(`${settings.baseUrl}/v1/namespaces/${ns}/search`, {
          method: "POST",
          headers: { authorization: `Bearer ${settings.apiKey}`, "content-type": "application/json" },
          body: JSON.stringify({ query: g?.query, topK: 10, cache: "bypass" }),
        });
        const answer = (await res.json()) as { version?: string; degraded?: string[] };
        if (res.ok) {
          searches.ok += 1;
          const v = String(answer.version);
          searches.versions[v] = (searches.versions[v] ?? 0) + 1;
          if ((answer.degraded ?? []).length > 0) searches.degraded += 1;
        } else searches.errors += 1;
      } catch {
        searches.errors += 1;
      }
    }
  };
  const workers = searching ? Array.from({ length: load }, (_, w) => searcher(w)) : [];

  const started = Date.now();
  const created = await client.call("POST /v1/namespaces/{ns}/versions", { path: { ns: namespace }, body });
  console.log(
    `Version ${created.id}: ${values.model}, ${created.dimensions} dimensions, index ${created.index}`,
  );
  const path = { ns: namespace, id: created.id };
  let version: Result<"GET /v1/namespaces/{ns}/versions/{id}">;
  for (;;) {
    version = await client.call("GET /v1/namespaces/{ns}/versions/{id}", { path });
    const b = version.build;
    progress.update(
      `building ${created.id}: ${b?.done ?? 0}/${b?.total ?? 0} documents, ${b?.failed ?? 0} failed`,
    );
    if (version.state !== "building") break;
    if (Date.now() - started > timeoutMs)
      throw new ScriptError(`the build did not finish within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  progress.done();
  const buildSeconds = (Date.now() - started) / 1000;
  const done = version.build?.done ?? 0;
  console.log(
    `Built in ${buildSeconds.toFixed(1)} s: ${done} documents (${(done / buildSeconds).toFixed(1)}/s), ${version.build?.failed ?? 0} failed`,
  );

  let exit = 0;
  if (values.activate) {
    for (;;) {
      try {
        const result = await client.call("POST /v1/namespaces/{ns}/versions/{id}/activate", {
          path,
          body: { force: Boolean(values.force) },
        });
        const g = result.gate;
        console.log(
          g
            ? `Activated ${created.id}: gate nDCG@10 ${g.ndcg.toFixed(4)} (active was ${g.activeNdcg?.toFixed(4) ?? "-"}), passed ${g.passed}`
            : `Activated ${created.id}: no quality gate ran`,
        );
        break;
      } catch (err) {
        const detail = err instanceof ApiError ? String(err.problem?.detail ?? err.message) : String(err);
        if (detail.includes("has not applied")) {
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        console.error(`Not activated: ${detail}`);
        exit = 1;
        break;
      }
    }
    // A few more seconds of searches, across the swap.
    if (searching) await new Promise((r) => setTimeout(r, 5000));
  }
  searching = false;
  await Promise.all(workers);
  if (load > 0) {
    console.log(
      `Searches during the migration: ${searches.ok} answered, ${searches.errors} errors, ${searches.degraded} degraded; by version ${JSON.stringify(searches.versions)}`,
    );
  }
  return exit;
}

if (isEntryPoint(import.meta.url)) await run(main, USAGE);
