#!/usr/bin/env node
// `npm run upload -- <dir|file...> --namespace NS [--url URL] [--r2 [--env NAME]]`: sends
// .txt, .md, .html, .json and .jsonl files, and PDF, Word, Excel, CSV and image files (sent as
// they are, converted by the service) to edgesearch, through the documents API or as
// objects of the R2 documents bucket (where event notifications drive ingestion): through the
// Worker's objects route (the dev server's local bucket by default), or with `wrangler r2
// object put` into a deployed environment's bucket (--env). A manifest of content hashes
// per namespace and target (.edgesearch-upload/<ns>.json) makes a re-run skip what is unchanged.
// The walk/plan/send logic lives in lib/upload-core.ts; this file is the Node I/O around it.
import { mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import type { Client } from "../client/src/index.ts";
import { mapConcurrent, waitForIndexing } from "../client/src/index.ts";
import {
  CONNECTION_USAGE,
  checkNamespace,
  connect,
  connectionSettings,
  createProgress,
  isEntryPoint,
  positiveInt,
  run,
  ScriptError,
  UsageError,
} from "./lib/args.ts";
import { stripAnsi } from "./lib/provision-parse.ts";
import { resolveEnvironment } from "./lib/provision-plan.ts";
import { parseToml } from "./lib/provision-toml.ts";
import type { FileAccess, Sender } from "./lib/upload-core.ts";
import {
  DEFAULT_MAX_DOCUMENT_BYTES,
  formatReport,
  parseManifest,
  progressBar,
  runUpload,
} from "./lib/upload-core.ts";
import type { ObjectUpload } from "./lib/upload-senders.ts";
import { createApiSender, createR2Sender, DEFAULT_API_BATCH } from "./lib/upload-senders.ts";
import { ROOT, runWrangler } from "./lib/wrangler.ts";

const root = ROOT;
const MANIFEST_DIR = ".edgesearch-upload";

const USAGE = `Usage: npm run upload -- <dir|file...> --namespace NS [options]

Sends .txt, .md, .html, .json and .jsonl files (a .jsonl file holds one document per line:
{"id", "text", "title"?, "contentType"?, "metadata"?}), and .pdf, .docx, .xlsx, .csv, .jpg,
.jpeg, .png, .webp and .svg files as they are, one request each, for the service to convert
(not through the objects route: with --r2, only with --env). A directory's files are named by their
path relative to it (notes/day-1.md), a file given by itself by its name. Unchanged documents
(same content, title and metadata as last sent to the same target) are skipped.

Options:
  --namespace NS         target namespace (required)
  --key KEY              API key (default: $EDGESEARCH_API_KEY, or .dev.vars locally)
  --r2                   write R2 objects of the documents bucket instead of documents; the
                         bucket's event notifications ingest them. Through the Worker at --url
                         (default: the \`npm run dev\` server and its local bucket; admin key),
                         with title and metadata as custom metadata
  --env NAME             with --r2: write straight into that deployed environment's bucket with
                         \`wrangler r2 object put\` (needs wrangler's login or token)
  --bucket NAME          with --r2 --env: the bucket (default: the environment's DOCUMENTS bucket)
  --prefix P             put P before every document id
  --force                send everything, even what the manifest says is unchanged
  --wait                 after sending, wait until the namespace has nothing pending (not --env)
  --timeout SECONDS      how long --wait waits (default: 600)
  --concurrency N        requests in flight (default: 4; 2 with --env)
  --batch N              documents per API request (default: ${DEFAULT_API_BATCH}, at most 1000)
  --max-document-bytes N refuse larger documents before sending (default: ${DEFAULT_MAX_DOCUMENT_BYTES})
${CONNECTION_USAGE}

The manifest lives in ${MANIFEST_DIR}/<namespace>.json under the current directory. With --r2
--env, only the content type travels with each object (wrangler cannot set custom metadata), so
documents with a title or metadata are refused there: use --r2 --url of the deployed Worker.`;

const nodeFiles: FileAccess = {
  async stat(p) {
    try {
      const s = await stat(p);
      return s.isDirectory() ? "directory" : s.isFile() ? "file" : null;
    } catch {
      return null;
    }
  },
  readdir: (p) => readdir(p),
  async readFile(p) {
    return new Uint8Array(await readFile(p));
  },
};

/**
 * `wrangler r2 object put` with the body on stdin.
 */
function wranglerPut(bucket: string, env: string | null): (upload: ObjectUpload) => Promise<void> {
  return (upload) => {
    const extra = Object.keys(upload.customMetadata).filter((k) => k !== "contentType");
    if (extra.length > 0) {
      return Promise.reject(
        new Error(
          `wrangler r2 object put cannot set custom metadata (${extra.join(", ")}): use --r2 with --url of the deployed Worker instead of --env`,
        ),
      );
    }
    const args = ["r2", "object", "put", `${bucket}/${upload.key}`, "--pipe", "--remote"];
    args.push("--content-type", upload.contentType, ...(env === null ? [] : ["--env", env]));
    return runWrangler(args, { input: upload.body }).then(({ code, stdout, stderr }) => {
      if (code === 0) return;
      const lines = stripAnsi(stdout + stderr)
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean);
      const error = lines.find((l) => /\[ERROR\]|✘/.test(l)) ?? lines.slice(-3).join(" ");
      throw new Error(`wrangler r2 object put exited with ${code}: ${error}`);
    });
  };
}

/**
 * @returns the DOCUMENTS bucket of that environment
 */
async function bucketFromConfig(env: string | null): Promise<string> {
  const config = resolveEnvironment(
    parseToml(await readFile(path.join(root, "wrangler.toml"), "utf8")).data,
    env,
  );
  const bucket = config.r2.find((b) => b.binding === "DOCUMENTS") ?? config.r2[0];
  if (!bucket)
    throw new ScriptError(`wrangler.toml declares no R2 bucket${env === null ? "" : ` in [env.${env}]`}`);
  return bucket.bucketName;
}

const OPTIONS = {
  namespace: { type: "string" },
  url: { type: "string" },
  key: { type: "string" },
  r2: { type: "boolean" },
  env: { type: "string" },
  bucket: { type: "string" },
  prefix: { type: "string" },
  force: { type: "boolean" },
  wait: { type: "boolean" },
  timeout: { type: "string" },
  concurrency: { type: "string" },
  batch: { type: "string" },
  "max-document-bytes": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function main(argv: string[]) {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: typeof OPTIONS }>
  >;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: OPTIONS,
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("give at least one file or directory");
  if (values.namespace === undefined) throw new UsageError("--namespace is required");
  const namespace = checkNamespace(values.namespace);
  const r2 = values.r2 === true;
  if (!r2 && (values.env !== undefined || values.bucket !== undefined)) {
    throw new UsageError("--env and --bucket go with --r2");
  }
  // --env: wrangler writes the deployed bucket itself; otherwise the Worker at --url does.
  const wrangler = r2 && values.env !== undefined;
  if (r2 && !wrangler && values.bucket !== undefined) {
    throw new UsageError("--bucket goes with --r2 --env (the Worker writes its own DOCUMENTS bucket)");
  }
  if (wrangler && (values.url !== undefined || values.key !== undefined || values.wait)) {
    throw new UsageError("--url, --key and --wait go with the Worker, not --r2 --env");
  }
  const concurrency = positiveInt(values.concurrency, "--concurrency", wrangler ? 2 : 4);
  const batchSize = positiveInt(values.batch, "--batch", DEFAULT_API_BATCH);
  if (batchSize > 1000) throw new UsageError("--batch: at most 1000");
  const maxDocumentBytes = positiveInt(
    values["max-document-bytes"],
    "--max-document-bytes",
    DEFAULT_MAX_DOCUMENT_BYTES,
  );

  const progress = createProgress();
  let sender: Sender;
  let target: string;
  let client: Client | undefined;
  if (wrangler) {
    const env = typeof values.env === "string" && values.env !== "" ? values.env : null;
    const bucket = values.bucket ?? (await bucketFromConfig(env));
    sender = createR2Sender({ namespace, putObject: wranglerPut(bucket, env) });
    target = `r2 ${bucket}`;
  } else {
    const settings = connectionSettings(values);
    if (typeof values.key === "string") settings.apiKey = values.key;
    client = await connect(settings, progress);
    sender = createApiSender({ client, namespace, batchSize, objects: r2 });
    target = `${r2 ? "r2 via" : "api"} ${settings.baseUrl}`;
  }

  const manifestPath = path.resolve(MANIFEST_DIR, `${namespace}.json`);
  let manifestText: string | undefined;
  try {
    manifestText = await readFile(manifestPath, "utf8");
  } catch {
    manifestText = undefined;
  }
  const started = performance.now();
  const { outcomes, manifest } = await runUpload({
    fs: nodeFiles,
    inputs: positionals,
    target,
    manifest: parseManifest(manifestText, namespace),
    sender,
    concurrency,
    force: values.force === true,
    prefix: values.prefix ?? "",
    maxDocumentBytes,
    onProgress: (p) => progress.update(progressBar(p)),
  });
  progress.done();
  // Written through a temporary file: an interrupted write must not lose the whole manifest.
  await mkdir(path.dirname(manifestPath), { recursive: true });
  await writeFile(`${manifestPath}.tmp`, `${JSON.stringify(manifest, null, 1)}\n`);
  await rename(`${manifestPath}.tmp`, manifestPath);

  console.log(formatReport(outcomes));
  console.log(
    `(${((performance.now() - started) / 1000).toFixed(1)} s, target ${target}, namespace "${namespace}")`,
  );

  let indexFailures = 0;
  if (values.wait && client) {
    const sent = outcomes
      .filter((o) => o.status === "uploaded" && o.id !== undefined)
      .map((o) => o.id as string);
    const timeoutMs = positiveInt(values.timeout, "--timeout", 600) * 1000;
    // Through the API a write is pending from the moment it is accepted; an R2 object only
    // once its notification is ingested, so wait for the count to reach this upload's documents.
    const expected = r2 ? outcomes.filter((o) => o.id !== undefined && o.status !== "failed").length : 0;
    const stats = await waitForIndexing(client, namespace, {
      expected,
      timeoutMs,
      onProgress: (s, ms) => progress.update(`indexing: ${s.pending} pending (${Math.round(ms / 1000)} s)`),
    });
    progress.done();
    if (stats.failed > 0 && sent.length > 0) {
      const c = client;
      const statuses = await mapConcurrent(sent, 8, (id) => c.getDocument(namespace, id));
      for (const s of statuses.filter((s) => s.status === "failed")) {
        indexFailures++;
        console.error(`not indexed: ${s.id}: ${s.error ?? "no reason given"}`);
      }
    }
    console.log(
      `indexed: namespace "${namespace}" holds ${stats.documents} documents, ${stats.failed} failed`,
    );
  }
  return outcomes.some((o) => o.status === "failed") || indexFailures > 0 ? 1 : 0;
}

if (isEntryPoint(import.meta.url)) process.exitCode = await run(main, USAGE);
