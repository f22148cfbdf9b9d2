// Ingest under failures: a consumer that dies between the vector upsert and the D1 commit loses
// nothing and duplicates nothing when the message comes again.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { chunkIdPrefix, chunkIds } from "../../src/ingest/ids";
import { putMessage } from "../../src/ingest/messages";
import { processMessage } from "../../src/ingest/pipeline";
import { createLogger } from "../../src/observe/logger";
import type { FaultPlan } from "../../src/resilience/faults";
import { DocumentStore } from "../../src/store/documents";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import { workerEnv } from "../../workers/env";
import { buildServices } from "../../workers/services";
import { freshNamespace } from "../support";

function services(faults: FaultPlan | null) {
  return buildServices(workerEnv(env), loadConfig(env), createLogger("error"), {
    defer: () => undefined,
    path: "ingest",
    faults,
  });
}

async function counts(ns: string, id: string, expectedChunks: number) {
  const chunkRows = await env.DB.prepare(
    "SELECT COUNT(*) AS n FROM chunks WHERE namespace = ? AND doc_id = ?",
  )
    .bind(ns, id)
    .first<{ n: number }>();
  const index = new LocalVectorIndexClient(env.LOCAL_INDEX, loadConfig(env).vectorizeIndexName);
  await index.flush();
  // Every id the document could have, and a few past its end: only its own chunks exist.
  const ids = chunkIds(await chunkIdPrefix(ns, id), 0, expectedChunks + 5);
  const vectors = [];
  for (let i = 0; i < ids.length; i += 20) vectors.push(...(await index.getByIds(ids.slice(i, i + 20))));
  return { chunkRows: chunkRows?.n ?? 0, vectors: vectors.length };
}

describe("ingest under failures", () => {
  it("recovers from a crash after the vector upsert and before the D1 commit", async () => {
    const ns = freshNamespace("f");
    const text = Array.from(
      { length: 40 },
      (_, i) => `Paragraph ${i} about storm petrels and the open sea.`,
    ).join("\n\n");
    const object = await env.DOCUMENTS.put(`${ns}/doc`, text);
    if (!object) throw new Error("no object");
    await new DocumentStore(env.DB).upsertQueued(ns, [
      {
        id: "doc",
        title: null,
        contentType: "text/plain",
        metadata: {},
        bytes: object.size,
        etag: object.etag,
      },
    ]);
    const message = putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/doc`, object.size, object.etag);

    const crashed = await processMessage(
      services({ scope: `crash-${ns}`, d1: { error: 1, methods: ["commitIndexed"] } }),
      message,
      1,
    );
    expect(crashed.type).toBe("retry");
    const partial = await counts(ns, "doc", 10);
    expect(partial.chunkRows).toBe(0);
    expect(partial.vectors).toBeGreaterThan(0);

    const redelivered = await processMessage(services(null), message, 2);
    expect(redelivered).toMatchObject({ type: "ack", outcome: "indexed" });
    const row = await new DocumentStore(env.DB).get(ns, "doc");
    expect(row?.status).toBe("indexed");
    const after = await counts(ns, "doc", row?.chunkCount ?? 0);
    expect(after.chunkRows).toBe(row?.chunkCount);
    expect(after.vectors).toBe(row?.chunkCount);

    // And once more: a duplicate delivery changes nothing.
    expect(await processMessage(services(null), message, 3)).toMatchObject({
      type: "ack",
      outcome: "skipped",
    });
    expect(await counts(ns, "doc", row?.chunkCount ?? 0)).toEqual(after);
  });
});
