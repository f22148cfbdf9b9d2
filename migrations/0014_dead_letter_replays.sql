-- Replays of dead letters by the scheduled check (src/observe/dead-letter-replay.ts). `transient`:
-- the message exhausted its retries, which the ingest consumer gives only to retryable errors
-- (recorded by the dead-letter queue's consumer); a message refused outright stays 0.
-- `auto_replayed`: the scheduled check, not an operator, replayed it.
ALTER TABLE dead_letters ADD COLUMN transient INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN auto_replayed INTEGER NOT NULL DEFAULT 0;

-- A document's earlier dead letters (how often the check has replayed it).
CREATE INDEX dead_letters_by_document ON dead_letters (namespace, doc_id);
