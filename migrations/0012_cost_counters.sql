-- local_metrics keeps every column a data point can fill: searches carry their cost counters in
-- blob9 and double12..double20, ingest points in double6..double20 (src/observe/metrics.ts).
ALTER TABLE local_metrics ADD COLUMN blob9 TEXT;
ALTER TABLE local_metrics ADD COLUMN double13 REAL;
ALTER TABLE local_metrics ADD COLUMN double14 REAL;
ALTER TABLE local_metrics ADD COLUMN double15 REAL;
ALTER TABLE local_metrics ADD COLUMN double16 REAL;
ALTER TABLE local_metrics ADD COLUMN double17 REAL;
ALTER TABLE local_metrics ADD COLUMN double18 REAL;
ALTER TABLE local_metrics ADD COLUMN double19 REAL;
ALTER TABLE local_metrics ADD COLUMN double20 REAL;
