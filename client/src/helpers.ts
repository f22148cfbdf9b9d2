// Work made of several calls: batch uploads within the service's limits, waiting for documents to
// be indexed, and a bounded-concurrency map the two share.
import type { DocumentStatus } from "./api.ts";
import type { Client, DocumentInput, NamespaceStats } from "./client.ts";
import { ApiError } from "./errors.ts";
import { defaultSleep, type Sleep } from "./transport.ts";

/**
 * Most documents in one POST /documents (or /objects) call: the maxItems of BatchDocumentsRequest
 * in the OpenAPI document (MAX_BATCH_DOCUMENTS of the service's schemas).
 */
export const MAX_BATCH_DOCUMENTS = 1000;

/**
 * Default bytes of documents' JSON per batch: half the service's default request limit
 * (MAX_REQUEST_BYTES, 8 MiB), so a batch also fits a deployment that lowered it somewhat; a batch
 * answered with 413 is split in two and sent again.
 */
export const DEFAULT_BATCH_BYTES = 4 * 1024 * 1024;

const now = () => performance.now();

/**
 * Runs fn over the items of a (possibly async, possibly lazy) iterable with at most `limit` calls in
 * flight, returning the results in input order. The first failure stops new calls and is rethrown
 * once the calls in flight have settled.
 */
export async function mapConcurrent<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const iterator =
    Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]();
  const results: R[] = [];
  let index = 0;
  let failed = false;
  let failure: unknown;
  const fail = (err: unknown) => {
    if (!failed) {
      failed = true;
      failure = err;
    }
  };
  const worker = async () => {
    while (!failed) {
      let step: IteratorResult<T>;
      try {
        // Async generators queue concurrent next() calls, so workers can share one iterator.
        step = await iterator.next();
      } catch (err) {
        fail(err);
        return;
      }
      if (step.done || failed) return;
      const i = index++;
      try {
        results[i] = await fn(step.value, i);
      } catch (err) {
        fail(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failed) throw failure;
  return results;
}

/** Groups documents into batches of at most `maxDocuments` documents and about `maxBytes` of JSON. */
export async function* batchDocuments(
  documents: Iterable<DocumentInput> | AsyncIterable<DocumentInput>,
  maxDocuments: number,
  maxBytes: number,
): AsyncGenerator<DocumentInput[], void, undefined> {
  const encoder = new TextEncoder();
  let batch: DocumentInput[] = [];
  let bytes = 0;
  for await (const doc of documents) {
    // +1: the comma between documents in the request body.
    const size = encoder.encode(JSON.stringify(doc)).byteLength + 1;
    if (batch.length > 0 && (batch.length >= maxDocuments || bytes + size > maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(doc);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

export type UploadProgress = { accepted: number; batches: number };

export type UploadOptions = {
  /** Documents per call, at most MAX_BATCH_DOCUMENTS (the default). */
  batchSize?: number;
  /** JSON bytes per call; default DEFAULT_BATCH_BYTES. */
  maxBatchBytes?: number;
  /** Calls in flight; default 2. */
  concurrency?: number;
  /** Write R2 objects (POST /objects, admin) instead of documents. */
  objects?: boolean;
  onProgress?: (progress: UploadProgress) => void;
  signal?: AbortSignal;
};

/**
 * Writes documents in batches within the service's limits, a few calls at a time; resolves with
 * the accepted ids in input order. Documents are queued for indexing: see waitUntilIndexed.
 */
export async function uploadDocuments(
  client: Client,
  namespace: string,
  documents: Iterable<DocumentInput> | AsyncIterable<DocumentInput>,
  options: UploadOptions = {},
): Promise<{ accepted: number; ids: string[] }> {
  const batchSize = Math.min(MAX_BATCH_DOCUMENTS, Math.max(1, options.batchSize ?? MAX_BATCH_DOCUMENTS));
  const maxBytes = options.maxBatchBytes ?? DEFAULT_BATCH_BYTES;
  const callOptions = options.signal ? { signal: options.signal } : {};
  const progress: UploadProgress = { accepted: 0, batches: 0 };
  const send = async (batch: DocumentInput[]): Promise<string[]> => {
    try {
      const write = options.objects ? client.putObjects : client.putDocuments;
      const { ids } = await write(namespace, batch, callOptions);
      return ids;
    } catch (err) {
      // Over this deployment's MAX_REQUEST_BYTES: halve the batch until it fits.
      if (err instanceof ApiError && err.status === 413 && batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        return [...(await send(batch.slice(0, half))), ...(await send(batch.slice(half)))];
      }
      throw err;
    }
  };
  const perBatch = await mapConcurrent(
    batchDocuments(documents, batchSize, maxBytes),
    options.concurrency ?? 2,
    async (batch) => {
      const ids = await send(batch);
      progress.accepted += ids.length;
      progress.batches += 1;
      options.onProgress?.({ ...progress });
      return ids;
    },
  );
  const ids = perBatch.flat();
  return { accepted: ids.length, ids };
}

export type WaitOptions = {
  /** Give up after this long; default 60 s. */
  timeoutMs?: number;
  /** Between polls; default 500 ms. */
  intervalMs?: number;
  signal?: AbortSignal;
  sleep?: Sleep;
  onProgress?: (pending: number, total: number) => void;
};

/**
 * Polls each document's status until every one is indexed or failed; resolves with the final
 * statuses in the order of `ids`. Rejects with an ApiError (status 0, timedOut) after timeoutMs.
 */
export async function waitUntilIndexed(
  client: Client,
  namespace: string,
  ids: string | readonly string[],
  options: WaitOptions = {},
): Promise<DocumentStatus[]> {
  const all = typeof ids === "string" ? [ids] : [...ids];
  const timeoutMs = options.timeoutMs ?? 60_000;
  const sleep = options.sleep ?? defaultSleep;
  const callOptions = options.signal ? { signal: options.signal } : {};
  const done = new Map<string, DocumentStatus>();
  const started = now();
  for (;;) {
    const pending = all.filter((id) => !done.has(id));
    const statuses = await mapConcurrent(pending, 8, (id) => client.getDocument(namespace, id, callOptions));
    for (const status of statuses) {
      if (status.status === "indexed" || status.status === "failed") done.set(status.id, status);
    }
    const left = all.length - done.size;
    options.onProgress?.(left, all.length);
    if (left === 0) return all.map((id) => done.get(id) as DocumentStatus);
    if (now() - started >= timeoutMs) {
      const sample = all.filter((id) => !done.has(id)).slice(0, 5);
      throw new ApiError(
        `${left} of ${all.length} documents in "${namespace}" not indexed after ${Math.round(timeoutMs / 1000)} s ` +
          `(${sample.join(", ")}${left > sample.length ? ", ..." : ""})`,
        { status: 0, retryable: true, timedOut: true },
      );
    }
    await sleep(options.intervalMs ?? 500, options.signal);
  }
}

/**
 * Waits until the namespace has no queued documents and at least `expected` documents are indexed
 * or failed (a write is counted as pending from the moment it is accepted).
 */
export async function waitForIndexing(
  client: Client,
  namespace: string,
  options: {
    expected: number;
    timeoutMs: number;
    intervalMs?: number;
    onProgress?: (stats: NamespaceStats, elapsedMs: number) => void;
    sleep?: Sleep;
    signal?: AbortSignal;
  },
): Promise<NamespaceStats> {
  const sleep = options.sleep ?? defaultSleep;
  const callOptions = options.signal ? { signal: options.signal } : {};
  const started = now();
  for (;;) {
    const stats = await client.namespaceStats(namespace, callOptions);
    const elapsedMs = now() - started;
    options.onProgress?.(stats, elapsedMs);
    if (stats.pending === 0 && stats.documents + stats.failed >= options.expected) return stats;
    if (elapsedMs >= options.timeoutMs) {
      throw new ApiError(
        `namespace "${namespace}" still has ${stats.pending} pending documents after ${Math.round(elapsedMs / 1000)} s ` +
          `(${stats.documents} indexed, ${stats.failed} failed, ${options.expected} expected)`,
        { status: 0, retryable: true, timedOut: true },
      );
    }
    await sleep(options.intervalMs ?? 1000, options.signal);
  }
}
