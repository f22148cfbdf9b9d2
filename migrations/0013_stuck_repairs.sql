-- Repairs of documents stuck in `queued` (src/observe/repair.ts): the scheduled check re-enqueues
-- a document queued past HEALTH_STUCK_QUEUED_SECONDS, at most three times per version, then marks
-- it failed. `repairs` counts the re-enqueues of version `repair_etag` (a newer version starts
-- again at zero); `repaired_at` is the last one (ms since the epoch).
ALTER TABLE documents ADD COLUMN repairs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN repair_etag TEXT;
ALTER TABLE documents ADD COLUMN repaired_at INTEGER;

-- The stuck documents of every namespace, oldest first, without scanning the indexed ones.
CREATE INDEX documents_queued_by_age ON documents (updated_at) WHERE status = 'queued';
