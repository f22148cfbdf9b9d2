// The pool of data databases: namespaces created with D1_DATA_DATABASES = "DB,DATA_DB_1,DATA_DB_2"
// spread over the three local databases by the shard map's policy, and everything a namespace
// does (ingest, search in each mode, delete, stats and quotas, backup and restore, a version
// build, the index health check) reads and writes its own database only. Only a namespace's first
// write needs the pool's configuration: after it, its version pointer says where it is.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ShardMapClient } from "../../src/shards/client";
import { databaseBytes } from "../../src/store/d1-size";
import worker from "../../workers/index";
import { api, apiWithEnv, freshNamespace, waitFor, waitIndexed, waitVersionReady } from "../support/index";
import { type SearchBody, searchApi } from "../support/search";

const MEMBERS = ["DB", "DATA_DB_1", "DATA_DB_2"] as const;
type Member = (typeof MEMBERS)[number];
const poolEnv = { ...env, D1_DATA_DATABASES: MEMBERS.join(",") } as unknown as Env;

function member(name: Member): D1Database {
  return (env as unknown as Record<Member, D1Database>)[name];
}

/** Calls the Worker configured with the three-database pool. */
function poolApi<T = Record<string, unknown>>(method: string, path: string, body?: unknown) {
  return apiWithEnv<T>(poolEnv, method, path, body);
}

const DOCS = [
  { id: "a", title: "Marrow", text: "Bone marrow holds the stem cells that make blood." },
  { id: "b", title: "Methylation", text: "DNA methylation silences genes in many cancers." },
  { id: "c", title: "Folding", text: "Proteins fold in the endoplasmic reticulum with chaperones." },
];

/** Creates the namespace through the pool's configuration with DOCS, and waits until indexed. */
async function create(ns: string): Promise<void> {
  const res = await poolApi("POST", `/v1/namespaces/${ns}/documents`, { documents: DOCS });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await waitIndexed(ns, DOCS.length);
}

/** Rows of the namespace in each database: documents, chunks, usage and keyword tables. */
async function rowsByMember(ns: string): Promise<Record<Member, number>> {
  const out = {} as Record<Member, number>;
  for (const name of MEMBERS) {
    const row = await member(name)
      .prepare(
        `SELECT (SELECT COUNT(*) FROM documents WHERE namespace = ?1)
           + (SELECT COUNT(*) FROM chunks WHERE namespace = ?1)
           + (SELECT COUNT(*) FROM namespace_usage WHERE namespace = ?1)
           + (SELECT COUNT(*) FROM keyword_tables WHERE namespace = ?1) AS n`,
      )
      .bind(ns)
      .first<{ n: number }>();
    out[name] = row?.n ?? 0;
  }
  return out;
}

/** The one database holding the namespace's rows (fails when none or several do). */
async function homeOf(ns: string): Promise<Member> {
  const rows = await rowsByMember(ns);
  const homes = MEMBERS.filter((m) => rows[m] > 0);
  expect(homes, `${ns}: ${JSON.stringify(rows)}`).toHaveLength(1);
  return homes[0] as Member;
}

async function search(ns: string, query: string, mode: string): Promise<string[]> {
  const res = await searchApi(ns, { query, mode, topK: 10, cache: "bypass" });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body as SearchBody).results.map((r) => r.id);
}

/** A namespace the policy placed outside DB, with DOCS indexed. */
let outside: Promise<{ ns: string; home: Member }> | null = null;
function namespaceOutsideDb(): Promise<{ ns: string; home: Member }> {
  outside ??= (async () => {
    for (let i = 0; i < 4; i++) {
      const ns = freshNamespace("pool");
      await create(ns);
      const home = await homeOf(ns);
      if (home !== "DB") return { ns, home };
    }
    throw new Error("no namespace was placed outside DB");
  })();
  return outside;
}

describe("pool of data databases", () => {
  it("spreads new namespaces over the three databases, each namespace's rows in one", async () => {
    const before = (await new ShardMapClient(env.SHARD_MAP).status()).databases;
    const names = Array.from({ length: 6 }, () => freshNamespace("spread"));
    for (const ns of names) await create(ns);
    const homes = await Promise.all(names.map(homeOf));
    const status = (await new ShardMapClient(env.SHARD_MAP).status()).databases;
    for (const m of MEMBERS) {
      const added =
        (status.find((u) => u.database === m)?.namespaces ?? 0) -
        (before.find((u) => u.database === m)?.namespaces ?? 0);
      expect(added, m).toBe(homes.filter((h) => h === m).length);
    }
    // Equal sizes (nothing reported yet): by namespace count, so the three take turns.
    const counts = MEMBERS.map((m) => status.find((u) => u.database === m)?.namespaces ?? 0);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    expect(new Set(homes).size).toBe(3);
    const shards = await poolApi<{ databases: { database: string; namespaces: number; inPool: boolean }[] }>(
      "GET",
      "/v1/admin/shards",
    );
    expect(shards.body.databases.map((d) => [d.database, d.namespaces, d.inPool])).toEqual(
      MEMBERS.map((m, i) => [m, counts[i], true]),
    );
  });

  it("ingests, searches in every mode and deletes in the namespace's own database", async () => {
    const { ns, home } = await namespaceOutsideDb();
    for (const mode of ["keyword", "vector", "hybrid"]) {
      await waitFor(`${mode} search of ${ns}`, async () =>
        (await search(ns, "bone marrow stem cells", mode)).includes("a"),
      );
    }
    expect((await api("DELETE", `/v1/namespaces/${ns}/documents/b`)).status).toBe(202);
    await waitIndexed(ns, 2);
    expect(await search(ns, "DNA methylation cancers", "keyword")).not.toContain("b");
    const deleted = await member(home)
      .prepare("SELECT status FROM documents WHERE namespace = ?1 AND id = 'b'")
      .bind(ns)
      .first<{ status: string }>();
    expect(deleted?.status).toBe("deleted");
    expect(await homeOf(ns)).toBe(home);
  });

  it("redacts a namespace placed outside DB by the settings DB keeps", async () => {
    const { ns, home } = await namespaceOutsideDb();
    expect((await poolApi("PUT", `/v1/namespaces/${ns}/redaction`, { email: true })).status).toBe(200);
    const res = await poolApi("PUT", `/v1/namespaces/${ns}/documents/mail`, {
      text: "Send the marrow samples to lab.manager@example.org before noon.",
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await waitFor("the redacted document indexed", async () => {
      const doc = await poolApi<{ status: string }>("GET", `/v1/namespaces/${ns}/documents/mail`);
      return doc.body.status === "indexed";
    });
    const chunk = await member(home)
      .prepare("SELECT text FROM chunks WHERE namespace = ?1 AND doc_id = 'mail'")
      .bind(ns)
      .first<{ text: string }>();
    expect(chunk?.text).toContain("[EMAIL]");
    expect(chunk?.text).not.toContain("lab.manager");
  });

  it("answers stats and quotas from the namespace's database", async () => {
    const { ns } = await namespaceOutsideDb();
    const stats = await api<{ documents: number; quotas: { documents: { used: number } } }>(
      "GET",
      `/v1/namespaces/${ns}`,
    );
    expect(stats.body.documents).toBeGreaterThan(0);
    expect(stats.body.quotas.documents.used).toBe(stats.body.documents);
    const set = await api("PUT", `/v1/namespaces/${ns}/quotas`, { documents: 50 });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const quotas = await api<{ quotas: { documents: { used: number; limit: number } } }>(
      "GET",
      `/v1/namespaces/${ns}/quotas`,
    );
    expect(quotas.body.quotas.documents).toEqual({ used: stats.body.documents, limit: 50 });
    const overrides = await env.DB.prepare("SELECT COUNT(*) AS n FROM namespace_quotas WHERE namespace = ?1")
      .bind(ns)
      .first<{ n: number }>();
    expect(overrides?.n).toBe(0);
  });

  it("backs up and restores a namespace placed outside DB", async () => {
    const source = freshNamespace("pool-backup");
    await create(source);
    const started = await api<{ id: string }>("POST", `/v1/namespaces/${source}/backups`, {});
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const done = await waitFor("the backup", async () => {
      const j = await api<{ state: string }>("GET", `/v1/namespaces/${source}/backups/${started.body.id}`);
      return j.body.state === "running" ? undefined : j.body;
    });
    expect(done.state).toBe("complete");
    const target = freshNamespace("pool-restore");
    // The restore's target is created through the pool's configuration too.
    const restore = await poolApi<{ id: string }>("POST", `/v1/namespaces/${target}/restore`, {
      from: { namespace: source, backupId: started.body.id },
    });
    expect(restore.status, JSON.stringify(restore.body)).toBe(202);
    const restored = await waitFor(
      "the restore",
      async () => {
        const j = await api<{ state: string; error?: string }>(
          "GET",
          `/v1/namespaces/${target}/restore/${restore.body.id}`,
        );
        return j.body.state === "running" ? undefined : j.body;
      },
      60_000,
    );
    expect(restored.state, restored.error ?? "").toBe("complete");
    expect(await search(target, "proteins fold chaperones", "keyword")).toEqual(
      await search(source, "proteins fold chaperones", "keyword"),
    );
    await homeOf(target);
  });

  it("builds and activates a version of a namespace placed outside DB", async () => {
    const { ns, home } = await namespaceOutsideDb();
    const created = await api("POST", `/v1/namespaces/${ns}/versions`, {
      model: "@cf/baai/bge-small-en-v1.5",
      chunking: { maxTokens: 128, overlapTokens: 16 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    await waitVersionReady(ns, "v2");
    const activated = await waitFor("v2 to activate", async () => {
      const res = await api<{ detail?: string }>("POST", `/v1/namespaces/${ns}/versions/v2/activate`, {
        force: true,
      });
      return res.status === 409 && String(res.body.detail).includes("has not applied") ? undefined : res;
    });
    expect(activated.status, JSON.stringify(activated.body)).toBe(200);
    const v2Chunks = await member(home)
      .prepare("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1 AND version = 'v2'")
      .bind(ns)
      .first<{ n: number }>();
    expect(v2Chunks?.n).toBeGreaterThan(0);
    await waitFor("searches from v2", async () => {
      const res = await searchApi(ns, { query: "bone marrow", mode: "hybrid", topK: 5, cache: "bypass" });
      return res.body.version === "v2" && res.body.results.some((r) => r.id === "a");
    });
    expect(await homeOf(ns)).toBe(home);
  });

  it("checks the health of namespaces in every database and reports their sizes", async () => {
    const { ns } = await namespaceOutsideDb();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), poolEnv, ctx);
    await waitOnExecutionContext(ctx);
    const stats = await api<{ health: { state: string; indexedDocuments: number } | null }>(
      "GET",
      `/v1/namespaces/${ns}`,
    );
    expect(stats.body.health).toMatchObject({ state: "ok" });
    expect(stats.body.health?.indexedDocuments).toBeGreaterThan(0);
    const status = await new ShardMapClient(env.SHARD_MAP).status();
    for (const m of MEMBERS) {
      const usage = status.databases.find((u) => u.database === m);
      expect(usage?.reportedAt, m).not.toBeNull();
      expect(usage?.bytes ?? 0, m).toBeGreaterThan(0);
      expect(await databaseBytes(member(m)), m).toBeGreaterThan(0);
    }
  });
});
