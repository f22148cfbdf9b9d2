// Bench datasets: a namespace filled through the batch API with the sample corpus plus synthetic
// documents up to a target chunk count, then waited on until nothing is pending.
import { fileURLToPath } from "node:url";
import type { Client, DocumentInput } from "../../client/src/index.ts";
import { waitForIndexing } from "../../client/src/index.ts";
import { readCorpus } from "../seed.ts";
import { buildVocabulary, syntheticDocuments } from "./corpus.ts";

export const SAMPLE_CORPUS = fileURLToPath(new URL("../../samples/corpus.jsonl", import.meta.url));

/** The batch endpoint takes at most 1,000 documents (and 8 MiB) a request. */
const BATCH_DOCS = 500;

/**
 * Datasets by name: the default scenarios use 1k; the "scale" group adds 10k, "scale-100k" 100k
 * (seeding 100k chunks through the queue takes about half an hour locally).
 */
export const DATASETS: Record<string, { namespace: string; targetChunks: number; seed: number }> = {
  "1k": { namespace: "bench-1k", targetChunks: 1000, seed: 1 },
  "10k": { namespace: "bench-10k", targetChunks: 10_000, seed: 2 },
  "100k": { namespace: "bench-100k", targetChunks: 100_000, seed: 3 },
};

/**
 * The sample corpus and its vocabulary (synthetic documents and queries draw from it).
 */
export async function loadSamples() {
  const documents = await readCorpus(SAMPLE_CORPUS);
  return { documents, vocabulary: buildVocabulary(documents) };
}

async function ingest(
  client: Client,
  namespace: string,
  documents: DocumentInput[],
  timeoutMs: number,
  log: (line: string) => void,
) {
  let accepted = 0;
  for (let i = 0; i < documents.length; i += BATCH_DOCS) {
    accepted += (await client.putDocuments(namespace, documents.slice(i, i + BATCH_DOCS))).accepted;
  }
  let reportedAt = 0;
  return waitForIndexing(client, namespace, {
    expected: accepted,
    timeoutMs,
    intervalMs: 500,
    // A large seed takes many minutes: say how far it is every half minute.
    onProgress: (stats, elapsedMs) => {
      if (elapsedMs - reportedAt < PROGRESS_EVERY_MS) return;
      reportedAt = elapsedMs;
      log(
        `  ${stats.documents} documents indexed, ${stats.pending} pending (${Math.round(elapsedMs / 1000)} s)`,
      );
    },
  });
}

const PROGRESS_EVERY_MS = 30_000;

/**
 * How long seeding `targetChunks` may take: ingest runs at 50 to 100 documents/s locally, so this
 * allows 20/s, and never less than 10 minutes.
 */
export function seedTimeoutMs(targetChunks: number) {
  return Math.max(600_000, targetChunks * 50);
}

/**
 * Fills the dataset's namespace: the sample corpus first, then as many synthetic documents (one
 * chunk each) as the corpus fell short of the target. Counts are read back from the API, so the
 * report states what was indexed, not what was meant to be.
 */
export async function seedDataset(
  client: Client,
  dataset: { namespace: string; targetChunks: number; seed: number },
  samples: Awaited<ReturnType<typeof loadSamples>>,
  { timeoutMs, log }: { timeoutMs: number; log: (line: string) => void },
) {
  const started = performance.now();
  const afterCorpus = await ingest(client, dataset.namespace, samples.documents, timeoutMs, log);
  const missing = Math.max(0, dataset.targetChunks - afterCorpus.chunks);
  const synthetic = syntheticDocuments({
    vocabulary: samples.vocabulary,
    count: missing,
    seed: dataset.seed,
  });
  log(
    `  ${afterCorpus.documents} corpus documents (${afterCorpus.chunks} chunks); adding ${synthetic.length} synthetic documents`,
  );
  const stats =
    synthetic.length > 0 ? await ingest(client, dataset.namespace, synthetic, timeoutMs, log) : afterCorpus;
  const seconds = (performance.now() - started) / 1000;
  if (stats.failed > 0) throw new Error(`${stats.failed} documents failed to index in ${dataset.namespace}`);
  return {
    namespace: dataset.namespace,
    documents: stats.documents,
    chunks: stats.chunks,
    failed: stats.failed,
    syntheticDocuments: synthetic.length,
    seconds,
  };
}
