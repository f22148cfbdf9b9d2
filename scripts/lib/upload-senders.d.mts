// Type declarations for upload-senders.mjs, so TypeScript callers (the tests) import it typed.
import type { DocumentInput, Sender } from "./upload-core.mjs";

export interface ObjectUpload {
  key: string;
  body: string;
  contentType: string;
  customMetadata: Record<string, string>;
}
export declare const DEFAULT_API_BATCH: number;
export declare const MAX_CUSTOM_METADATA_BYTES: number;
export declare function createApiSender(options: {
  client: ApiClient;
  namespace: string;
  batchSize?: number;
  /** Write R2 objects through the Worker's objects route instead of documents. */
  objects?: boolean;
}): Sender;
export declare function createFetchApiSender(options: {
  fetch: (input: string, init?: RequestInit) => Promise<Response>;
  baseUrl: string;
  apiKey?: string;
  namespace: string;
  batchSize?: number;
  /** Write R2 objects through the Worker's objects route instead of documents. */
  objects?: boolean;
}): Sender;
export declare function objectUpload(namespace: string, doc: DocumentInput): ObjectUpload;
export declare function createR2Sender(options: {
  namespace: string;
  putObject: (upload: ObjectUpload) => Promise<void>;
}): Sender;

/** The parts of client.mjs's client the API sender calls. */
export interface ApiClient {
  putDocument(namespace: string, doc: DocumentInput): Promise<unknown>;
  putDocuments(namespace: string, documents: DocumentInput[]): Promise<unknown>;
  putObjects(namespace: string, documents: DocumentInput[]): Promise<unknown>;
}
