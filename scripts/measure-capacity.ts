#!/usr/bin/env node
// `node scripts/measure-capacity.ts --db FILE [--since SNAPSHOT] [--save SNAPSHOT]`: the bytes a
// D1 database file spends on document rows, chunk rows, the FTS5 keyword tables and the indexes,
// from SQLite's dbstat (pages actually used, as D1 bills them), with the documents and chunks it
// holds. With --since, the growth since an earlier snapshot: ingest one corpus between two runs
// to get its bytes per document and per chunk (docs/capacity.md).
import { readFile, writeFile } from "node:fs/promises";
import { DatabaseSync } from "node:sqlite";
import { fixed, formatTable, isEntryPoint, parseCommandLine, run, UsageError } from "./lib/args.ts";

const USAGE = `Usage: node scripts/measure-capacity.ts --db FILE [--since SNAPSHOT] [--save SNAPSHOT]

FILE is a local D1 database: .wrangler/state/v3/d1/miniflare-D1DatabaseObject/<hash>.sqlite, or
the same under the --persist-to directory \`npm run dev\` was given.

Options:
  --db FILE          the SQLite file to measure (read only)
  --since SNAPSHOT   report the growth since this snapshot (written by --save)
  --save SNAPSHOT    write this measurement as a snapshot
  -h, --help         show this help`;

export const PARTS = [
  "documents",
  "document indexes",
  "chunks",
  "chunk indexes",
  "keyword tables",
  "other",
] as const;
export type Part = (typeof PARTS)[number];
export type Snapshot = { bytes: Record<Part, number>; documents: number; chunks: number; fileBytes: number };

/**
 * Which part of the schema a table or index (a dbstat name) belongs to. Keyword tables are the
 * per-namespace FTS5 tables kw_<hash> and their shadow tables (src/store/keyword.ts).
 */
export function partOf(name: string, table: string): Part {
  if (/^kw_/.test(table)) return "keyword tables";
  if (table === "documents") return name === "documents" ? "documents" : "document indexes";
  if (table === "chunks") return name === "chunks" ? "chunks" : "chunk indexes";
  return "other";
}

export function measure(file: string): Snapshot {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const bytes = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
    const rows = db
      .prepare(
        `SELECT s.name AS name, coalesce(m.tbl_name, s.name) AS tbl, sum(s.pgsize) AS bytes
         FROM dbstat s LEFT JOIN sqlite_schema m ON m.name = s.name GROUP BY s.name`,
      )
      .all() as { name: string; tbl: string; bytes: number }[];
    for (const r of rows) bytes[partOf(r.name, r.tbl)] += r.bytes;
    const count = (sql: string) => Number((db.prepare(sql).get() as { n: number }).n);
    const pageBytes = count("SELECT page_size * page_count AS n FROM pragma_page_size, pragma_page_count");
    return {
      bytes,
      documents: count("SELECT count(*) AS n FROM documents WHERE status = 'indexed'"),
      chunks: count("SELECT count(*) AS n FROM chunks"),
      fileBytes: pageBytes,
    };
  } finally {
    db.close();
  }
}

/** `after` minus `before`, part by part. */
export function growth(after: Snapshot, before: Snapshot): Snapshot {
  return {
    bytes: Object.fromEntries(PARTS.map((p) => [p, after.bytes[p] - before.bytes[p]])) as Record<
      Part,
      number
    >,
    documents: after.documents - before.documents,
    chunks: after.chunks - before.chunks,
    fileBytes: after.fileBytes - before.fileBytes,
  };
}

export function report(s: Snapshot): string {
  const per = (n: number, d: number) => (d > 0 ? fixed(n / d, 0) : "-");
  const rows = PARTS.map((p) => [
    p,
    String(s.bytes[p]),
    per(s.bytes[p], s.documents),
    per(s.bytes[p], s.chunks),
  ]);
  const total = PARTS.reduce((sum, p) => sum + s.bytes[p], 0);
  rows.push(["total", String(total), per(total, s.documents), per(total, s.chunks)]);
  return [
    `${s.documents} indexed documents, ${s.chunks} chunks (${fixed(s.documents > 0 ? s.chunks / s.documents : 0, 2)} per document); file ${s.fileBytes} bytes`,
    formatTable(["part", "bytes", "per document", "per chunk"], rows),
  ].join("\n");
}

export async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    db: { type: "string" },
    since: { type: "string" },
    save: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (typeof values.db !== "string") throw new UsageError("--db FILE is required");
  const now = measure(values.db);
  if (typeof values.save === "string") await writeFile(values.save, JSON.stringify(now));
  const shown =
    typeof values.since === "string"
      ? growth(now, JSON.parse(await readFile(values.since, "utf8")) as Snapshot)
      : now;
  console.log(report(shown));
  return 0;
}

if (isEntryPoint(import.meta.url)) process.exitCode = await run(main, USAGE);
