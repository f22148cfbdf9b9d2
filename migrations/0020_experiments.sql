-- Online experiments (src/experiments): what each arm of a namespace's experiment served, its
-- latency histogram, the shadow comparison of the candidate, and the first click of each search.
-- Counters, not rows per search: a search adds to two rows; a click adds one row.
CREATE TABLE IF NOT EXISTS experiment_arms (
  namespace TEXT NOT NULL,
  experiment TEXT NOT NULL,
  arm TEXT NOT NULL,
  searches INTEGER NOT NULL DEFAULT 0,
  empty INTEGER NOT NULL DEFAULT 0,
  degraded INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (namespace, experiment, arm)
);

-- series: "control" / "candidate" (served searches), "shadow-control" / "shadow-candidate".
CREATE TABLE IF NOT EXISTS experiment_latency (
  namespace TEXT NOT NULL,
  experiment TEXT NOT NULL,
  series TEXT NOT NULL,
  bucket INTEGER NOT NULL,
  n INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (namespace, experiment, series, bucket)
);

CREATE TABLE IF NOT EXISTS experiment_shadow (
  namespace TEXT NOT NULL,
  experiment TEXT NOT NULL,
  samples INTEGER NOT NULL DEFAULT 0,
  overlap_sum REAL NOT NULL DEFAULT 0,
  rbo_sum REAL NOT NULL DEFAULT 0,
  control_empty INTEGER NOT NULL DEFAULT 0,
  candidate_empty INTEGER NOT NULL DEFAULT 0,
  control_degraded INTEGER NOT NULL DEFAULT 0,
  candidate_degraded INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (namespace, experiment)
);

-- One row per search that got a click: the first click (its rank) decides CTR and MRR.
CREATE TABLE IF NOT EXISTS experiment_clicks (
  namespace TEXT NOT NULL,
  experiment TEXT NOT NULL,
  search TEXT NOT NULL,
  arm TEXT NOT NULL,
  rank INTEGER NOT NULL,
  document TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (namespace, experiment, search)
);
