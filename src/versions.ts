// Index versions. Until a namespace migrates to another model, its vectors live in the
// default version, in the configured index, under a Vectorize namespace named like it.
export const DEFAULT_VERSION = "v1";

/** Vectorize namespace holding a namespace's vectors for a version. */
export function vectorNamespace(namespace: string): string {
  return namespace;
}
