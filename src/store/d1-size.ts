// A D1 database's size, as D1 itself reports it. `PRAGMA page_count` and `page_size` are not
// among the PRAGMA statements D1 supports (https://developers.cloudflare.com/d1/sql-api/sql-statements/,
// "Compatible PRAGMA statements"; locally, workerd's SQLite refuses both: "not authorized"), but
// every D1 result carries `meta.size_after`, "the size of the database after the query
// committed, in bytes" (https://developers.cloudflare.com/d1/worker-api/return-object/), so one
// trivial query measures it.
import { d1 } from "./d1";

export async function databaseBytes(db: D1Database): Promise<number> {
  const result = await d1("measure database size", () => db.prepare("SELECT 1 AS one").run());
  const size = (result.meta as { size_after?: unknown }).size_after;
  return typeof size === "number" && Number.isFinite(size) && size >= 0 ? size : 0;
}
