// The document converter in the ingest: behind the workers-ai breaker and counted as an AI call
// like embeddings (production converts through Workers AI toMarkdown, faked here), and a local
// converter that throws fails its document at once instead of being retried until dead-lettered.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { LocalConverter } from "../../src/ingest/convert/local";
import { WorkersAiConverter } from "../../src/ingest/convert/workers-ai";
import { putMessage } from "../../src/ingest/messages";
import { processMessage } from "../../src/ingest/pipeline";
import { createLogger } from "../../src/observe/logger";
import { Meter } from "../../src/observe/meter";
import { BreakerClient, type BreakerSnapshot } from "../../src/resilience/breaker";
import type { GuardContext } from "../../src/resilience/guard";
import { DocumentStore } from "../../src/store/documents";
import { workerEnv } from "../../workers/env";
import { buildServices, guardedConverter } from "../../workers/services";
import { freshNamespace } from "../support";

const PDF = "application/pdf";
const config = loadConfig(env);

/** A Workers AI binding whose toMarkdown answers `answer` (or throws it), counting its calls. */
function fakeAi(answer: () => unknown) {
  const calls: string[] = [];
  const ai = {
    toMarkdown: async ({ name }: { name: string }) => {
      calls.push(name);
      return answer();
    },
  } as unknown as Ai;
  return { ai, calls };
}

function services(meter = new Meter()) {
  return buildServices(workerEnv(env), config, createLogger("error"), {
    defer: () => undefined,
    path: "ingest",
    meter,
  });
}

/** The guard with breakers of its own, the workers-ai one in `state`. */
async function guardWith(guard: GuardContext, state: BreakerSnapshot["state"]): Promise<GuardContext> {
  const snapshot: BreakerSnapshot = {
    state,
    retryAt: state === "open" ? Date.now() + 60_000 : null,
    window: { ok: 0, fail: 0 },
    opens: state === "open" ? 1 : 0,
    transitions: 0,
  };
  const backend = { report: async () => snapshot, snapshot: async () => snapshot };
  const breakers = new BreakerClient();
  const pending: Promise<unknown>[] = [];
  breakers.allow("workers-ai", backend, (p) => pending.push(p));
  await Promise.all(pending);
  return { ...guard, breakers, backend, faults: null };
}

/** A PDF document queued in `ns` (its bytes need not parse: the fake converts them). */
async function queuedPdf(ns: string, id: string) {
  const object = await env.DOCUMENTS.put(`${ns}/${id}`, "%PDF-1.7 fake", {
    httpMetadata: { contentType: PDF },
  });
  if (!object) throw new Error("no object");
  await new DocumentStore(env.DB).upsertQueued(ns, [
    { id, title: null, contentType: PDF, metadata: {}, bytes: object.size, etag: object.etag },
  ]);
  return putMessage(env.DOCUMENTS_BUCKET_NAME, `${ns}/${id}`, object.size, object.etag);
}

const markdown = () => ({
  name: "document.pdf",
  mimeType: PDF,
  format: "markdown",
  data: "# Auks\n\nAuks dive for sand eels.",
});

describe("document conversion in the ingest", () => {
  it("leaves a document for a later delivery while the workers-ai breaker is open", async () => {
    const ns = freshNamespace("conv-open");
    const message = await queuedPdf(ns, "auks.pdf");
    const base = services();
    const fake = fakeAi(markdown);
    const open = await guardWith(base.guard, "open");
    const deps = {
      ...base,
      converter: guardedConverter(new WorkersAiConverter(fake.ai), new Meter(), open, 60_000),
    };

    const decision = await processMessage(deps, message, 1);
    expect(decision).toMatchObject({ type: "retry" });
    expect(decision.type === "retry" ? decision.error : "").toContain("circuit open");
    expect(fake.calls).toEqual([]);
    expect((await new DocumentStore(env.DB).get(ns, "auks.pdf"))?.status).toBe("queued");

    // Once the breaker lets calls through, the same message indexes the document.
    const closed = await guardWith(base.guard, "closed");
    const later = {
      ...base,
      converter: guardedConverter(new WorkersAiConverter(fake.ai), new Meter(), closed, 60_000),
    };
    expect(await processMessage(later, message, 2)).toMatchObject({ type: "ack", outcome: "indexed" });
    expect(fake.calls).toEqual(["document.pdf"]);
  });

  it("retries a toMarkdown call that throws, counting every conversion as an AI call", async () => {
    const ns = freshNamespace("conv-count");
    const message = await queuedPdf(ns, "auks.pdf");
    const base = services();
    let failing = true;
    const fake = fakeAi(() => {
      if (failing) throw new Error("InferenceUpstreamError: 503 Service Unavailable");
      return markdown();
    });
    const meter = new Meter();
    const closed = await guardWith(base.guard, "closed");
    const deps = {
      ...base,
      converter: guardedConverter(new WorkersAiConverter(fake.ai), meter, closed, 60_000),
    };

    expect(await processMessage(deps, message, 1)).toMatchObject({ type: "retry" });
    expect((await new DocumentStore(env.DB).get(ns, "auks.pdf"))?.status).toBe("queued");
    // One attempt per delivery: the queue retries the message, not the converter in place.
    expect(fake.calls).toHaveLength(1);
    expect(meter.total().aiCalls).toBe(1);

    failing = false;
    expect(await processMessage(deps, message, 2)).toMatchObject({ type: "ack", outcome: "indexed" });
    expect(meter.total().aiCalls).toBe(2);
  });

  it("counts the services' converter in the request's cost counters", async () => {
    const meter = new Meter();
    const csv = new TextEncoder().encode("species,colony\nrazorbill,Skomer\n");
    const text = await services(meter).converter.toMarkdown(csv, "text/csv", 10_000);
    expect(text).toContain("razorbill");
    expect(meter.total().aiCalls).toBe(1);
  });

  it("fails a document at once when the local converter throws on it", async () => {
    const ns = freshNamespace("conv-throw");
    const message = await queuedPdf(ns, "hostile.pdf");
    const base = services();
    const throwing = new LocalConverter({
      [PDF]: async () => {
        throw new TypeError("Cannot read properties of undefined (reading 'length')");
      },
    });

    const decision = await processMessage({ ...base, converter: throwing }, message, 1);
    expect(decision).toMatchObject({ type: "ack", outcome: "failed" });
    const row = await new DocumentStore(env.DB).get(ns, "hostile.pdf");
    expect(row?.status).toBe("failed");
    expect(row?.error).toBe(
      "the application/pdf document could not be converted: Cannot read properties of undefined (reading 'length')",
    );
  });
});
