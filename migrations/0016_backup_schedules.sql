-- Scheduled backups (src/backup/schedule.ts): one policy per namespace, set through
-- PUT /v1/namespaces/{ns}/backup-policy. The scheduled handler starts a backup of each namespace
-- whose next_due_at has passed (a bounded number per run) and prunes its backups by keep_count and
-- keep_max_age_days.
CREATE TABLE backup_policies (
  namespace TEXT PRIMARY KEY,
  interval_hours INTEGER NOT NULL CHECK (interval_hours >= 1),
  keep_count INTEGER NOT NULL CHECK (keep_count >= 1),
  keep_max_age_days INTEGER NOT NULL CHECK (keep_max_age_days >= 1),
  -- When the next scheduled backup is due (epoch ms); moved on by each start, kept by a skip.
  next_due_at INTEGER NOT NULL,
  -- The last scheduled start: its time, the backup it started, and why it did not (skip or error).
  last_started_at INTEGER,
  last_backup_id TEXT,
  last_skip_reason TEXT,
  -- The last scheduled backup whose failure has been reported, so that it alerts once.
  reported_failure_id TEXT,
  -- The last retention pass over the namespace: the least recent goes first in the next run.
  pruned_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE INDEX backup_policies_due ON backup_policies (next_due_at);
