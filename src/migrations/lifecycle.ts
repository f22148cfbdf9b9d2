// A namespace's index versions, as the API drives them: create one (it builds in the background),
// activate it once built (index caught up, quality gate passed), roll back, retire. Each takes the
// namespace's coordinator client and only the other services it uses; the coordinator applies
// the state rules of src/versions/transitions.ts, which activation also checks up front so that
// a version that cannot be activated is refused before its quality gate is scored.
import { namespaceEmbedder } from "../cache/embedding-cache";
import type { Config } from "../config";
import { EMBEDDING_MODELS } from "../embed/embedder";
import { AppError, errorMessage } from "../errors";
import type { Logger } from "../observe/logger";
import type { SearchDeps, SearchMode } from "../search/search";
import type { DocumentStore } from "../store/documents";
import type { IndexInfo } from "../vectors/vector-index";
import type { CoordinatorClient } from "../versions/coordinator";
import type { Chunking, GateReport, VersionRecord, VersionSpec } from "../versions/model";
import { clearPointerCache } from "../versions/pointer";
import { recordActivation } from "../versions/quality";
import type { VersionServices } from "../versions/services";
import { checkActivate } from "../versions/transitions";
import { type GateSettings, gateReport, meanNdcg } from "./gate";

type Coordinator<K extends keyof CoordinatorClient> = Pick<CoordinatorClient, K | "namespace">;
/** Where tasks are enqueued (the ingest queue); what it answers is not used. */
interface Sender {
  send(body: unknown, options?: QueueSendOptions): Promise<unknown>;
}

/** The version a namespace's coordinator knows by `id`, or a 404. */
export async function getVersion(coordinator: Coordinator<"version">, id: string): Promise<VersionRecord> {
  const version = await coordinator.version(id);
  if (!version) throw new AppError("not_found", `version ${id} does not exist`);
  return version;
}

export interface NewVersionRequest {
  model: string;
  /** Defaults to the active version's. */
  pooling?: VersionSpec["pooling"];
  /** Defaults to the active version's. */
  chunking?: Chunking;
  /** Defaults to the active version's index when the dimensions match. */
  index?: string;
}

export interface CreateVersionDeps {
  coordinator: Coordinator<"writeTargets" | "createVersion">;
  versions: Pick<VersionServices, "index">;
  store: Pick<DocumentStore, "countIndexed">;
  config: Pick<Config, "backend" | "vectorizeIndexes">;
  queue: Sender;
  logger: Logger;
}

/** Creates a version and enqueues its build. */
export async function createVersion(
  deps: CreateVersionDeps,
  request: NewVersionRequest,
): Promise<VersionRecord> {
  const namespace = deps.coordinator.namespace;
  const { active } = await deps.coordinator.writeTargets();
  const dimensions = EMBEDDING_MODELS[request.model]?.dimensions ?? 0;
  const index = await chooseIndex(deps, active, dimensions, request.index);
  const total = await deps.store.countIndexed(namespace);
  const { version, task } = await deps.coordinator.createVersion(
    {
      model: request.model,
      dimensions,
      pooling: request.pooling ?? active.pooling,
      chunking: request.chunking ?? active.chunking,
      index,
    },
    total,
  );
  // A lost send is not lost work: the coordinator re-sends a build task that makes no progress.
  await deps.queue.send(task, { contentType: "json" }).catch((err: unknown) => {
    deps.logger.warn("versions.send_failed", { namespace, version: version.id, error: String(err) });
  });
  deps.logger.info("versions.created", { namespace, version: version.id, model: version.model });
  return version;
}

/** The index a new version's vectors go to; checked to exist and to have the model's dimensions. */
async function chooseIndex(
  deps: Pick<CreateVersionDeps, "versions" | "config">,
  active: VersionSpec,
  dimensions: number,
  requested: string | undefined,
): Promise<string> {
  const index = requested ?? defaultIndex(deps.config, active, dimensions);
  let info: IndexInfo;
  try {
    info = await deps.versions.index({ ...active, index, dimensions }).describe();
  } catch (err) {
    if (err instanceof AppError && !err.retryable) {
      throw new AppError("validation_failed", err.message, { field: "body.index" });
    }
    throw err;
  }
  // A local index has no dimensions until its first write.
  if (info.dimensions !== 0 && info.dimensions !== dimensions) {
    throw new AppError(
      "validation_failed",
      `index "${index}" has ${info.dimensions} dimensions; the model needs ${dimensions}`,
      { field: "body.index" },
    );
  }
  return index;
}

function defaultIndex(config: CreateVersionDeps["config"], active: VersionSpec, dimensions: number): string {
  if (dimensions === active.dimensions) return active.index;
  if (config.backend === "local") return `edgesearch-local-${dimensions}`;
  const candidates = [...config.vectorizeIndexes.keys()].join(", ");
  throw new AppError(
    "validation_failed",
    `the model has ${dimensions} dimensions and the active version's index ${active.dimensions}: name an index with ${dimensions} dimensions (bound ones: ${candidates})`,
    { field: "body.index" },
  );
}

export interface ActivateVersionDeps {
  coordinator: Coordinator<"version" | "goldenQueries" | "writeTargets" | "activate">;
  versions: Pick<VersionServices, "embedder" | "index">;
  /** What scoring a version searches with besides that version's embedder and index. */
  search: Pick<SearchDeps, "store" | "db" | "logger" | "guard">;
  gate: GateSettings;
  /** How long the replaced version stays queryable for a rollback. */
  graceMs: number;
  queue: Sender;
  logger: Logger;
  /** The control database: the activation value the quality watch holds the version to. */
  quality: D1Database;
}

export interface ActivateOptions {
  /** Activate even if the quality gate fails or cannot run. */
  force: boolean;
  /** The search mode the gate scores both versions with. */
  mode: SearchMode;
}

/**
 * Scores the ready version `id` and the active one on the golden queries, and has the
 * coordinator activate it if the gate passed (or was forced) and its index has caught up.
 */
export async function activateVersion(
  deps: ActivateVersionDeps,
  id: string,
  options: ActivateOptions,
): Promise<{ version: VersionRecord; gate: GateReport }> {
  const namespace = deps.coordinator.namespace;
  const candidate = checkActivate(await deps.coordinator.version(id), id);
  const [golden, { active }] = await Promise.all([
    deps.coordinator.goldenQueries(),
    deps.coordinator.writeTargets(),
  ]);
  const score = (spec: VersionSpec) =>
    meanNdcg(
      {
        ...deps.search,
        embedder: namespaceEmbedder(deps.versions.embedder(spec), namespace),
        index: deps.versions.index(spec),
        version: spec.id,
      },
      namespace,
      golden,
      options.mode,
    );
  const [ndcg, activeNdcg] =
    golden.length === 0 ? [0, null] : await Promise.all([score(candidate), score(active)]);
  const gate = gateReport(golden.length, ndcg, activeNdcg, deps.gate, options.force);
  const evidence = await deps.versions.index(candidate).describe();
  const { version, purge } = await deps.coordinator.activate(
    id,
    {
      processedUpToMutation: evidence.processedUpToMutation,
      processedUpToDatetime: evidence.processedUpToDatetime,
    },
    gate,
    deps.graceMs,
  );
  if (purge) await deps.queue.send(purge, { contentType: "json" });
  clearPointerCache(namespace);
  // The swap is done: a failure to record the value is logged, and the watch's first measurement
  // of the version becomes its activation value instead.
  const activation = await recordActivation(deps.quality, {
    namespace,
    version: id,
    replaced: active.id,
    gate,
    mode: options.mode,
  }).catch((err: unknown) => {
    deps.logger.error("quality.activation_record_failed", {
      namespace,
      version: id,
      error: errorMessage(err),
    });
    return null;
  });
  deps.logger.info("versions.activated", {
    namespace,
    version: id,
    ndcg,
    activeNdcg,
    forced: options.force,
    activationNdcg: activation?.ndcg ?? null,
  });
  return { version, gate };
}

/** Makes the previous version active again; returns it. */
export async function rollbackVersion(deps: {
  coordinator: Coordinator<"rollback">;
  logger: Logger;
}): Promise<VersionRecord> {
  const namespace = deps.coordinator.namespace;
  const version = await deps.coordinator.rollback();
  clearPointerCache(namespace);
  deps.logger.info("versions.rolled_back", { namespace, version: version.id });
  return version;
}

/** Retires a version that is not active and enqueues the deletion of its vectors. */
export async function retireVersion(
  deps: { coordinator: Coordinator<"retire">; queue: Sender; logger: Logger },
  id: string,
): Promise<VersionRecord> {
  const { version, purge } = await deps.coordinator.retire(id);
  if (purge) await deps.queue.send(purge, { contentType: "json" });
  deps.logger.info("versions.retired", { namespace: deps.coordinator.namespace, version: id });
  return version;
}
