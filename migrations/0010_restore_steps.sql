-- The restore steps whose rows a namespace's database has taken. A restore's job lives in the
-- control database (DB) and the namespace's rows in its own database of the pool, so one
-- transaction cannot hold both: each step's rows commit with their mark here, and a redelivered
-- step finds the mark and writes nothing again (src/backup/store.ts).
CREATE TABLE restore_steps (
  job_id TEXT NOT NULL,
  step INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (job_id, step)
);
