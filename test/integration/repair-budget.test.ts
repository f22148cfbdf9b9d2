// Self-repair within the Free plan's invocation limits: one scheduled run, health check included,
// that repairs a missing vector and a missing keyword row stays within 50 D1 queries. A file of
// its own: the health check's cost grows with the namespaces other tests leave behind.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { keywordTable } from "../../src/store/keyword";
import { LocalVectorIndexClient } from "../../src/vectors/local";
import { api, freshNamespace, writeIndexed } from "../support";
import { runFreeCron } from "../support/cron";
import { waitVectorsApplied } from "../support/search";

describe("self-repair budget", () => {
  it("repairs a missing vector and a missing keyword row on the Free plan, within its 50 D1 queries", async () => {
    const ns = freshNamespace("rb");
    const docs = [{ id: "doc", text: "Shearwaters skim the waves on stiff wings." }];
    await writeIndexed(ns, docs);
    await waitVectorsApplied(ns, "shearwaters", 1);
    const { results } = await env.DB.prepare("SELECT chunk_id FROM chunks WHERE namespace = ?1")
      .bind(ns)
      .all<{
        chunk_id: string;
      }>();
    const index = new LocalVectorIndexClient(env.LOCAL_INDEX, loadConfig(env).vectorizeIndexName);
    await index.deleteByIds(results.map((r) => r.chunk_id));
    await index.flush();
    const table = await keywordTable(ns);
    await env.DB.prepare(
      `INSERT INTO ${table} (${table}, rowid, title, text)
       SELECT 'delete', rowid, title, text FROM chunks WHERE namespace = ?1`,
    )
      .bind(ns)
      .run();
    await env.DB.prepare("UPDATE documents SET indexed_at = indexed_at - 3600000 WHERE namespace = ?1")
      .bind(ns)
      .run();

    const report = await runFreeCron(ns);
    expect(report?.plan).toBe("free");
    expect(report?.exceeded ?? null).toBeNull();
    const stats = await api<{ health: Record<string, number> }>("GET", `/v1/namespaces/${ns}`);
    expect(stats.body.health).toMatchObject({ repairedVectors: 1, keywordRepairs: 1 });
  });
});
