// What the API and the consumer need to work with versions: the coordinator, and the embedder
// and vector index of any version (built once per request or batch, per model and index).
import type { Embedder } from "../embed/embedder";
import type { VectorIndex } from "../vectors/vector-index";
import type { CoordinatorClient } from "./coordinator";
import type { VersionPointer, VersionSpec } from "./model";

export interface VersionServices {
  /** The version namespaces start with (the deployment's configured model, chunking and index). */
  defaults: VersionSpec;
  coordinator(namespace: string): CoordinatorClient;
  /** The namespace's active version, from the published pointer (isolate cache, then KV). */
  active(namespace: string): Promise<VersionSpec>;
  /** The namespace's published pointer (null: none yet), from the same isolate cache as `active`. */
  pointer(namespace: string): Promise<VersionPointer | null>;
  embedder(spec: VersionSpec): Embedder;
  index(spec: VersionSpec): VectorIndex;
}
