-- Retention: a namespace's default time to live, set with its quotas (PUT /v1/namespaces/{ns}/quotas).

-- Seconds a document written without expiresAt lives (its expires_at is set at write time);
-- NULL: such documents never expire.
ALTER TABLE namespace_quotas ADD COLUMN default_ttl_seconds INTEGER;
