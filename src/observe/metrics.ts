// Metrics: one Analytics Engine data point per search and per ingested document. The dataset
// is indexed by namespace so per-namespace queries stay cheap.

export interface SearchEvent {
  namespace: string;
  mode: string;
  status: number;
  results: number;
  cache: string;
  degraded: string[];
  totalMs: number;
  embedMs: number;
  vectorMs: number;
  hydrateMs: number;
}

export interface IngestEvent {
  namespace: string;
  outcome: "indexed" | "failed" | "deleted" | "skipped" | "retry";
  chunks: number;
  bytes: number;
  totalMs: number;
  /** Milliseconds from the write (event time) to the document being indexed. */
  lagMs: number;
}

export interface Metrics {
  search(e: SearchEvent): void;
  ingest(e: IngestEvent): void;
}

/**
 * Analytics Engine schema. Searches: blob1 "search", blob2 namespace, blob3 mode, blob4 cache,
 * blob5 degraded reasons (comma-joined); double1 status, double2 results, double3 total ms,
 * double4 embed ms, double5 vector ms, double6 hydrate ms. Ingest: blob1 "ingest", blob2
 * namespace, blob3 outcome; double1 chunks, double2 bytes, double3 total ms, double4 lag ms.
 */
export class AnalyticsEngineMetrics implements Metrics {
  constructor(private readonly dataset: AnalyticsEngineDataset) {}

  search(e: SearchEvent): void {
    this.dataset.writeDataPoint({
      indexes: [e.namespace],
      blobs: ["search", e.namespace, e.mode, e.cache, e.degraded.join(",")],
      doubles: [e.status, e.results, e.totalMs, e.embedMs, e.vectorMs, e.hydrateMs],
    });
  }

  ingest(e: IngestEvent): void {
    this.dataset.writeDataPoint({
      indexes: [e.namespace],
      blobs: ["ingest", e.namespace, e.outcome],
      doubles: [e.chunks, e.bytes, e.totalMs, e.lagMs],
    });
  }
}
