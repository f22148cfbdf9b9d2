-- Repairs of vectors and keyword rows by the scheduled check (src/observe/vector-repair.ts,
-- src/observe/orphan-repair.ts).
--
-- `vectors_checked_at`: when the check last looked the document's chunk ids up in the vector
-- index (NULL: never; 0: a repair was made and awaits its check). Indexed documents are checked in
-- that order, a bounded number of chunk ids per run.
-- `vector_repairs`: repair attempts of version `vector_repair_etag` that made no progress (fewer
-- missing vectors than `vector_missing`, the count at the last attempt, is progress); at 3 the
-- check stops repairing that version and alerts. `vector_repaired_at` is the last attempt (ms).
-- `vectors_suspect`: a repair raced a newer write of the document, so its vectors may hold the
-- older text: the next check re-embeds all of them, present or not.
ALTER TABLE documents ADD COLUMN vectors_checked_at INTEGER;
ALTER TABLE documents ADD COLUMN vector_repairs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN vector_repair_etag TEXT;
ALTER TABLE documents ADD COLUMN vector_repaired_at INTEGER;
ALTER TABLE documents ADD COLUMN vector_missing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN vectors_suspect INTEGER NOT NULL DEFAULT 0;

-- The next indexed documents to check, least recently checked first, without scanning the others.
CREATE INDEX documents_by_vector_check ON documents (vectors_checked_at, indexed_at) WHERE status = 'indexed';

-- The deletion ledger: deleted documents whose vectors the consumer has not removed yet (it sets
-- chunk_count to 0 once they are gone), oldest first.
CREATE INDEX documents_vectors_to_delete ON documents (updated_at) WHERE status = 'deleted' AND chunk_count > 0;

-- Keyword tables are checked in turn against their chunk rows: `checked_at` (ms, NULL: never),
-- and `repairs`, consecutive checks that found and repaired something (at 3 the check alerts and
-- stops repairing the table until a check finds it sound).
ALTER TABLE keyword_tables ADD COLUMN checked_at INTEGER;
ALTER TABLE keyword_tables ADD COLUMN repairs INTEGER NOT NULL DEFAULT 0;
