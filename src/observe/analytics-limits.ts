// Analytics Engine's limits on writeDataPoint, and a dataset binding that enforces them as
// Cloudflare does. Miniflare's local binding accepts and drops any data point, so local mode wraps
// METRICS in StrictDataset: a point the platform would refuse fails in development and tests too.
//
// Per data point: workerd's src/workerd/api/analytics-engine-impl.h (MAX_INDEXES_LENGTH = 1,
// MAX_INDEX_SIZE_IN_BYTES = 96, MAX_ARRAY_MEMBERS = 20, MAX_CUMULATIVE_BYTES_IN_BLOBS = 800 * 20)
// and https://developers.cloudflare.com/analytics/analytics-engine/limits/ (cloudflare-docs
// src/content/docs/analytics/analytics-engine/limits.mdx: "twenty blobs, twenty doubles, and one
// index", "16 KB" of blobs, "96 bytes" per index). The docs' 16 KB is 16,000 bytes in workerd.
// Per invocation: the same page, "a maximum of 250 data points per Worker invocation"; the 251st
// call throws "Analytics Engine write limit exceeded." (quoted from production in
// graphql-hive/console#6477). All plans.

export const AE_MAX_BLOBS = 20;
export const AE_MAX_DOUBLES = 20;
export const AE_MAX_INDEXES = 1;
export const AE_MAX_INDEX_BYTES = 96;
export const AE_MAX_BLOB_BYTES_TOTAL = 800 * 20;
export const AE_MAX_POINTS_PER_INVOCATION = 250;
/** Each blob capped at this: twenty of them still fit AE_MAX_BLOB_BYTES_TOTAL. */
export const AE_BLOB_BYTES = AE_MAX_BLOB_BYTES_TOTAL / AE_MAX_BLOBS;

const encoder = new TextEncoder();

function size(value: ArrayBuffer | string | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === "string" ? encoder.encode(value).byteLength : value.byteLength;
}

/** Why Cloudflare would refuse this data point (its TypeError's text), or null when it fits. */
export function dataPointProblem(point: AnalyticsEngineDataPoint | undefined): string | null {
  const prefix = "writeDataPoint(): ";
  const indexes = point?.indexes ?? [];
  if (indexes.length > AE_MAX_INDEXES) return `${prefix}Maximum of ${AE_MAX_INDEXES} indexes supported.`;
  if (size(indexes[0]) > AE_MAX_INDEX_BYTES) {
    return `${prefix}Size of indexes[0] exceeds ${AE_MAX_INDEX_BYTES} bytes).`;
  }
  const blobs = point?.blobs ?? [];
  if (blobs.length > AE_MAX_BLOBS) return `${prefix}Maximum of ${AE_MAX_BLOBS} blobs supported.`;
  const blobBytes = blobs.reduce((sum, b) => sum + size(b), 0);
  if (blobBytes > AE_MAX_BLOB_BYTES_TOTAL) {
    return `${prefix}Cumulative size of blobs exceeds ${AE_MAX_BLOB_BYTES_TOTAL} bytes).`;
  }
  const doubles = point?.doubles ?? [];
  if (doubles.length > AE_MAX_DOUBLES) return `${prefix}Maximum of ${AE_MAX_DOUBLES} doubles supported.`;
  return null;
}

/**
 * A dataset that refuses what Analytics Engine refuses, then passes the point on. One instance
 * counts one invocation's points: build it per request, queue batch or scheduled run.
 */
export class StrictDataset implements AnalyticsEngineDataset {
  private written = 0;

  constructor(private readonly inner: AnalyticsEngineDataset | undefined) {}

  writeDataPoint(point?: AnalyticsEngineDataPoint): void {
    // workerd counts the call (newAnalyticsEngineRequest) before it checks the point.
    if (this.written >= AE_MAX_POINTS_PER_INVOCATION)
      throw new Error("Analytics Engine write limit exceeded.");
    this.written += 1;
    const problem = dataPointProblem(point);
    if (problem) throw new TypeError(problem);
    this.inner?.writeDataPoint(point);
  }
}

/** The dataset one invocation writes to: strict in local mode, the binding itself on Cloudflare. */
export function invocationDataset(env: {
  BACKEND?: string;
  METRICS: AnalyticsEngineDataset;
}): AnalyticsEngineDataset {
  if (env.BACKEND === "local") return new StrictDataset(env.METRICS);
  return env.METRICS;
}
