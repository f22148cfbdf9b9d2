// KV and D1 round trips of a similar-documents request: on an isolate that holds neither the
// namespace's version pointer nor its write generation, both are read side by side (one KV
// round trip, not two in a row); on an isolate that holds both, no KV read is waited for.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { clearGenerationCache, generationKey } from "../../src/cache/generation";
import { clearPointerCache, pointerKey } from "../../src/versions/pointer";
import type { SearchResponseBody } from "../../workers/api/routes/search";
import { api, apiWithEnv, freshNamespace, waitFor, writeIndexed } from "../support";
import {
  type Call,
  recorder,
  recordingD1,
  recordingKv,
  sequentialRounds,
  sideBySide,
} from "../support/rounds";

const NS = freshNamespace("similar-rounds");
const similarPath = (id: string) => `/v1/namespaces/${NS}/documents/${id}/similar`;
const KV_KEYS = [pointerKey(NS), generationKey(NS)];

/** Asks for documents like `id` through the Worker, recording the KV and D1 calls it makes. */
async function recordedSimilar(id: string, body: Record<string, unknown>) {
  const rec = recorder();
  const testEnv = {
    ...env,
    KV: recordingKv(env.KV, rec, KV_KEYS),
    DB: recordingD1(env.DB, rec),
    // What a request reads stays in the isolate for a minute, however slowly the next one comes.
    GENERATION_CACHE_TTL_MS: "60000",
    VERSION_CACHE_TTL_MS: "60000",
  };
  const res = await apiWithEnv<SearchResponseBody>(testEnv, "POST", similarPath(id), body);
  // Locally, metrics points are flushed into D1 after a response, at most once a second
  // (src/observe/local-dataset.ts): not a round trip of the request, and none in production.
  return { res, calls: rec.calls.filter((c) => !c.key.includes("local_metrics")) };
}

/** Forgets what this isolate knows of the namespace: the next request runs as on a cold isolate. */
function coldIsolate(): void {
  clearPointerCache(NS);
  clearGenerationCache(NS);
}

const kvCalls = (calls: readonly Call[]) => calls.filter((c) => !c.key.startsWith("d1:"));
const d1Keys = (calls: readonly Call[]) => calls.filter((c) => c.key.startsWith("d1:")).map((c) => c.key);

const DOCS = [
  { id: "lava", text: "Lava flows from the volcano as molten rock and cools into basalt." },
  { id: "magma", text: "Magma rises under the volcano and erupts as lava, ash and gas." },
  { id: "bread", text: "Sourdough bread rises with a starter of wild yeast." },
];

beforeAll(async () => {
  await writeIndexed(NS, DOCS);
  // Vectors apply after the rows commit (as on Vectorize): wait until every document's are read.
  await waitFor("vectors applied", async () => {
    const res = await api<SearchResponseBody>("POST", similarPath("bread"), { cache: "bypass" });
    return res.status === 200 && res.body.results.length === 2;
  });
});

// Each request asks for another topK: its answer is in no result cache, so it is computed.
describe("a similar-documents request's round trips", () => {
  it("reads the version pointer and the write generation side by side on a cold isolate", async () => {
    coldIsolate();
    const { res, calls } = await recordedSimilar("lava", { topK: 1 });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r) => r.id)).toEqual(["magma"]);
    // Each once (the second user of each value finds it in the isolate's cache), side by side.
    expect(sideBySide(calls, pointerKey(NS), generationKey(NS))).toEqual({
      counts: [1, 1],
      overlapped: true,
    });
  });

  it("waits for no KV read on a warm isolate and for one on a cold one", async () => {
    coldIsolate();
    const cold = await recordedSimilar("magma", { topK: 2 });
    const warm = await recordedSimilar("magma", { topK: 3 });
    expect([cold.res.status, warm.res.status]).toEqual([200, 200]);
    expect(warm.res.body.results.map((r) => r.id)).toContain("lava");
    expect(
      kvCalls(cold.calls)
        .map((c) => c.key)
        .sort(),
    ).toEqual([...KV_KEYS].sort());
    expect(kvCalls(warm.calls)).toEqual([]);
    // The D1 reads (the source document, then the hydration) are the same on both.
    expect(d1Keys(warm.calls)).toEqual(d1Keys(cold.calls));
    expect(sequentialRounds(cold.calls)).toBe(sequentialRounds(warm.calls) + 1);
  });
});
