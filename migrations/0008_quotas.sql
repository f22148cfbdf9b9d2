-- Tenant quotas (src/quotas/): what each namespace holds, the limits an admin set for it, which
-- key created each namespace, and the writes in flight that have been counted but not committed.

-- What each namespace holds, kept by the triggers below in the same transaction as every change
-- to `documents`, so a quota check reads one row instead of counting the namespace. A document
-- counts while its status is not 'deleted' (queued, indexed and failed documents are all stored):
-- one document, its text bytes as stored in R2, and its chunk_count (the vectors it has in each
-- live version).
CREATE TABLE namespace_usage (
  namespace TEXT PRIMARY KEY,
  documents INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  chunks INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT INTO namespace_usage (namespace, documents, bytes, chunks)
  SELECT namespace, COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(chunk_count), 0)
  FROM documents WHERE status != 'deleted' GROUP BY namespace;

CREATE TRIGGER documents_usage_insert AFTER INSERT ON documents WHEN new.status != 'deleted' BEGIN
  INSERT INTO namespace_usage (namespace, documents, bytes, chunks)
    VALUES (new.namespace, 1, new.bytes, new.chunk_count)
    ON CONFLICT (namespace) DO UPDATE SET documents = documents + 1,
      bytes = bytes + excluded.bytes, chunks = chunks + excluded.chunks;
END;

CREATE TRIGGER documents_usage_update AFTER UPDATE OF status, bytes, chunk_count ON documents BEGIN
  INSERT INTO namespace_usage (namespace, documents, bytes, chunks)
    VALUES (
      new.namespace,
      (new.status != 'deleted') - (old.status != 'deleted'),
      (CASE WHEN new.status != 'deleted' THEN new.bytes ELSE 0 END)
        - (CASE WHEN old.status != 'deleted' THEN old.bytes ELSE 0 END),
      (CASE WHEN new.status != 'deleted' THEN new.chunk_count ELSE 0 END)
        - (CASE WHEN old.status != 'deleted' THEN old.chunk_count ELSE 0 END)
    )
    ON CONFLICT (namespace) DO UPDATE SET documents = documents + excluded.documents,
      bytes = bytes + excluded.bytes, chunks = chunks + excluded.chunks;
END;

CREATE TRIGGER documents_usage_delete AFTER DELETE ON documents WHEN old.status != 'deleted' BEGIN
  UPDATE namespace_usage SET documents = documents - 1, bytes = bytes - old.bytes,
    chunks = chunks - old.chunk_count
  WHERE namespace = old.namespace;
END;

-- Limits an admin set for a namespace (PUT /v1/namespaces/{ns}/quotas); NULL: the deployment's
-- default (QUOTA_MAX_*_PER_NAMESPACE).
CREATE TABLE namespace_quotas (
  namespace TEXT PRIMARY KEY,
  max_documents INTEGER,
  max_chunks INTEGER,
  max_bytes INTEGER,
  updated_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The key whose write created each namespace (its first document), claimed by a conditional
-- insert that also checks the key's namespace quota, so concurrent writes cannot overshoot it.
CREATE TABLE namespace_creators (
  namespace TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX namespace_creators_by_key ON namespace_creators (key_id);

-- Documents and bytes a write has been allowed but not yet committed to `documents`: counted
-- with the usage by the next write's check, deleted when the write ends, ignored once expired
-- (a write whose Worker died never releases its own).
CREATE TABLE quota_reservations (
  id TEXT PRIMARY KEY,
  namespace TEXT NOT NULL,
  documents INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX quota_reservations_by_namespace ON quota_reservations (namespace, expires_at);

-- How many namespaces a key may create; NULL: the deployment's default (QUOTA_MAX_NAMESPACES_PER_KEY).
ALTER TABLE api_keys ADD COLUMN max_namespaces INTEGER;
