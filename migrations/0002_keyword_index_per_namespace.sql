-- One keyword index per namespace instead of one for all of them.
--
-- BM25 scores a chunk with statistics of the whole index it lives in: how many rows contain each
-- query term (IDF) and the average row length. With every namespace in one FTS5 table, one
-- tenant's documents changed another tenant's scores (and let it infer which words the others
-- use), and a keyword query read the posting lists of every tenant before filtering to its own.
--
-- Each namespace now gets its own FTS5 table, kw_<first 128 bits of SHA-256(namespace), hex>,
-- created by the first write that indexes chunks in the namespace (src/store/keyword.ts), in the
-- same transaction as the chunk rows. Table names cannot be chosen by a trigger, so the store
-- writes the index rows itself in that transaction. Namespaces indexed before this migration get
-- their table, filled from their chunk rows, on their next write or keyword search.

DROP TRIGGER IF EXISTS chunks_fts_insert;
DROP TRIGGER IF EXISTS chunks_fts_delete;
DROP TRIGGER IF EXISTS chunks_fts_update;
DROP TABLE IF EXISTS chunks_fts;

-- The namespaces whose keyword table exists and holds all their chunks, written in the same
-- transaction that creates and fills the table. Namespaces without a row (those indexed before
-- this migration) get their table filled from `chunks` on their next write or keyword search.
CREATE TABLE keyword_indexes (
  namespace TEXT PRIMARY KEY,
  table_name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
