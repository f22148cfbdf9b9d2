-- Retention and erasure (src/erasure/): a namespace's default time to live, set with its quotas
-- (PUT /v1/namespaces/{ns}/quotas), and the erasures by filter (POST
-- /v1/namespaces/{ns}/documents/delete), run a page at a time on the ingest queue.

-- Seconds a document written without expiresAt lives (its expires_at is set at write time);
-- NULL: such documents never expire.
ALTER TABLE namespace_quotas ADD COLUMN default_ttl_seconds INTEGER;

-- Erasures by metadata filter, kept in the control database (DB). `filter` is the validated filter
-- as JSON, NULL for an erasure of every document. `started_at` is the snapshot: the matching
-- documents were marked expired at that time, and the job deletes the matching documents whose
-- expiry is at or before it.
CREATE TABLE erasure_jobs (
  id TEXT PRIMARY KEY,
  namespace TEXT NOT NULL,
  filter TEXT,
  state TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed')),
  step INTEGER NOT NULL DEFAULT 0,
  matched INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  started_at INTEGER NOT NULL,
  error TEXT,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX erasure_jobs_namespace ON erasure_jobs (namespace, started_at);
