-- Backups and restores run as jobs: a chain of ingest-queue messages, one bounded step each
-- (src/backup/). A job's state lives here rather than in an in-progress R2 object because a step
-- must advance it exactly once under redelivery (a compare-and-set on `step`, in the same D1
-- transaction as the rows the step writes), and because "one running job per namespace" is a
-- constraint, which D1 can enforce and R2 cannot.
--
-- namespace: the namespace backed up, or the restore's target. Backup job ids are backup ids:
-- the backup's objects are "_backups/<namespace>/<id>/".
CREATE TABLE backup_jobs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('backup', 'restore')),
  namespace TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed')),
  -- backup: 'pages' then 'manifest'; restore: 'verify', 'write', then 'settle'.
  phase TEXT NOT NULL,
  -- The next step to run: a step message whose number is below it has been applied already.
  step INTEGER NOT NULL DEFAULT 0,
  -- The highest step whose message has been sent: a redelivered step re-sends the next one only
  -- when it is missing (a crash between advancing the job and sending), never a second copy.
  sent_step INTEGER NOT NULL DEFAULT 0,
  -- Where the next step starts: the last document id exported (backup), the next part or part
  -- group (restore).
  cursor TEXT NOT NULL DEFAULT '',
  -- Fixed when the job starts, so that a step repeated later covers the same documents.
  page_size INTEGER NOT NULL,
  -- The index version exported (backup) or written (restore), as JSON.
  version TEXT NOT NULL,
  -- Restores: the backup read, and the SHA-256 of its manifest when the restore started.
  source_namespace TEXT,
  backup_id TEXT,
  manifest_sha256 TEXT,
  documents INTEGER NOT NULL DEFAULT 0,
  chunks INTEGER NOT NULL DEFAULT 0,
  vectors INTEGER NOT NULL DEFAULT 0,
  verified_parts INTEGER NOT NULL DEFAULT 0,
  -- Expected totals: the namespace's counts when a backup started, the manifest's for a restore.
  total_documents INTEGER,
  total_chunks INTEGER,
  total_parts INTEGER,
  -- Restores: the last vector write, which the index must have applied before the job completes
  -- (its mutation id, a time after the index accepted it, and one vector it wrote).
  last_mutation_id TEXT,
  last_mutation_at INTEGER,
  probe_vector_id TEXT,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);

-- At most one running job per namespace (backup or restore).
CREATE UNIQUE INDEX backup_jobs_one_running ON backup_jobs (namespace) WHERE state = 'running';
CREATE INDEX backup_jobs_by_namespace ON backup_jobs (namespace, kind, id);

-- The parts a backup job has written, recorded by the step that wrote them (in the transaction
-- that advances the job), and listed in the manifest by the last step.
CREATE TABLE backup_parts (
  job_id TEXT NOT NULL,
  name TEXT NOT NULL,
  step INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('documents', 'chunks', 'vectors')),
  sha256 TEXT NOT NULL,
  lines INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  -- The cursor the step started from: enough to write the part again if its object was lost.
  from_cursor TEXT NOT NULL,
  PRIMARY KEY (job_id, name)
) WITHOUT ROWID;
