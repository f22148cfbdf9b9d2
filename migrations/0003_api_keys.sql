-- API keys. Only a SHA-256 hash of each key's secret is stored; the key itself is shown once.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  -- JSON arrays: namespace patterns ("docs", "acme-*", "*") and roles ("search", "write", "admin").
  namespaces TEXT NOT NULL,
  roles TEXT NOT NULL,
  rate_limit TEXT NOT NULL DEFAULT 'standard',
  created_by TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER
) WITHOUT ROWID;
