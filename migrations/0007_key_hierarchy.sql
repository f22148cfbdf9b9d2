-- Keys form a tree through created_by (the creating key's id; "admin-secret" for the bootstrap
-- key, which has no row). Revoking a key revokes its descendants, found by walking this index.
CREATE INDEX IF NOT EXISTS api_keys_by_creator ON api_keys (created_by);

-- Keys created from a key revoked before revocation cascaded: revoked when their ancestor was.
WITH RECURSIVE tree(id, revoked_at) AS (
  SELECT id, revoked_at FROM api_keys WHERE revoked_at IS NOT NULL
  UNION
  SELECT k.id, t.revoked_at FROM api_keys k JOIN tree t ON k.created_by = t.id
)
UPDATE api_keys
SET revoked_at = (SELECT MIN(tree.revoked_at) FROM tree WHERE tree.id = api_keys.id)
WHERE revoked_at IS NULL AND id IN (SELECT id FROM tree);

-- Keys created before creation checked expiry: none outlives any of its ancestors.
WITH RECURSIVE chain(id, until) AS (
  SELECT id, expires_at FROM api_keys WHERE expires_at IS NOT NULL
  UNION
  SELECT k.id, c.until FROM api_keys k JOIN chain c ON k.created_by = c.id
)
UPDATE api_keys
SET expires_at = (SELECT MIN(chain.until) FROM chain WHERE chain.id = api_keys.id)
WHERE id IN (SELECT id FROM chain)
  AND (expires_at IS NULL OR expires_at > (SELECT MIN(chain.until) FROM chain WHERE chain.id = api_keys.id));
