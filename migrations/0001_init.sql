-- Documents, chunks and their keyword index, per namespace.

-- One row per document ever written to a namespace. `etag` is the R2 object version the API
-- last accepted; `indexed_etag` the version whose chunks are live. `chunk_count` is how many
-- vectors (ids <hash>-0 .. <hash>-(n-1)) exist in the index for the document, kept until the
-- consumer has deleted them, so deletes and shrinking updates know which vectors to remove.
CREATE TABLE documents (
  namespace TEXT NOT NULL,
  id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'indexed', 'failed', 'deleted')),
  title TEXT,
  content_type TEXT NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}',
  bytes INTEGER NOT NULL DEFAULT 0,
  etag TEXT,
  indexed_etag TEXT,
  version TEXT,
  chunk_count INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  indexed_at INTEGER,
  PRIMARY KEY (namespace, id)
) WITHOUT ROWID;

CREATE INDEX documents_by_status ON documents (namespace, status);

-- Live chunks. `rowid` doubles as the keyword index's rowid.
CREATE TABLE chunks (
  rowid INTEGER PRIMARY KEY,
  chunk_id TEXT NOT NULL UNIQUE,
  namespace TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  title TEXT,
  headings TEXT NOT NULL DEFAULT '[]',
  text TEXT NOT NULL,
  tokens INTEGER NOT NULL
);

CREATE INDEX chunks_by_document ON chunks (namespace, doc_id, idx);

-- Keyword index over chunk titles and text (BM25 through bm25()). External content: the
-- triggers keep it in the same transaction as the chunk rows.
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
  title,
  text,
  content = 'chunks',
  content_rowid = 'rowid',
  tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;

CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);
END;

CREATE TRIGGER chunks_fts_update AFTER UPDATE ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);
  INSERT INTO chunks_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;

-- Per-namespace write generation: bumped by every indexed write or delete, part of every
-- result-cache key so a write is never followed by a stale cached answer.
CREATE TABLE namespaces (
  name TEXT PRIMARY KEY,
  generation INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Messages that exhausted their retries, with the reason, for inspection and replay.
CREATE TABLE dead_letters (
  id INTEGER PRIMARY KEY,
  message_id TEXT NOT NULL UNIQUE,
  namespace TEXT,
  doc_id TEXT,
  body TEXT NOT NULL,
  error TEXT,
  attempts INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  replayed_at INTEGER
);
