-- Personal data redaction at ingest (src/redaction/): which kinds of personal data each namespace
-- has replaced by a token before its documents are chunked, embedded and stored. Read from the
-- control database (DB); no row: nothing is redacted.
CREATE TABLE namespace_redaction (
  namespace TEXT PRIMARY KEY,
  email INTEGER NOT NULL DEFAULT 0,
  phone INTEGER NOT NULL DEFAULT 0,
  card INTEGER NOT NULL DEFAULT 0,
  iban INTEGER NOT NULL DEFAULT 0,
  ip INTEGER NOT NULL DEFAULT 0,
  updated_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- How many of each kind the indexed text of a document had replaced (JSON, e.g. {"email":2});
-- NULL when nothing was.
ALTER TABLE documents ADD COLUMN redactions TEXT;
