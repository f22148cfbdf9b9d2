-- Document expiry: `expires_at` (epoch ms, NULL = never) is set from a write's expiresAt. Search
-- drops a document whose time has come at once; the scheduled purge deletes it as a DELETE does.
ALTER TABLE documents ADD COLUMN expires_at INTEGER;

-- What the purge scans, oldest expiry first, across namespaces: only the rows that can expire.
CREATE INDEX documents_by_expiry ON documents (expires_at) WHERE expires_at IS NOT NULL AND status != 'deleted';
