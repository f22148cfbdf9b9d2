-- Moves of a namespace's rows to another database of the pool (POST /v1/admin/namespaces/{ns}/move),
-- run a step at a time on the ingest queue (src/moves/). Kept in the control database (DB).
CREATE TABLE move_jobs (
  id TEXT PRIMARY KEY,
  namespace TEXT NOT NULL,
  source TEXT NOT NULL,
  target TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed')),
  phase TEXT NOT NULL,
  step INTEGER NOT NULL DEFAULT 0,
  cursor TEXT NOT NULL DEFAULT '',
  copied INTEGER NOT NULL DEFAULT 0,
  repaired INTEGER NOT NULL DEFAULT 0,
  removed INTEGER NOT NULL DEFAULT 0,
  wait_until INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX move_jobs_namespace ON move_jobs (namespace, created_at);
