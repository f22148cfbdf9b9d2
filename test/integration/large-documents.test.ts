// Documents with more chunks than Vectorize takes ids per call (100 per deleteByIds, 20 per
// getByIds): shrinking and deleting them leaves no vector behind, on the local index through the
// queue consumer and on a fake Vectorize binding that refuses over-cap calls as the platform does.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { chunkIdPrefix, chunkIds } from "../../src/ingest/ids";
import { deleteMessage, type IngestMessage, putMessage } from "../../src/ingest/messages";
import { type IngestDeps, processMessage } from "../../src/ingest/pipeline";
import { createLogger } from "../../src/observe/logger";
import { DocumentStore } from "../../src/store/documents";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import { getVectors } from "../../src/vectors/paging";
import type { VectorIndex } from "../../src/vectors/vector-index";
import { VectorizeAdapter } from "../../src/vectors/vectorize";
import { workerEnv } from "../../workers/env";
import { buildServices } from "../../workers/services";
import { FakeVectorize } from "../fakes/fake-vectorize";
import { freshNamespace } from "../support";
import { deliverMessage } from "../support/queue";

// Small chunks keep a 2,000-chunk document small: one paragraph of about 20 tokens per chunk.
const smallChunks = { ...env, CHUNK_MAX_TOKENS: "32", CHUNK_OVERLAP_TOKENS: "0" };

function text(paragraphs: number): string {
  return Array.from(
    { length: paragraphs },
    (_, i) => `Paragraph ${i} tells of storm petrels, shearwaters and albatrosses over the open sea.`,
  ).join("\n\n");
}

/** Writes the document to R2 and marks it queued, as the API does; the message that indexes it. */
async function upload(ns: string, id: string, paragraphs: number): Promise<IngestMessage> {
  const object = await env.DOCUMENTS.put(`${ns}/${id}`, text(paragraphs));
  if (!object) throw new Error("R2 put returned no object");
  await new DocumentStore(env.DB).upsertQueued(ns, [
    { id, title: null, contentType: "text/plain", metadata: {}, bytes: object.size, etag: object.etag },
  ]);
  return putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/${id}`, object.size, object.etag);
}

async function removal(ns: string, id: string): Promise<IngestMessage> {
  await env.DOCUMENTS.delete(`${ns}/${id}`);
  return deleteMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/${id}`);
}

async function chunkCount(ns: string, id: string): Promise<number | undefined> {
  return (await new DocumentStore(env.DB).get(ns, id))?.chunkCount;
}

/** Which of the document's first `upTo` chunk ids have a vector, read through getByIds in pages. */
async function vectorsOf(index: VectorIndex, ns: string, id: string, upTo: number): Promise<number> {
  const ids = chunkIds(await chunkIdPrefix(ns, id), 0, upTo);
  return (await getVectors(index, ids)).length;
}

async function deliver(body: IngestMessage): Promise<void> {
  const result = await deliverMessage(body, { env: smallChunks });
  expect(result.retryMessages).toEqual([]);
  expect(result.explicitAcks).toHaveLength(1);
}

describe.each([150, 2000])("a document of %i chunks", (chunks) => {
  const shrunk = 7;
  // Embedding and writing 2,000 chunks takes a few seconds on a busy machine.
  const slow = { timeout: 60_000 };

  it("shrinks and is deleted with no vector left on the local index", slow, async () => {
    const ns = freshNamespace("big");
    const index = new LocalVectorIndexClient(env.LOCAL_INDEX, loadConfig(env).vectorizeIndexName);
    await deliver(await upload(ns, "doc", chunks));
    expect(await chunkCount(ns, "doc")).toBe(chunks);
    await index.flush();
    expect(await vectorsOf(index, ns, "doc", chunks + 5)).toBe(chunks);

    await deliver(await upload(ns, "doc", shrunk));
    expect(await chunkCount(ns, "doc")).toBe(shrunk);
    await index.flush();
    expect(await vectorsOf(index, ns, "doc", chunks + 5)).toBe(shrunk);

    await deliver(await removal(ns, "doc"));
    await index.flush();
    expect(await vectorsOf(index, ns, "doc", chunks + 5)).toBe(0);
  });

  it("shrinks and is deleted with no vector left on a strict Vectorize binding", slow, async () => {
    const ns = freshNamespace("big");
    const config = loadConfig(smallChunks);
    const services = buildServices(workerEnv(smallChunks), config, createLogger("error"), {
      defer: () => undefined,
      path: "ingest",
    });
    const fake = new FakeVectorize({ dimensions: 768, autoApply: true });
    const index = new VectorizeAdapter(fake);
    const deps: IngestDeps = { ...services, index, versions: undefined };
    const ingest = async (message: IngestMessage) =>
      expect(await processMessage(deps, message, 1)).toMatchObject({ type: "ack" });

    await ingest(await upload(ns, "doc", chunks));
    expect(await chunkCount(ns, "doc")).toBe(chunks);
    expect(await vectorsOf(index, ns, "doc", chunks + 5)).toBe(chunks);

    await ingest(await upload(ns, "doc", shrunk));
    expect(await vectorsOf(index, ns, "doc", chunks + 5)).toBe(shrunk);

    await ingest(await removal(ns, "doc"));
    expect(await vectorsOf(index, ns, "doc", chunks + 5)).toBe(0);
    expect((await fake.describe()).vectorCount).toBe(0);
    // Every call the binding saw was within its caps.
    const sizes = (method: string) =>
      fake.calls.filter((c) => c.method === method).map((c) => (c.args[0] as unknown[]).length);
    expect(Math.max(...sizes("deleteByIds"))).toBeLessThanOrEqual(100);
    expect(Math.max(...sizes("getByIds"))).toBeLessThanOrEqual(20);
  });
});
