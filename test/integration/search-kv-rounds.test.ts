// KV round trips of a search on a cold isolate: the namespace's version pointer (read for its
// running experiment) and its write generation are independent reads, so a search that finds
// neither in the isolate's caches waits for one KV round trip, not two in a row, whether it
// comes through the API or the MCP search tool.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_PRINCIPAL } from "../../src/auth/authenticate";
import { generationKey } from "../../src/cache/generation";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/observe/logger";
import { createTimer, monotonicClock } from "../../src/search/timer";
import { clearPointerCache, pointerKey } from "../../src/versions/pointer";
import { runSearch } from "../../workers/api/routes/search";
import { workerEnv } from "../../workers/env";
import { buildServices } from "../../workers/services";
import { apiWithEnv, freshNamespace } from "../support";
import { recorder, recordingKv, sideBySide } from "../support/rounds";

/** A namespace no isolate cache holds anything of, and KV recording its reads into `rec`. */
function coldNamespace(rec: ReturnType<typeof recorder>) {
  const ns = freshNamespace("kv-rounds");
  clearPointerCache(ns);
  return { ns, testEnv: { ...env, KV: recordingKv(env.KV, rec, [pointerKey(ns), generationKey(ns)]) } };
}

describe("a search's KV reads on a cold isolate", () => {
  it("reads the version pointer and the write generation side by side", async () => {
    const rec = recorder();
    const { ns, testEnv } = coldNamespace(rec);
    const services = buildServices(workerEnv(testEnv), loadConfig(testEnv), createLogger("error"), {
      defer: () => undefined,
      path: "search",
    });
    const answer = await runSearch(
      services,
      ADMIN_PRINCIPAL,
      ns,
      { query: "ibex", mode: "keyword", topK: 10, cache: "bypass" } as Parameters<typeof runSearch>[3],
      createTimer(monotonicClock),
    );
    expect(answer.results).toEqual([]);
    // Each once (the second user of each value finds it in the isolate's cache), side by side.
    expect(sideBySide(rec.calls, pointerKey(ns), generationKey(ns))).toEqual({
      counts: [1, 1],
      overlapped: true,
    });
  });

  it("reads them side by side for the MCP search tool too", async () => {
    const rec = recorder();
    const { ns, testEnv } = coldNamespace(rec);
    const res = await apiWithEnv<{
      result: { isError?: boolean; structuredContent: { results: unknown[] } };
    }>(testEnv, "POST", "/mcp", {
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "search", arguments: { namespace: ns, query: "ibex", mode: "keyword" } },
    });
    expect(res.status).toBe(200);
    expect(res.body.result.isError).toBeUndefined();
    expect(res.body.result.structuredContent.results).toEqual([]);
    expect(sideBySide(rec.calls, pointerKey(ns), generationKey(ns))).toEqual({
      counts: [1, 1],
      overlapped: true,
    });
  });
});
