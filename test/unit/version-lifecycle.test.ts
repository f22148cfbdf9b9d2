// The version use cases against stand-ins of exactly the services each takes: what they refuse
// before doing expensive or irreversible work, and what they enqueue.
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import { activateVersion, createVersion, retireVersion } from "../../src/migrations/lifecycle";
import { createLogger } from "../../src/observe/logger";
import type { VectorIndex } from "../../src/vectors/vector-index";
import type { VersionRecord, VersionSpec } from "../../src/versions/model";

const logger = createLogger("error", {}, () => undefined);
const NS = "lifecycle";

const ACTIVE: VersionSpec = {
  id: "v1",
  model: "@cf/baai/bge-base-en-v1.5",
  dimensions: 768,
  pooling: "cls",
  chunking: { maxTokens: 256, overlapTokens: 32 },
  index: "edgesearch",
};

function record(spec: VersionSpec, state: VersionRecord["state"]): VersionRecord {
  return {
    ...spec,
    state,
    createdAt: 0,
    updatedAt: 0,
    activatedAt: null,
    retireAt: null,
    retiredAt: null,
    purged: false,
    backfill: null,
    gate: null,
  };
}

/** Calls made to the stand-ins, by name. */
function recorder() {
  const calls: string[] = [];
  const track =
    <A extends unknown[], R>(name: string, fn: (...args: A) => R) =>
    (...args: A): R => {
      calls.push(name);
      return fn(...args);
    };
  return { calls, track };
}

function unusedIndex(dimensions: number): VectorIndex {
  return {
    describe: async () => ({
      vectorCount: 0,
      dimensions,
      processedUpToMutation: null,
      processedUpToDatetime: null,
    }),
  } as unknown as VectorIndex;
}

describe("activating a version", () => {
  it.each(["building", "active", "previous", "retired"] as const)(
    "refuses a %s version before scoring the gate or asking the coordinator to swap",
    async (state) => {
      const { calls, track } = recorder();
      const candidate = record({ ...ACTIVE, id: "v2" }, state);
      const err = await activateVersion(
        {
          coordinator: {
            namespace: NS,
            version: track("version", async () => candidate),
            goldenQueries: track("goldenQueries", async () => []),
            writeTargets: track("writeTargets", async () => ({ active: ACTIVE, live: [ACTIVE] })),
            activate: track("activate", async () => ({ version: candidate, purge: null })),
          },
          versions: {
            embedder: track("embedder", () => {
              throw new Error("no embedder is needed");
            }),
            index: track("index", () => unusedIndex(768)),
          },
          search: { store: undefined as never, db: undefined as never, logger },
          gate: { minNdcg: undefined, tolerance: 0.02 },
          graceMs: 1000,
          queue: { send: track("send", async () => undefined) },
          logger,
          quality: undefined as never,
        },
        "v2",
        { force: true, mode: "vector" },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("conflict");
      expect((err as AppError).message).toBe(`version v2 is ${state}; only a ready version can be activated`);
      expect(calls).toEqual(["version"]);
    },
  );
});

describe("creating a version", () => {
  const deps = (backend: "cloudflare" | "local", calls: ReturnType<typeof recorder>) => ({
    coordinator: {
      namespace: NS,
      writeTargets: calls.track("writeTargets", async () => ({ active: ACTIVE, live: [ACTIVE] })),
      createVersion: calls.track("createVersion", async (spec: Omit<VersionSpec, "id">) => ({
        version: record({ ...spec, id: "v2" }, "building"),
        task: {
          kind: "version.backfill" as const,
          namespace: NS,
          version: "v2",
          phase: "scan" as const,
          cursor: "",
        },
      })),
    },
    versions: { index: calls.track("index", (spec: VersionSpec) => unusedIndex(spec.dimensions)) },
    store: { countIndexed: calls.track("countIndexed", async () => 3) },
    config: { backend, vectorizeIndexes: new Map([["EDGESEARCH", "edgesearch"]]) },
    queue: { send: calls.track("send", async () => undefined) },
    logger,
  });

  it("refuses a model of other dimensions without an index on Cloudflare, creating nothing", async () => {
    const calls = recorder();
    const err = await createVersion(deps("cloudflare", calls), { model: "@cf/baai/bge-small-en-v1.5" }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "validation_failed", field: "body.index" });
    expect((err as AppError).message).toMatch(/384 dimensions and the active version's index 768/);
    expect(calls.calls).toEqual(["writeTargets"]);
  });

  it("creates the version with the active one's settings and enqueues its build", async () => {
    const calls = recorder();
    const version = await createVersion(deps("local", calls), { model: "@cf/baai/bge-small-en-v1.5" });
    expect(version).toMatchObject({
      id: "v2",
      state: "building",
      dimensions: 384,
      index: "edgesearch-local-384",
      pooling: ACTIVE.pooling,
      chunking: ACTIVE.chunking,
    });
    expect(calls.calls).toEqual(["writeTargets", "index", "countIndexed", "createVersion", "send"]);
  });
});

describe("retiring a version", () => {
  it("enqueues the purge the coordinator hands back, and nothing when there is none", async () => {
    const sent: unknown[] = [];
    const purge = { kind: "version.purge" as const, namespace: NS, version: "v2" };
    const retired = record({ ...ACTIVE, id: "v2" }, "retired");
    const queue = { send: async (body: unknown) => void sent.push(body) };
    const coordinator = (p: typeof purge | null) => ({
      namespace: NS,
      retire: async () => ({ version: retired, purge: p }),
    });
    await retireVersion({ coordinator: coordinator(purge), queue, logger }, "v2");
    await retireVersion({ coordinator: coordinator(null), queue, logger }, "v2");
    expect(sent).toEqual([purge]);
  });
});
