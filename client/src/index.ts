// @edgesearch/client: a typed client of the edgesearch v1 API for Workers, browsers and Node.
export type * from "./api.ts";
export {
  type CallArgs,
  type Client,
  createClient,
  type DocumentInput,
  type MetadataValue,
  type NamespaceStats,
  type OperationName,
  type Params,
  type Result,
  type Timed,
} from "./client.ts";
export { ApiError } from "./errors.ts";
export {
  batchDocuments,
  DEFAULT_BATCH_BYTES,
  MAX_BATCH_DOCUMENTS,
  mapConcurrent,
  type UploadOptions,
  type UploadProgress,
  uploadDocuments,
  type WaitOptions,
  waitForIndexing,
  waitUntilIndexed,
} from "./helpers.ts";
export {
  type Answer,
  type CallOptions,
  type ClientOptions,
  DEFAULT_BASE_URL,
  type FetchFn,
  type RetryNotice,
  retryAfterMs,
  type Sleep,
} from "./transport.ts";
