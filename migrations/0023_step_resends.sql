-- Lost steps of long-running jobs (src/jobs/steps.ts): the scheduled handler re-sends the current
-- step of a running erasure, backup, restore or move that showed no progress for a stall period,
-- a bounded number of jobs per run, and fails a job whose step it re-sent MAX_STEP_RESENDS times.
-- `resent_step` is the step last re-sent (-1: none), `resends` how often that step was re-sent,
-- `resent_at` when (epoch ms; 0: never): a re-sent job is not re-sent again before another stall
-- period has passed.
ALTER TABLE erasure_jobs ADD COLUMN resent_step INTEGER NOT NULL DEFAULT -1;
ALTER TABLE erasure_jobs ADD COLUMN resends INTEGER NOT NULL DEFAULT 0;
ALTER TABLE erasure_jobs ADD COLUMN resent_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backup_jobs ADD COLUMN resent_step INTEGER NOT NULL DEFAULT -1;
ALTER TABLE backup_jobs ADD COLUMN resends INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backup_jobs ADD COLUMN resent_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE move_jobs ADD COLUMN resent_step INTEGER NOT NULL DEFAULT -1;
ALTER TABLE move_jobs ADD COLUMN resends INTEGER NOT NULL DEFAULT 0;
ALTER TABLE move_jobs ADD COLUMN resent_at INTEGER NOT NULL DEFAULT 0;
-- The sweep reads running jobs only (backup_jobs has backup_jobs_one_running).
CREATE INDEX erasure_jobs_running ON erasure_jobs (updated_at) WHERE state = 'running';
CREATE INDEX move_jobs_running ON move_jobs (updated_at) WHERE state = 'running';

-- A namespace's deletion stops its scheduled backups (epoch ms; NULL: running). The policy stays
-- for retention: the namespace's backups are pruned by its keep rules as before, and no new ones
-- are taken. A new PUT of the policy starts the schedule again.
ALTER TABLE backup_policies ADD COLUMN stopped_at INTEGER;
