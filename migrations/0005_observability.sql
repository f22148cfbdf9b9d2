-- Observability state kept in D1.
--
-- local_metrics: with BACKEND=local, Analytics Engine accepts data points but cannot be read
-- back, so each point is also kept here, column for column (blob1.., double1.., index1), for
-- the dashboard and /v1/admin/metrics. Bounded: points older than 7 days, and the oldest beyond
-- 200,000 rows, are deleted as new ones arrive. Unused with the Cloudflare backend.
CREATE TABLE local_metrics (
  id INTEGER PRIMARY KEY,
  timestamp INTEGER NOT NULL,
  index1 TEXT NOT NULL,
  blob1 TEXT, blob2 TEXT, blob3 TEXT, blob4 TEXT, blob5 TEXT, blob6 TEXT, blob7 TEXT, blob8 TEXT,
  double1 REAL, double2 REAL, double3 REAL, double4 REAL, double5 REAL, double6 REAL,
  double7 REAL, double8 REAL, double9 REAL, double10 REAL, double11 REAL, double12 REAL
);

CREATE INDEX local_metrics_by_time ON local_metrics (blob1, timestamp);

-- index_health: the latest findings of the scheduled index health check, per namespace (and
-- one row named '' for what is not per namespace: the vector index's total count).
CREATE TABLE index_health (
  namespace TEXT PRIMARY KEY,
  checked_at INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('ok', 'warn', 'fail')),
  findings TEXT NOT NULL
) WITHOUT ROWID;
