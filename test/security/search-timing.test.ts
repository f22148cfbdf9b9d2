// What a search's answer tells about other tenants: query embeddings are cached per namespace, so
// whether another tenant searched a text changes nothing a search sees, and Server-Timing's stage
// times (which show what was cached) are shown to admin keys only.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CachingEmbedder, clearIsolateEmbeddings } from "../../src/cache/embedding-cache";
import type { Embedder, EmbedKind } from "../../src/embed/embedder";
import { LocalEmbedder } from "../../src/embed/local";
import { createLogger } from "../../src/observe/logger";
import { adminKey, freshNamespace } from "../support";
import { bearer, createKey, type RawResponse, send } from "./support";

class CountingEmbedder implements Embedder {
  readonly model = "@cf/baai/bge-small-en-v1.5";
  readonly dimensions = 384;
  readonly maxInputTokens = 512;
  calls = 0;
  private readonly inner = new LocalEmbedder({ model: this.model, dimensions: this.dimensions });
  embed(texts: string[], kind: EmbedKind): Promise<Float32Array[]> {
    this.calls += 1;
    return this.inner.embed(texts, kind);
  }
}

function search(ns: string, key: string, query: string): Promise<RawResponse> {
  return send({
    method: "POST",
    path: `/v1/namespaces/${ns}/search`,
    headers: { ...bearer(key), "content-type": "application/json" },
    body: JSON.stringify({ query, mode: "vector" }),
  });
}

/** Server-Timing's metric names, in order. */
function timingNames(res: RawResponse): string[] {
  return (res.headers.get("server-timing") ?? "")
    .split(",")
    .map((part) => part.trim().split(";")[0] ?? "")
    .filter((name) => name !== "");
}

/** Everything a response shows but its results, request id and timing values. */
function observable(res: RawResponse) {
  // A searchId is new on every answer (its time and a nonce): compared by the fields it signs.
  const { results: _results, searchId, ...body } = res.json as Record<string, unknown>;
  if (typeof searchId === "string") {
    const {
      t: _t,
      r: _r,
      ...signed
    } = JSON.parse(atob((searchId.split(".")[0] ?? "").replace(/-/g, "+").replace(/_/g, "/")));
    body.searchId = signed;
  }
  const headers = [...res.headers.keys()].filter((h) => h !== "x-request-id").sort();
  return { status: res.status, body, headers, timing: timingNames(res), cache: res.headers.get("x-cache") };
}

describe("the query embedding cache", () => {
  it("never answers one namespace with a vector cached for another", async () => {
    const inner = new CountingEmbedder();
    const base = new CachingEmbedder(inner, env.KV, 3600, createLogger("error"), `p${Date.now()}`);
    const a = base.forNamespace("tenant-a");
    // Twice: the second sighting also writes it to KV.
    await a.embed(["harbour seal migration"], "query");
    await a.embed(["harbour seal migration"], "query");
    expect(inner.calls).toBe(1);
    await base.forNamespace("tenant-b").embed(["harbour seal migration"], "query");
    expect(inner.calls).toBe(2);
    // Not even through KV: with this isolate's copies gone, tenant-a's entry is still its own.
    clearIsolateEmbeddings();
    await base.forNamespace("tenant-c").embed(["harbour seal migration"], "query");
    expect(inner.calls).toBe(3);
    await base.forNamespace("tenant-a").embed(["harbour seal migration"], "query");
    expect(inner.calls).toBe(3);
  });
});

describe("Server-Timing on searches", () => {
  it("shows stage times to admin keys only", async () => {
    const ns = freshNamespace("st");
    const searcher = await createKey({ namespaces: [ns], roles: ["search"] });
    const asSearch = await search(ns, searcher.key, "kelp forest canopy");
    expect(asSearch.status).toBe(200);
    expect(timingNames(asSearch)).toEqual(["total"]);
    const asAdmin = await search(ns, adminKey(), "kelp forest canopy depth");
    expect(asAdmin.status).toBe(200);
    expect(timingNames(asAdmin)).toEqual(expect.arrayContaining(["auth", "cache", "embed", "total"]));
  });

  it("shows a search key nothing that depends on what another tenant searched", async () => {
    const victim = freshNamespace("st-a");
    const prober = freshNamespace("st-b");
    const victimKey = await createKey({ namespaces: [victim], roles: ["search"] });
    const proberKey = await createKey({ namespaces: [prober], roles: ["search"] });
    const secret = `merger talks with ${victim} holdings`;
    for (let i = 0; i < 3; i++) expect((await search(victim, victimKey.key, secret)).status).toBe(200);
    const searched = observable(await search(prober, proberKey.key, secret));
    const never = observable(await search(prober, proberKey.key, `${secret} never searched`));
    expect(searched).toEqual(never);
    expect(searched.timing).toEqual(["total"]);
  });
});
