// Quota settings from the Worker's vars: the documented defaults, overrides, and refusals.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { namespaceLimits } from "../../src/quotas/limits";

describe("quota settings", () => {
  it("defaults to 100,000 documents, 500,000 chunks, 256 MiB per namespace and 100 namespaces per key", () => {
    expect(loadConfig({}).quotas).toEqual({
      documents: 100_000,
      chunks: 500_000,
      bytes: 268_435_456,
      namespacesPerKey: 100,
    });
  });

  it("takes overrides from the vars, and a namespace's own over those", () => {
    const config = loadConfig({ QUOTA_MAX_DOCUMENTS_PER_NAMESPACE: "10", QUOTA_MAX_NAMESPACES_PER_KEY: "0" });
    expect(config.quotas).toMatchObject({ documents: 10, namespacesPerKey: 0 });
    expect(namespaceLimits(config, { documents: null, chunks: 7, bytes: null })).toEqual({
      documents: 10,
      chunks: 7,
      bytes: 268_435_456,
    });
  });

  it("rejects quota vars that are not positive whole numbers", () => {
    expect(() => loadConfig({ QUOTA_MAX_DOCUMENTS_PER_NAMESPACE: "0" })).toThrow(
      /QUOTA_MAX_DOCUMENTS_PER_NAMESPACE/,
    );
    expect(() => loadConfig({ QUOTA_MAX_BYTES_PER_NAMESPACE: "1.5" })).toThrow(
      /QUOTA_MAX_BYTES_PER_NAMESPACE/,
    );
    expect(() => loadConfig({ QUOTA_MAX_CHUNKS_PER_NAMESPACE: "lots" })).toThrow(
      /QUOTA_MAX_CHUNKS_PER_NAMESPACE/,
    );
  });
});
