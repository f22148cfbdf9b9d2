-- Index versions: a namespace can hold chunks of several versions at once (the active one, one
-- being built, one kept for rollback), each with its own chunking and keyword index.
--
-- Chunk rows carry their version. The default version "v1" keeps the chunk ids, vector
-- namespaces and keyword tables it had before versions existed, so existing data needs no
-- rewrite. Other versions' chunk ids end in ".<version>", and their keyword tables are named
-- from (namespace, version) (src/store/keyword.ts).

ALTER TABLE chunks ADD COLUMN version TEXT NOT NULL DEFAULT 'v1';

DROP INDEX IF EXISTS chunks_by_document;
CREATE INDEX chunks_by_document ON chunks (namespace, doc_id, version, idx);
CREATE INDEX chunks_by_version ON chunks (namespace, version, chunk_id);

-- The keyword tables that exist and hold all their version's chunks, written in the transaction
-- that creates and fills each one.
CREATE TABLE keyword_tables (
  namespace TEXT NOT NULL,
  version TEXT NOT NULL,
  table_name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (namespace, version)
) WITHOUT ROWID;

INSERT INTO keyword_tables (namespace, version, table_name, created_at)
  SELECT namespace, 'v1', table_name, created_at FROM keyword_indexes;

DROP TABLE keyword_indexes;
