// Backup and restore end to end through the API: a namespace backed up and restored into another
// answers every search exactly as the original does; restores refuse non-empty namespaces,
// damaged backups and keys without admin on both namespaces.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import corpusText from "../fixtures/scifact/corpus.jsonl?raw";
import { api, freshNamespace, waitFor } from "../helpers";

interface Doc {
  id: string;
  title: string;
  text: string;
}

interface SearchBody {
  results: { id: string; chunkId: string; score: number }[];
}

interface Manifest {
  namespace: string;
  backupId: string;
  version: { id: string; model: string; dimensions: number };
  counts: { documents: number; chunks: number; vectors: number };
  files: { kind: string; name: string; sha256: string; lines: number; bytes: number }[];
}

const corpus: Doc[] = corpusText
  .split("\n")
  .filter((l) => l.trim() !== "")
  .slice(0, 20)
  .map((l) => {
    const d = JSON.parse(l) as { _id: string; title: string; text: string };
    return { id: d._id, title: d.title, text: d.text };
  });

const QUERIES = [
  "bone marrow stem cells",
  "DNA methylation and cancer",
  "infant mortality in developing countries",
  "protein folding in the endoplasmic reticulum",
];
const MODES = ["keyword", "vector", "hybrid"] as const;

async function ingest(ns: string, docs: Doc[]): Promise<void> {
  const res = await api("POST", `/v1/namespaces/${ns}/documents`, {
    documents: docs.map((d, i) => ({
      ...d,
      metadata: { year: 2000 + i, category: i % 2 === 0 ? "even" : "odd" },
    })),
  });
  expect(res.status).toBe(202);
  await waitFor(`${docs.length} documents indexed in ${ns}`, async () => {
    const stats = await api<{ documents: number; pending: number }>("GET", `/v1/namespaces/${ns}`);
    return stats.body.documents === docs.length && stats.body.pending === 0;
  });
}

async function search(ns: string, query: string, mode: string): Promise<SearchBody["results"]> {
  const res = await api<SearchBody>("POST", `/v1/namespaces/${ns}/search`, {
    query,
    mode,
    topK: 10,
    includeText: false,
    cache: "bypass",
  });
  expect(res.status).toBe(200);
  return res.body.results;
}

async function backup(ns: string): Promise<Manifest> {
  // Vector writes are applied asynchronously: until the last ones are readable a backup is refused
  // as unavailable (503, retry), never written without them.
  const res = await waitFor(`a backup of ${ns}`, async () => {
    const r = await api<{ backupId: string; manifest: Manifest }>("POST", `/v1/namespaces/${ns}/backups`, {});
    if (r.status === 503) return undefined;
    return r;
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.manifest.backupId).toBe(res.body.backupId);
  return res.body.manifest;
}

async function targetIsEmpty(ns: string): Promise<void> {
  const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM documents WHERE namespace = ?")
    .bind(ns)
    .first<{ n: number }>();
  expect(rows?.n).toBe(0);
  const chunks = await env.DB.prepare("SELECT COUNT(*) AS n FROM chunks WHERE namespace = ?")
    .bind(ns)
    .first<{ n: number }>();
  expect(chunks?.n).toBe(0);
  expect((await env.DOCUMENTS.list({ prefix: `${ns}/` })).objects).toHaveLength(0);
  for (const mode of MODES) expect(await search(ns, QUERIES[0] ?? "", mode)).toEqual([]);
}

describe("backup and restore", () => {
  const source = freshNamespace("bk-src");
  let manifest: Manifest;

  beforeAll(async () => {
    await ingest(source, corpus);
    manifest = await backup(source);
  });

  it("writes a manifest and NDJSON parts whose hashes and line counts match", async () => {
    expect(manifest.namespace).toBe(source);
    expect(manifest.version.id).toBe("v1");
    expect(manifest.counts.documents).toBe(corpus.length);
    expect(manifest.counts.vectors).toBe(manifest.counts.chunks);
    expect(manifest.counts.chunks).toBeGreaterThanOrEqual(corpus.length);
    expect(new Set(manifest.files.map((f) => f.kind))).toEqual(new Set(["documents", "chunks", "vectors"]));
    for (const file of manifest.files) {
      const object = await env.DOCUMENTS.get(`_backups/${source}/${manifest.backupId}/${file.name}`);
      const text = (await object?.text()) ?? "";
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
      const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
      expect(hex, file.name).toBe(file.sha256);
      expect(text.split("\n").filter((l) => l !== "")).toHaveLength(file.lines);
    }
    expect(await env.DOCUMENTS.head(`_backups/${source}/${manifest.backupId}/manifest.json`)).not.toBeNull();

    const list = await api<{ backups: { backupId: string; documents: number | null }[] }>(
      "GET",
      `/v1/namespaces/${source}/backups`,
    );
    expect(list.status).toBe(200);
    expect(list.body.backups).toContainEqual(
      expect.objectContaining({ backupId: manifest.backupId, documents: corpus.length }),
    );
  });

  it("restores into a fresh namespace that then answers every search as the original does", async () => {
    const target = freshNamespace("bk-dst");
    const res = await api("POST", `/v1/namespaces/${target}/restore`, {
      from: { namespace: source, backupId: manifest.backupId },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      documents: corpus.length,
      chunks: manifest.counts.chunks,
      vectors: manifest.counts.chunks,
    });

    const stats = await api<{ documents: number; chunks: number; pending: number }>(
      "GET",
      `/v1/namespaces/${target}`,
    );
    expect(stats.body).toMatchObject({
      documents: corpus.length,
      chunks: manifest.counts.chunks,
      pending: 0,
    });
    const doc = await api("GET", `/v1/namespaces/${target}/documents/${corpus[3]?.id}`);
    expect(doc.body).toMatchObject({ status: "indexed", title: corpus[3]?.title, version: "v1" });

    // The restored vectors become searchable once the index has applied their write.
    const probe = QUERIES[0] ?? "";
    const expected = (await search(source, probe, "vector")).length;
    await waitFor("restored vectors to be searchable", async () => {
      return (await search(target, probe, "vector")).length === expected;
    });

    let compared = 0;
    for (const query of QUERIES) {
      for (const mode of MODES) {
        const [want, got] = await Promise.all([search(source, query, mode), search(target, query, mode)]);
        expect(want.length, `${mode} "${query}"`).toBeGreaterThan(0);
        expect(
          got.map((r) => r.id),
          `${mode} "${query}"`,
        ).toEqual(want.map((r) => r.id));
        got.forEach((r, i) => {
          expect(Math.abs(r.score - (want[i]?.score ?? Number.NaN)), `${mode} "${query}" #${i}`).toBeLessThan(
            1e-6,
          );
        });
        // Chunk ids are the target's own (they hash the namespace), never the source's.
        for (const r of got) expect(want.map((w) => w.chunkId)).not.toContain(r.chunkId);
        compared += 1;
      }
    }
    expect(compared).toBe(QUERIES.length * MODES.length);

    // Filters see the restored metadata.
    const filtered = await api<SearchBody>("POST", `/v1/namespaces/${target}/search`, {
      query: QUERIES[0],
      mode: "hybrid",
      filter: { category: "even" },
      cache: "bypass",
    });
    expect(filtered.status).toBe(200);
    expect(filtered.body.results.length).toBeGreaterThan(0);
    const evens = new Set(corpus.filter((_, i) => i % 2 === 0).map((d) => d.id));
    for (const r of filtered.body.results) expect(evens.has(r.id)).toBe(true);
  });

  it("refuses a namespace that holds documents with 409 and changes nothing", async () => {
    const target = freshNamespace("bk-full");
    await ingest(target, corpus.slice(0, 1));
    const res = await api<{ status: number; detail: string }>("POST", `/v1/namespaces/${target}/restore`, {
      from: { namespace: source, backupId: manifest.backupId },
    });
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/empty/);
    const stats = await api<{ documents: number }>("GET", `/v1/namespaces/${target}`);
    expect(stats.body.documents).toBe(1);
  });

  it("refuses an unknown backup with 404", async () => {
    const res = await api("POST", `/v1/namespaces/${freshNamespace("bk-none")}/restore`, {
      from: { namespace: source, backupId: "20200101T000000Z-00000000" },
    });
    expect(res.status).toBe(404);
  });

  it("refuses a tampered part with a 422 problem and writes nothing", async () => {
    const damaged = await backup(source);
    const part = damaged.files.find((f) => f.kind === "vectors");
    if (!part) throw new Error("no vectors part");
    const key = `_backups/${source}/${damaged.backupId}/${part.name}`;
    const text = (await (await env.DOCUMENTS.get(key))?.text()) ?? "";
    // Still valid NDJSON with the same values: only the hash can tell.
    await env.DOCUMENTS.put(key, text.replace(/\n$/, " \n"));
    expect(await (await env.DOCUMENTS.get(key))?.text()).not.toBe(text);

    const target = freshNamespace("bk-tamper");
    const res = await api<{ status: number; detail: string }>("POST", `/v1/namespaces/${target}/restore`, {
      from: { namespace: source, backupId: damaged.backupId },
    });
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.body.detail).toContain(part.name);
    await targetIsEmpty(target);
  });

  it("needs admin on the target and on the backup's namespace", async () => {
    const target = freshNamespace("bk-auth");
    const created = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "backup writer",
      namespaces: [source, target],
      roles: ["write", "search"],
    });
    expect(created.status).toBe(201);
    const writer = { authorization: `Bearer ${created.body.key}` };
    const from = { namespace: source, backupId: manifest.backupId };
    expect((await api("POST", `/v1/namespaces/${source}/backups`, {}, writer)).status).toBe(403);
    expect((await api("GET", `/v1/namespaces/${source}/backups`, undefined, writer)).status).toBe(403);
    expect((await api("POST", `/v1/namespaces/${target}/restore`, { from }, writer)).status).toBe(403);

    // Admin on the target only: the backup's namespace is out of reach.
    const targetAdmin = await api<{ key: string }>("POST", "/v1/admin/keys", {
      name: "target admin",
      namespaces: [target],
      roles: ["admin"],
    });
    expect(targetAdmin.status).toBe(201);
    const res = await api(
      "POST",
      `/v1/namespaces/${target}/restore`,
      { from },
      {
        authorization: `Bearer ${targetAdmin.body.key}`,
      },
    );
    expect(res.status).toBe(403);
    await targetIsEmpty(target);
  });
});
