-- Ingest fairness (src/ingest/fairness.ts): what each namespace's documents cost the ingest
-- consumer in fixed windows, shared by every consumer invocation. A namespace over its share of
-- the recent cost, in a batch that also holds another namespace's documents, has its messages
-- sent back to the queue with a delay instead of being processed.
CREATE TABLE ingest_ledger (
  namespace TEXT NOT NULL,
  -- Start of the window (ms since the epoch, a multiple of the window length).
  window_start INTEGER NOT NULL,
  -- Cost of the documents admitted in the window: their bytes plus a per-document overhead.
  cost INTEGER NOT NULL DEFAULT 0,
  documents INTEGER NOT NULL DEFAULT 0,
  -- Messages sent back to the queue in the window.
  deferred INTEGER NOT NULL DEFAULT 0,
  -- When a batch last held one of the namespace's documents (ms since the epoch).
  last_seen INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (namespace, window_start)
) WITHOUT ROWID;

CREATE INDEX ingest_ledger_by_window ON ingest_ledger (window_start);
