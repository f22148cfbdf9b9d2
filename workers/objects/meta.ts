// The key/value `meta` table a Durable Object keeps beside its own tables in SQLite storage
// (created by the object: CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)).

export function readMeta(sql: SqlStorage, key: string): string | null {
  const rows = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray();
  return rows[0]?.value ?? null;
}

export function writeMeta(sql: SqlStorage, key: string, value: string): void {
  sql.exec(
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    key,
    value,
  );
}
