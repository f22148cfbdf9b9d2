// Loads the bundled sample corpus into a namespace, waits until it is indexed and runs the
// quickstart search: `npm run seed [-- --url URL --namespace NS]`.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { DocumentInput } from "../client/src/index.ts";
import { mapConcurrent, waitForIndexing } from "../client/src/index.ts";
import {
  apiKeyShell,
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
} from "./lib/args.ts";

export const QUICKSTART_QUERY = "how do plants turn sunlight into energy";
const DEFAULT_CORPUS = fileURLToPath(new URL("../samples/corpus.jsonl", import.meta.url));
/** The batch endpoint's limit on documents per request. */
const MAX_BATCH = 1000;

const USAGE = `Usage: npm run seed [-- --url URL --namespace NS]

Loads samples/corpus.jsonl into a namespace in one batch, waits until every document is indexed,
then searches it for "${QUICKSTART_QUERY}".

Options:
  --namespace NS     target namespace (default: samples)
  --file PATH        JSONL corpus to load instead of samples/corpus.jsonl
  --timeout SECONDS  how long to wait for indexing (default: 300)
${CONNECTION_USAGE}`;

/**
 * Reads a JSONL corpus of {id, text, title?, contentType?, metadata?} objects.
 */
export async function readCorpus(file: string): Promise<DocumentInput[]> {
  let content: string;
  try {
    content = await readFile(file, "utf8");
  } catch (err) {
    throw new ScriptError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const documents: DocumentInput[] = [];
  const ids: Set<string> = new Set();
  content.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}:${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      throw new ScriptError(`${where}: not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    const doc = toDocument(record, where);
    if (ids.has(doc.id)) throw new ScriptError(`${where}: duplicate id "${doc.id}"`);
    ids.add(doc.id);
    documents.push(doc);
  });
  if (documents.length === 0) throw new ScriptError(`${file} holds no documents`);
  return documents;
}

function toDocument(record: unknown, where: string): DocumentInput {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new ScriptError(`${where}: expected a JSON object`);
  }
  const r = record as Record<string, unknown>;
  if (typeof r.id !== "string" || r.id === "")
    throw new ScriptError(`${where}: "id" must be a non-empty string`);
  if (typeof r.text !== "string" || r.text.trim() === "") {
    throw new ScriptError(`${where}: "text" must be a non-empty string`);
  }
  const doc: DocumentInput = { id: r.id, text: r.text };
  for (const field of ["title", "contentType"] as const) {
    const value = r[field];
    if (value === undefined) continue;
    if (typeof value !== "string") throw new ScriptError(`${where}: "${field}" must be a string`);
    doc[field] = value;
  }
  if (r.metadata !== undefined) {
    const metadata = r.metadata;
    if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
      throw new ScriptError(`${where}: "metadata" must be an object`);
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (!["string", "number", "boolean"].includes(typeof value)) {
        throw new ScriptError(`${where}: metadata "${key}" must be a string, number or boolean`);
      }
    }
    doc.metadata = metadata as Record<string, string | number | boolean>;
  }
  return doc;
}

/**
 * @returns the exit code
 */
export async function main(argv: string[]): Promise<number> {
  const values = parseCommandLine(argv, {
    ...CONNECTION_OPTIONS,
    namespace: { type: "string" },
    file: { type: "string" },
    timeout: { type: "string" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const namespace = checkNamespace(values.namespace ?? "samples");
  const { baseUrl, apiKey } = connectionSettings(values);
  const timeoutMs = positiveInt(values.timeout, "--timeout", 300) * 1000;
  const file = values.file ?? DEFAULT_CORPUS;

  const documents = await readCorpus(file);
  if (documents.length > MAX_BATCH) {
    throw new ScriptError(
      `${file} holds ${documents.length} documents; one batch takes at most ${MAX_BATCH}`,
    );
  }

  const progress = createProgress();
  const client = await connect({ baseUrl, apiKey }, progress);

  const started = performance.now();
  const { accepted } = await client.putDocuments(namespace, documents);
  console.log(`Submitted ${accepted} documents to namespace "${namespace}" at ${baseUrl}`);

  const stats = await waitForIndexing(client, namespace, {
    expected: accepted,
    timeoutMs,
    onProgress: (s, elapsedMs) =>
      progress.update(
        `indexing: ${s.documents} indexed, ${s.pending} pending, ${s.failed} failed (${Math.round(elapsedMs / 1000)} s)`,
      ),
  });
  progress.done();
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `Namespace "${namespace}": ${stats.documents} documents indexed (${stats.chunks} chunks), ` +
      `${stats.failed} failed, in ${seconds.toFixed(1)} s`,
  );

  let ourFailures = 0;
  if (stats.failed > 0) {
    const statuses = await mapConcurrent(documents, 8, (doc) => client.getDocument(namespace, doc.id));
    const failed = statuses.filter((s) => s.status === "failed");
    ourFailures = failed.length;
    for (const s of failed) console.error(`  failed: ${s.id}: ${s.error ?? "no reason given"}`);
    if (ourFailures === 0) {
      console.log(`  (the ${stats.failed} failed documents are not from ${file})`);
    }
  }

  const { results, degraded } = await client.search(namespace, { query: QUICKSTART_QUERY, topK: 3 });
  console.log(`\nSearch "${QUICKSTART_QUERY}":`);
  if (results.length === 0) console.log("  (no results)");
  results.forEach((r, i) => {
    console.log(`  ${i + 1}. ${r.title ?? r.id}  (score ${r.score.toFixed(4)})`);
  });
  if (degraded.length > 0) console.log(`  degraded: ${degraded.join(", ")}`);

  const auth = apiKey ? ` -H "authorization: Bearer ${apiKeyShell()}"` : "";
  console.log(
    `\nTry another query:\n  curl -s ${baseUrl}/v1/namespaces/${namespace}/search${auth} ` +
      `-H 'content-type: application/json' -d '{"query": "who deciphered hieroglyphs", "topK": 3}'`,
  );

  if (ourFailures > 0) {
    console.error(`\n${ourFailures} of ${documents.length} documents failed to index`);
    return 1;
  }
  return 0;
}

if (isEntryPoint(import.meta.url)) {
  process.exitCode = await run(main, USAGE);
}
