-- Quality watch (src/versions/quality.ts): the scheduled run scores each watched namespace's golden
-- queries on its active version (and on an experiment's candidate) and keeps the nDCG@10 series.

-- Namespaces with golden queries, registered when they are set or a version is activated; the
-- scheduled run visits the least recently checked first.
CREATE TABLE IF NOT EXISTS quality_namespaces (
  namespace TEXT PRIMARY KEY,
  checked_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Per version: its activation value (what a later measurement is compared with), the scoring pass
-- in progress (a pass may span several runs) and whether the drop alert is raised.
CREATE TABLE IF NOT EXISTS quality_versions (
  namespace TEXT NOT NULL,
  version TEXT NOT NULL,
  -- null until known: the first complete measurement then becomes the activation value.
  activation_ndcg REAL,
  -- "gate" (its own passing gate score), "replaced" (the score of the version it replaced, when
  -- activation was forced past a failing gate), "first_measurement".
  activation_source TEXT,
  activated_at INTEGER,
  -- The search mode the gate scored with at activation; the watch scores with the same.
  mode TEXT NOT NULL DEFAULT 'vector',
  -- The pass in progress: the golden set it scores (a digest; a change restarts it), the next
  -- query, the sum of the scores so far, when it started.
  golden_digest TEXT,
  next_query INTEGER NOT NULL DEFAULT 0,
  score_sum REAL NOT NULL DEFAULT 0,
  pass_started_at INTEGER,
  -- When the last pass completed (the next starts an interval later).
  measured_at INTEGER,
  alerting INTEGER NOT NULL DEFAULT 0,
  alerted_at INTEGER,
  PRIMARY KEY (namespace, version)
) WITHOUT ROWID;

-- The series: one point per completed pass, pruned by age and count per version.
CREATE TABLE IF NOT EXISTS quality_points (
  namespace TEXT NOT NULL,
  version TEXT NOT NULL,
  at INTEGER NOT NULL,
  ndcg REAL NOT NULL,
  queries INTEGER NOT NULL,
  PRIMARY KEY (namespace, version, at)
) WITHOUT ROWID;

-- Retention, kept by the insert itself (no extra query per scheduled run): the namespace's points
-- older than 30 days, and the inserted version's past its 720 newest (QUALITY_RETENTION in
-- src/versions/quality.ts).
CREATE TRIGGER IF NOT EXISTS quality_points_retention AFTER INSERT ON quality_points
BEGIN
  DELETE FROM quality_points WHERE namespace = NEW.namespace AND (
    at < NEW.at - 2592000000
    OR (version = NEW.version AND at <= (
      SELECT at FROM quality_points WHERE namespace = NEW.namespace AND version = NEW.version
      ORDER BY at DESC LIMIT 1 OFFSET 720)));
END;
