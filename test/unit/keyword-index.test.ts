// The per-namespace keyword index against real D1 FTS5: tenants' BM25 statistics are their own,
// writes and deletes keep the index in step with the chunk rows, namespaces indexed before
// per-namespace tables get theirs on first use, and metadata filters run inside the query.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DocumentStore } from "../../src/store/documents";
import { keywordSearch, keywordTable, TOKENIZE } from "../../src/store/keyword";
import type { Metadata } from "../../src/validation";

const store = new DocumentStore(env.DB);
let counter = 0;
const freshNs = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}`;

interface Doc {
  id: string;
  title?: string;
  texts: string[];
  metadata?: Metadata;
}

/** Writes documents the way the ingest consumer does: queued at an eTag, then committed. */
async function put(namespace: string, docs: Doc[], etag = "e1"): Promise<void> {
  await store.upsertQueued(
    namespace,
    docs.map((d) => ({
      id: d.id,
      title: d.title ?? null,
      contentType: "text/plain",
      metadata: d.metadata ?? {},
      bytes: 1,
      etag,
    })),
  );
  for (const d of docs) {
    const committed = await store.commitIndexed(namespace, d.id, etag, {
      title: d.title ?? null,
      versions: [
        {
          version: "v1",
          chunks: d.texts.map((text, index) => ({
            chunkId: `${namespace}/${d.id}-${index}`,
            index,
            title: d.title ?? null,
            headings: [],
            text,
            tokens: 10,
          })),
        },
      ],
    });
    expect(committed).toBe(true);
  }
}

async function tableExists(name: string): Promise<boolean> {
  const row = await env.DB.prepare("SELECT 1 AS one FROM sqlite_schema WHERE type = 'table' AND name = ?1")
    .bind(name)
    .first();
  return row !== null;
}

const OTTERS: Doc[] = [
  { id: "otters", title: "Sea otters", texts: ["Sea otters float on their backs and crack shellfish open."] },
  { id: "kelp", title: "Kelp forests", texts: ["Kelp forests shelter fish, urchins and otters."] },
  { id: "rivers", title: "Rivers", texts: ["Rivers carry sediment from the mountains to the sea."] },
];

describe("keyword index per namespace", () => {
  it("keeps a namespace's BM25 scores unchanged whatever another namespace holds", async () => {
    const a = freshNs("kw-a");
    const b = freshNs("kw-b");
    await put(a, OTTERS);
    const before = await keywordSearch(env.DB, a, "sea otters shellfish", 10);
    expect(before[0]?.chunkId).toBe(`${a}/otters-0`);
    expect(before).toHaveLength(3);

    // Many documents full of the query's words: in a shared index they would lower the words'
    // IDF and raise the average length, and every score in `a` would move.
    await put(
      b,
      Array.from({ length: 30 }, (_, i) => ({
        id: `noise-${i}`,
        title: "Otters at sea",
        texts: [`sea otters sea otters shellfish ${"long text about the sea ".repeat(i)}`],
      })),
    );
    const after = await keywordSearch(env.DB, a, "sea otters shellfish", 10);
    expect(after).toEqual(before);
    expect(await keywordTable(a)).not.toBe(await keywordTable(b));

    // The same kind of write inside the namespace does move its scores: the check above can fail.
    await put(a, [{ id: "more", title: "Otters at sea", texts: ["sea otters sea otters shellfish"] }]);
    const own = await keywordSearch(env.DB, a, "sea otters shellfish", 10);
    const otterScore = (hits: typeof own) => hits.find((h) => h.chunkId === `${a}/otters-0`)?.score;
    expect(otterScore(own)).not.toBe(otterScore(before));
  });

  it("never returns another namespace's chunks", async () => {
    const a = freshNs("kw-a");
    const b = freshNs("kw-b");
    await put(a, OTTERS);
    await put(b, [{ id: "b-otters", texts: ["otters otters otters"] }]);
    const hits = await keywordSearch(env.DB, a, "otters", 10);
    expect(hits.map((h) => h.chunkId).sort()).toEqual([`${a}/kelp-0`, `${a}/otters-0`]);
  });

  it("replaces a document's index rows on update and removes them on delete", async () => {
    const ns = freshNs("kw-upd");
    await put(ns, OTTERS);
    await put(
      ns,
      [{ id: "otters", title: "Glaciers", texts: ["Glaciers carve valleys.", "Ice moves slowly."] }],
      "e2",
    );
    expect(await keywordSearch(env.DB, ns, "shellfish", 10)).toEqual([]);
    expect((await keywordSearch(env.DB, ns, "glaciers ice", 10)).map((h) => h.chunkId).sort()).toEqual([
      `${ns}/otters-0`,
      `${ns}/otters-1`,
    ]);
    const table = await keywordTable(ns);
    const indexed = async () =>
      (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table}_docsize`).first<{ n: number }>())?.n;
    expect(await indexed()).toBe(4);

    await store.markDeleted(ns, ["otters", "kelp"]);
    expect(await keywordSearch(env.DB, ns, "glaciers ice otters kelp", 10)).toEqual([]);
    expect((await keywordSearch(env.DB, ns, "rivers", 10)).map((h) => h.chunkId)).toEqual([`${ns}/rivers-0`]);
    expect(await indexed()).toBe(1);
  });

  it("leaves the index alone when a stale write loses to a newer version", async () => {
    const ns = freshNs("kw-stale");
    await put(ns, OTTERS);
    const stale = await store.commitIndexed(ns, "otters", "old-etag", {
      title: null,
      versions: [
        {
          version: "v1",
          chunks: [
            { chunkId: `${ns}/otters-0`, index: 0, title: null, headings: [], text: "volcano", tokens: 1 },
          ],
        },
      ],
    });
    expect(stale).toBe(false);
    expect(await keywordSearch(env.DB, ns, "volcano", 10)).toEqual([]);
    expect((await keywordSearch(env.DB, ns, "shellfish", 10)).map((h) => h.chunkId)).toEqual([
      `${ns}/otters-0`,
    ]);
  });

  it("builds the index of a namespace whose chunks predate it, and none for unknown namespaces", async () => {
    const ns = freshNs("kw-old");
    // Chunk rows written before per-namespace tables existed: no keyword rows anywhere.
    await env.DB.prepare(
      `INSERT INTO chunks (chunk_id, namespace, doc_id, idx, title, text, tokens)
       VALUES (?1, ?2, 'd', 0, 'Otters', 'Sea otters float on their backs.', 8)`,
    )
      .bind(`${ns}-c0`, ns)
      .run();
    const table = await keywordTable(ns);
    expect(await tableExists(table)).toBe(false);
    expect((await keywordSearch(env.DB, ns, "floating otter", 10)).map((h) => h.chunkId)).toEqual([
      `${ns}-c0`,
    ]);
    expect(await tableExists(table)).toBe(true);

    const unknown = freshNs("kw-none");
    expect(await keywordSearch(env.DB, unknown, "otters", 10)).toEqual([]);
    expect(await tableExists(await keywordTable(unknown))).toBe(false);
  });

  it("answers prefix queries from tables made before prefix search, and expands 3 letters or more", async () => {
    const fresh = freshNs("kw-prefix-new");
    await put(fresh, OTTERS);
    // A namespace whose table was created by the statement that made them before prefix search.
    const old = freshNs("kw-prefix-old");
    const table = await keywordTable(old);
    await env.DB.prepare(
      `CREATE VIRTUAL TABLE ${table} USING fts5 (title, text, content = 'chunks',
         content_rowid = 'rowid', tokenize = '${TOKENIZE}')`,
    ).run();
    await put(old, OTTERS);
    const prefixed = (ns: string, q: string) =>
      keywordSearch(env.DB, ns, q, 10, undefined, "v1", 0, { prefix: true });
    for (const ns of [fresh, old]) {
      expect((await prefixed(ns, "shellf")).map((h) => h.chunkId)).toEqual([`${ns}/otters-0`]);
      expect(await keywordSearch(env.DB, ns, "shellf", 10)).toEqual([]);
      expect((await prefixed(ns, "kel")).map((h) => h.chunkId)).toEqual([`${ns}/kelp-0`]);
      // Shorter than MIN_PREFIX_CHARS: a whole word, which no document holds.
      expect(await prefixed(ns, "ke")).toEqual([]);
      expect(await prefixed(ns, "k")).toEqual([]);
    }
  });

  it("applies a metadata filter before the limit, not after", async () => {
    const ns = freshNs("kw-filter");
    // Twenty strong matches tagged "popular", five weak ones tagged "rare".
    await put(ns, [
      ...Array.from({ length: 20 }, (_, i) => ({
        id: `strong-${i}`,
        texts: ["comets comets comets"],
        metadata: { category: "popular", year: 2000 + i },
      })),
      ...Array.from({ length: 5 }, (_, i) => ({
        id: `weak-${i}`,
        texts: [`a note that mentions comets once among many other words ${i}`],
        metadata: { category: "rare", year: 1990 + i },
      })),
    ]);
    const rare = await keywordSearch(env.DB, ns, "comets", 5, { category: "rare" });
    expect(rare.map((h) => h.chunkId).sort()).toEqual(
      Array.from({ length: 5 }, (_, i) => `${ns}/weak-${i}-0`).sort(),
    );
    const recent = await keywordSearch(env.DB, ns, "comets", 50, {
      category: { $in: ["popular", "rare"] },
      year: { $gte: 2015, $lt: 2018 },
    });
    expect(recent.map((h) => h.chunkId).sort()).toEqual([
      `${ns}/strong-15-0`,
      `${ns}/strong-16-0`,
      `${ns}/strong-17-0`,
    ]);
  });
});
