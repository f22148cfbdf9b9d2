// The console's search playground, server-rendered: each result's rank and score in the keyword
// and vector legs, its fused score (and the reranker's when asked), and the stage timings.
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_PRINCIPAL } from "../../src/auth/authenticate";
import { issueSession } from "../../src/auth/session";
import { loadConfig } from "../../src/config";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import { freshNamespace, TEST_ORIGIN, writeIndexed } from "../support";

const DOCS = [
  { id: "otter", text: "Sea otters hold hands while they sleep among the kelp.", title: "Otters" },
  { id: "kelp", text: "Kelp forests grow along cold rocky coasts.", title: "Kelp" },
  { id: "meadow", text: "A quiet meadow of tall grass and wildflowers.", title: "Meadow" },
];

/** The playground page for `query`, as an admin's browser gets it (no script runs). */
async function playground(ns: string, query: string): Promise<{ status: number; text: string }> {
  const { token } = await issueSession(loadConfig(env), ADMIN_PRINCIPAL);
  const res = await exports.default.fetch(
    new Request(`${TEST_ORIGIN}/console/namespaces/${ns}/search?${query}`, {
      headers: { cookie: `console_session=${token}` },
    }),
  );
  return { status: res.status, text: await res.text() };
}

/** The "Scores by leg" row of document `id`: its cells' text. */
function legRow(html: string, id: string): string[] {
  const row = new RegExp(`<tr><td>\\d+</td><td><code>${id}</code></td>(.*?)</tr>`).exec(html)?.[1];
  if (row === undefined) throw new Error(`no leg row for ${id}`);
  return [...row.matchAll(/<td>(.*?)<\/td>/g)].map((m) => m[1] ?? "");
}

describe("console search playground", () => {
  const ns = freshNamespace("cpg");

  beforeAll(async () => {
    await writeIndexed(ns, DOCS);
    await new LocalVectorIndexClient(env.LOCAL_INDEX, loadConfig(env).vectorizeIndexName).flush();
  });

  it("shows each result's keyword and vector rank and score, its fused score and the stage timings", async () => {
    const page = await playground(ns, "q=otters+kelp&mode=hybrid&topK=10");
    expect(page.status).toBe(200);
    expect(page.text).toContain("Scores by leg");
    // keyword rank, bm25, vector rank, similarity, fused, rerank
    const [kwRank, bm25, vecRank, similarity, fused, rerank] = legRow(page.text, "otter");
    expect(kwRank).toBe("1");
    expect(Number(bm25)).toBeGreaterThan(0);
    expect(Number(vecRank)).toBeGreaterThanOrEqual(1);
    expect(Number(similarity)).toBeGreaterThan(0);
    expect(Number(fused)).toBeGreaterThan(0);
    expect(rerank).toBe("–");
    // Only the vector leg finds the meadow: no keyword rank or score.
    expect(legRow(page.text, "meadow").slice(0, 3)).toEqual(["–", "–", expect.stringMatching(/^\d+$/)]);
    const config = loadConfig(env);
    expect(page.text).toContain(
      `fused = ${config.hybridKeywordWeight} / (${config.hybridRrfK} + keyword rank) + ${config.hybridVectorWeight} / (${config.hybridRrfK} + vector rank)`,
    );
    expect(page.text).toContain("Stage timings");
    for (const stage of ["keyword", "vector", "fuse", "hydrate"]) {
      expect(page.text).toMatch(new RegExp(`<tr><td>${stage}</td><td>[\\d.]+ ms</td></tr>`));
    }
  });

  it("shows the reranker's score next to the fused one when reranking", async () => {
    const page = await playground(ns, "q=otters+kelp&mode=hybrid&rerank=on");
    expect(page.status).toBe(200);
    expect(page.text).toContain('name="rerank" type="checkbox" value="on" checked');
    const [, , , , fused, rerank] = legRow(page.text, "otter");
    expect(Number(fused)).toBeGreaterThan(0);
    expect(rerank).toMatch(/^-?\d+\.\d{4}$/);
    expect(page.text).toMatch(/<tr><td>rerank<\/td><td>[\d.]+ ms<\/td><\/tr>/);
  });

  it("shows keyword mode's results without a vector leg", async () => {
    const page = await playground(ns, "q=otters&mode=keyword");
    expect(page.status).toBe(200);
    expect(legRow(page.text, "otter").slice(0, 4)).toEqual(["1", expect.any(String), "–", "–"]);
  });
});
