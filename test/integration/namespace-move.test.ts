// Moving a namespace to another D1 database of the pool while it is searched and written: every
// search during the move answers (no error) and finds every document, a document written during
// the move is in the new database afterwards, the answers are the same before and after, and the
// old database keeps nothing of the namespace.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DocumentStore } from "../../src/store/documents";
import { DatabasePool, d1Bindings } from "../../src/store/pool";
import { api, freshNamespace, seedDocuments, waitFor, waitIndexed } from "../support/index";
import { type SearchBody, searchApi } from "../support/search";

const TOPICS = [
  "bone marrow stem cells renew blood",
  "DNA methylation silences tumour genes",
  "protein folding needs chaperones",
  "infant mortality falls with vaccination",
  "gut microbiota shapes immunity",
  "telomeres shorten with age",
  "insulin resistance precedes diabetes",
  "neurons prune synapses in adolescence",
  "antibiotics select resistant bacteria",
  "sleep consolidates memory traces",
  "malaria parasites hide in red cells",
  "statins lower cholesterol in blood",
];
// Every document holds the shared word, so one keyword search can find them all.
const DOCS = TOPICS.map((t, i) => ({
  id: `doc-${i}`,
  title: t.split(" ").slice(0, 2).join(" "),
  text: `${t}. shared marker`,
}));
const QUERIES = ["stem cells blood", "methylation genes", "memory sleep", "bacteria antibiotics"];

async function rowsIn(db: D1Database, ns: string): Promise<number> {
  const row = await db
    .prepare(
      `SELECT (SELECT COUNT(*) FROM documents WHERE namespace = ?1) + (SELECT COUNT(*) FROM chunks WHERE namespace = ?1)
         + (SELECT COUNT(*) FROM keyword_tables WHERE namespace = ?1) AS n`,
    )
    .bind(ns)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

async function answers(ns: string): Promise<string[][]> {
  const out: string[][] = [];
  for (const query of QUERIES) {
    for (const mode of ["keyword", "hybrid"]) {
      const res = await searchApi(ns, { query, mode, topK: 5, cache: "bypass" });
      expect(res.status).toBe(200);
      out.push((res.body as SearchBody).results.map((r) => r.id));
    }
  }
  return out;
}

interface MoveJob {
  id: string;
  state: string;
  phase: string;
  from: string;
  to: string;
  error: string | null;
  progress: { copied: number; removed: number };
}

describe("moving a namespace between databases", () => {
  it("keeps every search answering with every document while it moves, and writes reach both sides", async () => {
    const ns = freshNamespace("move");
    expect((await api("POST", `/v1/namespaces/${ns}/documents`, { documents: DOCS })).status).toBe(202);
    await waitIndexed(ns, DOCS.length);
    await waitFor("vectors", async () => {
      const res = await searchApi(ns, { query: "shared marker", mode: "vector", topK: 20, cache: "bypass" });
      return res.body.results.length === DOCS.length;
    });
    const before = await answers(ns);
    expect(await rowsIn(env.DB, ns)).toBeGreaterThan(0);

    const started = await api<MoveJob>("POST", `/v1/admin/namespaces/${ns}/move`, { to: "DATA_DB_1" });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body).toMatchObject({ from: "DB", to: "DATA_DB_1", state: "running" });

    let searches = 0;
    let errors = 0;
    let wrote = false;
    const phases = new Set<string>();
    const job = await waitFor(
      "the move",
      async () => {
        for (const mode of ["keyword", "hybrid"]) {
          const res = await searchApi(ns, { query: "shared marker", mode, topK: 20, cache: "bypass" });
          searches += 1;
          if (res.status !== 200) errors += 1;
          const found = new Set((res.body as SearchBody).results.map((r) => r.id));
          for (const d of DOCS) expect(found.has(d.id), `${mode}: ${d.id} during the move`).toBe(true);
        }
        const j = await api<MoveJob>("GET", `/v1/admin/namespaces/${ns}/move/${started.body.id}`);
        phases.add(j.body.phase);
        if (!wrote && j.body.phase !== "prepare") {
          // Written while the pointer says "moving": it must reach the new database too.
          const put = await api("PUT", `/v1/namespaces/${ns}/documents/late`, {
            title: "Late arrival",
            text: "written while the namespace moves. zebrafish regenerate hearts",
          });
          expect(put.status).toBe(202);
          wrote = true;
        }
        return j.body.state === "running" ? undefined : j.body;
      },
      120_000,
      50,
    );
    expect(job.state, job.error ?? "").toBe("complete");
    expect(errors).toBe(0);
    expect(searches).toBeGreaterThan(4);
    expect(phases.has("copy") || phases.has("verify") || phases.has("settle")).toBe(true);

    await waitIndexed(ns, DOCS.length + 1);
    expect(await rowsIn(env.DB, ns)).toBe(0);
    expect(await rowsIn(env.DATA_DB_1, ns)).toBeGreaterThan(0);
    const late = await env.DATA_DB_1.prepare(
      "SELECT status FROM documents WHERE namespace = ?1 AND id = 'late'",
    )
      .bind(ns)
      .first<{ status: string }>();
    expect(late?.status).toBe("indexed");
    const zebrafish = await searchApi(ns, {
      query: "zebrafish hearts",
      mode: "keyword",
      topK: 5,
      cache: "bypass",
    });
    expect(zebrafish.body.results.map((r) => r.id)).toContain("late");
    expect(await answers(ns)).toEqual(before);
  });

  it("refuses a database outside the pool and the namespace's own database", async () => {
    const ns = freshNamespace("move-bad");
    expect((await api("PUT", `/v1/namespaces/${ns}/documents/a`, { text: "one document" })).status).toBe(202);
    const unknown = await api<{ field?: string }>("POST", `/v1/admin/namespaces/${ns}/move`, {
      to: "DATA_DB_9",
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.field).toBe("body.to");
    expect((await api("POST", `/v1/admin/namespaces/${ns}/move`, { to: "DB" })).status).toBe(409);
    expect((await api("POST", `/v1/admin/namespaces/${ns}/move`, { to: "db" })).status).toBe(400);
  });
});

describe("writes while the pointer says moving", () => {
  it("reach both databases, reads only the namespace's own", async () => {
    const ns = freshNamespace("mirror");
    const pool = new DatabasePool({
      databases: d1Bindings(env, []),
      locate: async () => ({ database: "DB", moving: "DATA_DB_2" }),
    });
    const store = new DocumentStore({ reads: (n) => pool.reads(n), writes: (n) => pool.writes(n) });
    await seedDocuments(store, ns, [{ id: "a", title: "Mirrored", texts: ["written to both databases"] }]);
    for (const db of [env.DB, env.DATA_DB_2]) {
      const row = await db
        .prepare("SELECT status, chunk_count FROM documents WHERE namespace = ?1 AND id = 'a'")
        .bind(ns)
        .first();
      expect(row).toEqual({ status: "indexed", chunk_count: 1 });
    }
    await store.markDeleted(ns, ["a"]);
    for (const db of [env.DB, env.DATA_DB_2]) {
      expect(await rowsIn(db, ns)).toBeGreaterThan(0);
      const chunks = await db
        .prepare("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?1")
        .bind(ns)
        .first();
      expect(chunks).toEqual({ n: 0 });
    }
    expect(await rowsIn(env.DATA_DB_1, ns)).toBe(0);
  });
});
