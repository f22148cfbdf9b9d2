// `scripts/measure-capacity.ts`: which part of the schema each table and index of a D1 file is
// counted in, and the growth between two snapshots that docs/capacity.md is built from.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { growth, measure, partOf } from "../../scripts/measure-capacity.ts";

describe("measuring a D1 database file", () => {
  it("counts each table, index and keyword shadow table in its part of the schema", () => {
    expect(partOf("documents", "documents")).toBe("documents");
    expect(partOf("documents_by_status", "documents")).toBe("document indexes");
    expect(partOf("chunks", "chunks")).toBe("chunks");
    expect(partOf("sqlite_autoindex_chunks_1", "chunks")).toBe("chunk indexes");
    expect(
      partOf("kw_6fc460a58ee3c5ce685ff5fdf4baa04f_data", "kw_6fc460a58ee3c5ce685ff5fdf4baa04f_data"),
    ).toBe("keyword tables");
    expect(partOf("local_metrics", "local_metrics")).toBe("other");
  });

  it("reports the pages each part uses, the indexed documents and the chunks, and their growth", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "capacity-")), "d1.sqlite");
    const db = new DatabaseSync(file);
    db.exec(`CREATE TABLE documents (namespace TEXT, id TEXT, status TEXT, PRIMARY KEY (namespace, id)) WITHOUT ROWID;
      CREATE INDEX documents_by_status ON documents (namespace, status);
      CREATE TABLE chunks (rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE, text TEXT);
      CREATE VIRTUAL TABLE kw_abc USING fts5 (text, content = 'chunks', content_rowid = 'rowid');`);
    const before = measure(file);
    const text = "the quick brown fox jumps over the lazy dog ".repeat(50);
    db.exec("BEGIN");
    for (let i = 0; i < 200; i++) {
      db.prepare("INSERT INTO documents VALUES ('ns', ?, ?)").run(`d${i}`, i < 150 ? "indexed" : "queued");
      db.prepare("INSERT INTO chunks (rowid, chunk_id, text) VALUES (?, ?, ?)").run(i + 1, `c${i}`, text);
      db.prepare("INSERT INTO kw_abc (rowid, text) VALUES (?, ?)").run(i + 1, text);
    }
    db.exec("COMMIT");
    db.close();
    const after = measure(file);
    const grown = growth(after, before);
    expect(grown.documents).toBe(150);
    expect(grown.chunks).toBe(200);
    // 200 chunks of 2,200 bytes take at least 440,000 bytes of chunk pages.
    expect(grown.bytes.chunks).toBeGreaterThanOrEqual(440_000);
    expect(grown.bytes["keyword tables"]).toBeGreaterThan(0);
    // The unique chunk_id index is a part of its own (its 200 short keys fit the page it had).
    expect(after.bytes["chunk indexes"]).toBeGreaterThan(0);
    expect(grown.bytes.other).toBe(0);
    expect(Object.values(after.bytes).reduce((a, b) => a + b, 0)).toBe(after.fileBytes);
  });
});
