// What `npm run provision` has to create for one wrangler environment, as a pure function of
// the configuration and of what the account already holds: an ordered list of steps, each with
// its status and the exact wrangler command. No I/O, so the tests run it inside workerd and the
// dry run never needs Cloudflare.

import { DEFAULT_EMBEDDING_MODEL, EMBEDDING_MODELS } from "../../src/embed/embedder.ts";
import notificationRule from "../../src/ingest/notification-rule.json" with { type: "json" };
import type { NotificationRule } from "../../src/ingest/notification-rule.ts";
import { DOC_ID_FIELD } from "../../src/validation.ts";
import { VECTORIZE_LIMITS } from "../../src/vectors/vector-index.ts";
import { configLimitProblems } from "./config-limits.ts";

/** Output size of each embedding model the Worker supports. */
export const MODEL_DIMENSIONS: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(EMBEDDING_MODELS).map(([model, info]) => [model, info.dimensions]),
);
/** Metadata indexes per Vectorize index (the Worker's VECTORIZE_LIMITS); each is FILTERABLE_FIELDS'. */
export const MAX_METADATA_INDEXES = VECTORIZE_LIMITS.maxMetadataIndexes;
/**
 * Types of the metadata indexes of the filterable fields; any other field is indexed as a string.
 * A field's index type must match the values written, or range filters find nothing.
 */
export const DEFAULT_FIELD_TYPES = {
  year: "number",
} as Readonly<Record<string, "string" | "number" | "boolean">>;
/**
 * The secrets the Worker reads: the bootstrap admin key; optionally the key backup manifests are
 * signed with (else one derived from the admin key), the error-reporting DSN and the token the
 * metrics dashboard reads Analytics Engine with.
 */
export const SECRETS = [
  { name: "ADMIN_API_KEY", required: true },
  { name: "BACKUP_SIGNING_KEY", required: false },
  { name: "SENTRY_DSN", required: false },
  { name: "ANALYTICS_API_TOKEN", required: false },
] as const;
/** DOCUMENTS_BUCKET_NAME when unset (its default in src/config.ts). */
export const DEFAULT_DOCUMENTS_BUCKET = "edgesearch-documents";
/**
 * The documents bucket's notification rule (event types, prefix, suffix) and the R2 actions
 * behind each event type: one definition, which the Worker's local stand-in for notifications
 * applies too (src/ingest/notification-rule.ts).
 */
// The JSON's types widen the event types to string; the Worker parses the same file with zod.
export const NOTIFICATION_RULE = notificationRule.rule as NotificationRule;
export const CREATE_ACTIONS = notificationRule.actionsByEventType["object-create"];
export const DELETE_ACTIONS = notificationRule.actionsByEventType["object-delete"];

/** Binding kinds wrangler does not inherit from the top level into an [env.x] section. */
const NON_INHERITED = [
  "vars",
  "ai",
  "vectorize",
  "kv_namespaces",
  "r2_buckets",
  "d1_databases",
  "queues",
  "durable_objects",
  "ratelimits",
  "analytics_engine_datasets",
  "services",
];

export type TableRef = { path: string[]; index: number | null };

export type ProvisionConfig = {
  env: string | null;
  workerName: string;
  vars: Record<string, string>;
  vectorize: { binding: string; indexName: string }[];
  kv: { binding: string; id: string | null; title: string; table: TableRef }[];
  r2: { binding: string; bucketName: string }[];
  d1: { binding: string; databaseName: string; databaseId: string | null; table: TableRef }[];
  producers: { binding: string; queue: string }[];
  consumers: { queue: string; deadLetterQueue: string | null }[];
  drift: string[];
  limits: string[];
  routes: string[];
};

export type ObservedState = {
  known: boolean;
  vectorize: Record<
    string,
    {
      dimensions: number | null;
      metric: string | null;
      metadataIndexes: Record<string, string>;
    }
  >;
  kvNamespaces: { id: string; title: string }[];
  /** readReplication: the database's read replication mode ("auto", "disabled"), when known. */
  d1Databases: { uuid: string; name: string; readReplication?: string }[];
  queues: string[];
  r2Buckets: string[];
  r2Notifications: Record<string, { queue: string; prefix: string; suffix: string; actions: string[] }[]>;
  secrets: string[];
};

export type StepStatus = "exists" | "create" | "update" | "run" | "conflict" | "warn";

export type Step = {
  key: string;
  kind:
    | "vectorize-index"
    | "metadata-index"
    | "kv"
    | "d1"
    | "d1-migrations"
    | "d1-replication"
    | "queue"
    | "r2-bucket"
    | "r2-notification"
    | "config-id"
    | "secret"
    | "check";
  title: string;
  status: StepStatus;
  command?: string[];
  note?: string;
  configEdit?: {
    table: TableRef;
    key: string;
    value?: string;
    lookup?: { kind: "kv"; title: string } | { kind: "d1"; name: string };
  };
  secret?: { name: string; required: boolean };
  /** A Cloudflare API call wrangler has no command for, on the D1 database of that name. */
  api?: { method: "PUT"; database: string; body: Record<string, unknown> };
  enablesIngest?: boolean;
};

/**
 * D1 read replication: replicas near the readers serve the Worker's reads made through a D1
 * session (withSession). Enabled per database with the REST API, PUT
 * /accounts/{account_id}/d1/database/{database_id} with {"read_replication": {"mode": "auto"}}
 * (https://developers.cloudflare.com/d1/best-practices/read-replication/, step 1;
 * https://developers.cloudflare.com/api/resources/d1/subresources/database/methods/update/).
 * wrangler 4.156 has no command for it (its bundled SDK's `d1.database.update` is not exposed)
 * and only shows the mode: `wrangler d1 info NAME --json`, field read_replication.mode.
 */
export const READ_REPLICATION = { read_replication: { mode: "auto" } } as const;

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const tables = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isTable) : []);
const str = (v: unknown) => (typeof v === "string" ? v : "");

/** A placeholder id (all zeros, or empty) means "not created yet". */
export function isPlaceholderId(id: string | null | undefined) {
  return !id || /^[0-]+$/.test(id);
}

/**
 * The resources one environment of a parsed wrangler.toml declares. Bindings are not inherited
 * into [env.x] sections (wrangler's rule), so an environment's come from its own section only.
 * @param data parsed wrangler.toml
 */
export function resolveEnvironment(data: Record<string, unknown>, env: string | null): ProvisionConfig {
  const envs = isTable(data.env) ? data.env : {};
  const section = env === null ? data : envs[env];
  if (!isTable(section)) {
    const known = Object.keys(envs);
    throw new Error(
      `wrangler.toml has no [env.${env}] section${known.length > 0 ? ` (environments: ${known.join(", ")})` : ""}`,
    );
  }
  const base = str(data.name);
  const workerName = env === null ? base : str(section.name) || `${base}-${env}`;
  const prefix = env === null ? [] : ["env", env];
  const vars = Object.fromEntries(
    Object.entries(isTable(section.vars) ? section.vars : {}).map(([k, v]) => [k, String(v)]),
  ) as Record<string, string>;
  const queues = isTable(section.queues) ? section.queues : {};

  const drift: string[] = [];
  if (env !== null) {
    for (const kind of NON_INHERITED) {
      if (data[kind] !== undefined && section[kind] === undefined) {
        drift.push(`[env.${env}] does not repeat "${kind}": wrangler does not inherit it, so it has none`);
      }
    }
    const topVars = isTable(data.vars) ? Object.keys(data.vars) : [];
    const missing = topVars.filter((k) => !(k in vars));
    if (isTable(section.vars) && missing.length > 0) {
      drift.push(`[env.${env}.vars] lacks ${missing.join(", ")} (vars are not inherited)`);
    }
  }

  return {
    env,
    workerName,
    vars,
    vectorize: tables(section.vectorize).map((t) => ({
      binding: str(t.binding),
      indexName: str(t.index_name),
    })),
    kv: tables(section.kv_namespaces).map((t, index) => ({
      binding: str(t.binding),
      id: isPlaceholderId(str(t.id)) ? null : str(t.id),
      title: `${workerName}-${str(t.binding).toLowerCase().replace(/_/g, "-")}`,
      table: { path: [...prefix, "kv_namespaces"], index },
    })),
    r2: tables(section.r2_buckets).map((t) => ({ binding: str(t.binding), bucketName: str(t.bucket_name) })),
    d1: tables(section.d1_databases).map((t, index) => ({
      binding: str(t.binding),
      databaseName: str(t.database_name),
      databaseId: isPlaceholderId(str(t.database_id)) ? null : str(t.database_id),
      table: { path: [...prefix, "d1_databases"], index },
    })),
    producers: tables(queues.producers).map((t) => ({ binding: str(t.binding), queue: str(t.queue) })),
    consumers: tables(queues.consumers).map((t) => ({
      queue: str(t.queue),
      deadLetterQueue: str(t.dead_letter_queue) || null,
    })),
    drift,
    limits: configLimitProblems(section, SECRETS.length),
    routes: routePatterns(
      section.routes ?? section.route ?? (env === null ? undefined : (data.routes ?? data.route)),
    ),
  };
}

/**
 * The patterns of a section's `route` / `routes` (strings or `{ pattern, ... }` tables). Wrangler
 * inherits both into an [env.x] section that sets neither.
 */
function routePatterns(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list
    .map((r) => (typeof r === "string" ? r : isTable(r) ? str(r.pattern) : ""))
    .filter((p) => p !== "");
}

/** @returns what a dry run without --state assumes: nothing exists */
export function emptyState(): ObservedState {
  return {
    known: false,
    vectorize: {},
    kvNamespaces: [],
    d1Databases: [],
    queues: [],
    r2Buckets: [],
    r2Notifications: {},
    secrets: [],
  };
}

/**
 * Reads a --state fixture (the ObservedState shape; every field optional).
 */
export function stateFromJson(raw: unknown): ObservedState {
  if (!isTable(raw)) throw new Error("the state file must hold a JSON object");
  const state = emptyState();
  state.known = true;
  const strings: (v: unknown) => string[] = (v): string[] =>
    Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];
  for (const [name, index] of Object.entries(isTable(raw.vectorize) ? raw.vectorize : {})) {
    const i = isTable(index) ? index : {};
    state.vectorize[name] = {
      dimensions: typeof i.dimensions === "number" ? i.dimensions : null,
      metric: typeof i.metric === "string" ? i.metric : null,
      metadataIndexes: (isTable(i.metadataIndexes) ? i.metadataIndexes : {}) as Record<string, string>,
    };
  }
  state.kvNamespaces = tables(raw.kvNamespaces).map((n) => ({ id: str(n.id), title: str(n.title) }));
  state.d1Databases = tables(raw.d1Databases).map((d) => ({
    uuid: str(d.uuid),
    name: str(d.name),
    ...(typeof d.readReplication === "string" ? { readReplication: d.readReplication } : {}),
  }));
  state.queues = strings(raw.queues);
  state.r2Buckets = strings(raw.r2Buckets);
  for (const [bucket, rules] of Object.entries(isTable(raw.r2Notifications) ? raw.r2Notifications : {})) {
    state.r2Notifications[bucket] = tables(rules).map((r) => ({
      queue: str(r.queue),
      prefix: str(r.prefix),
      suffix: str(r.suffix),
      actions: strings(r.actions),
    }));
  }
  state.secrets = strings(raw.secrets);
  return state;
}

/**
 * The ordered provisioning steps. Metadata indexes come right after their Vectorize index and
 * before anything that lets a document reach the ingest consumer (queues, the R2 notification
 * rule): Vectorize only filters on vectors inserted after a field's index exists.
 */
export function planProvision(
  config: ProvisionConfig,
  state: ObservedState,
  options: { fieldTypes?: Record<string, string>; readReplication?: boolean } = {},
): Step[] {
  const fieldTypes = { ...DEFAULT_FIELD_TYPES, ...options.fieldTypes };
  const replication = options.readReplication ?? true;
  const envArgs = config.env === null ? [] : ["--env", config.env];
  return [
    ...configChecks(config),
    ...vectorizeSteps(config, state, fieldTypes),
    ...kvSteps(config, state),
    ...d1Steps(config, state, envArgs, replication),
    ...queueSteps(config, state),
    ...r2Steps(config, state),
    ...secretSteps(config, state, envArgs),
  ];
}

/** Drift between environments, platform limits, and a Worker without a route. */
function configChecks(config: ProvisionConfig): Step[] {
  const steps: Step[] = [];
  for (const message of config.drift) {
    steps.push({ key: `check:${message}`, kind: "check", title: message, status: "warn" });
  }
  // Over a platform limit: wrangler deploy, or the platform at runtime, would refuse it.
  for (const message of config.limits) {
    steps.push({ key: `check:limit:${message}`, kind: "check", title: message, status: "conflict" });
  }
  // Cache API operations have no effect on *.workers.dev
  // (https://developers.cloudflare.com/workers/runtime-apis/cache/): without a route or custom
  // domain, the result cache is the isolate LRU alone (generations and embeddings stay in KV).
  if (config.routes.length === 0) {
    steps.push({
      key: "check:route",
      kind: "check",
      title: `${config.workerName} has no route or custom domain: served on *.workers.dev only, where the result cache's Cache API layer is inactive (answers are cached in each isolate's LRU, generations and embeddings in KV)`,
      status: "warn",
      note: 'set routes = [{ pattern = "search.example.com", custom_domain = true }] in its section (docs/runbooks/deploy.md, custom domain)',
    });
  }
  return steps;
}

/** Comma-separated names of a var, trimmed, without empty ones. */
const listVar = (value: string | undefined) =>
  (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");

/** Each Vectorize index (bound ones and VECTORIZE_SHARDS), then its metadata indexes. */
function vectorizeSteps(
  config: ProvisionConfig,
  state: ObservedState,
  fieldTypes: Readonly<Record<string, string>>,
): Step[] {
  const defaultModel = config.vars.EMBEDDING_MODEL || DEFAULT_EMBEDDING_MODEL;
  const fields = [...new Set(listVar(config.vars.FILTERABLE_FIELDS))];
  // Shard indexes (VECTORIZE_SHARDS) take new namespaces of the default version: EMBEDDING_MODEL's
  // size. One without a binding is still created, with a warning (the Worker refuses to start).
  const shards = listVar(config.vars.VECTORIZE_SHARDS);
  const bound = new Set(config.vectorize.map((v) => v.indexName));
  const indexes: { indexName: string; binding: string | null }[] = [
    ...config.vectorize,
    ...shards
      .filter((name) => !bound.has(name) && name !== config.vars.VECTORIZE_INDEX_NAME)
      .map((indexName) => ({ indexName, binding: null })),
  ];
  return indexes.flatMap(({ indexName, binding }) => {
    const observed = state.vectorize[indexName];
    const steps: Step[] = [];
    if (binding === null) {
      steps.push({
        key: `check:shard-binding:${indexName}`,
        kind: "check",
        title: `VECTORIZE_SHARDS lists "${indexName}", which has no [[vectorize]] binding: bind it and list it in VECTORIZE_INDEXES`,
        status: "warn",
      });
    }
    const isDefault = binding === "VECTORIZE" || indexName === config.vars.VECTORIZE_INDEX_NAME;
    const model = isDefault || shards.includes(indexName) ? defaultModel : modelSizedBy(indexName);
    steps.push(indexStep(indexName, model, isDefault, observed));
    if (MODEL_DIMENSIONS[model] === undefined) return steps;
    if (
      binding === "VECTORIZE" &&
      config.vars.VECTORIZE_INDEX_NAME &&
      config.vars.VECTORIZE_INDEX_NAME !== indexName
    ) {
      steps.push({
        key: `check:vectorize-name:${indexName}`,
        kind: "check",
        title: `VECTORIZE_INDEX_NAME is "${config.vars.VECTORIZE_INDEX_NAME}" but the binding's index_name is "${indexName}"`,
        status: "warn",
      });
    }
    steps.push(...metadataIndexSteps(indexName, fields, fieldTypes, observed));
    return steps;
  });
}

/**
 * The model an index that does not serve EMBEDDING_MODEL (VECTORIZE_INDEXES, for index versions
 * of other models) is sized for: the one whose size its name ends with (-384, -768, -1024).
 */
function modelSizedBy(indexName: string) {
  const sized = /-(\d+)$/.exec(indexName)?.[1];
  const sizedModel = Object.keys(MODEL_DIMENSIONS).find((m) => String(MODEL_DIMENSIONS[m]) === sized);
  return sizedModel ?? "an unknown model";
}

/** The index itself: exists, to create, or in conflict with the model's size. */
function indexStep(
  indexName: string,
  model: string,
  isDefault: boolean,
  observed: ObservedState["vectorize"][string] | undefined,
): Step {
  const dimensions = MODEL_DIMENSIONS[model];
  const title = `Vectorize index ${indexName} (${dimensions ?? "?"} dimensions, cosine, for ${model})`;
  const key = `vectorize:${indexName}`;
  if (dimensions === undefined) {
    return {
      key,
      kind: "vectorize-index",
      title,
      status: "conflict",
      note: isDefault
        ? `EMBEDDING_MODEL "${model}" is not one of ${Object.keys(MODEL_DIMENSIONS).join(", ")}`
        : "cannot tell this index's dimensions: end its name with -384, -768 or -1024, or create it by hand",
    };
  }
  if (observed) {
    const mismatch = observed.dimensions !== null && observed.dimensions !== dimensions;
    return {
      key,
      kind: "vectorize-index",
      title,
      status: mismatch ? "conflict" : "exists",
      ...(mismatch
        ? {
            note: `the index has ${observed.dimensions} dimensions, ${model} needs ${dimensions}: use another index name`,
          }
        : {}),
    };
  }
  return {
    key,
    kind: "vectorize-index",
    title,
    status: "create",
    command: ["vectorize", "create", indexName, `--dimensions=${dimensions}`, "--metric=cosine"],
  };
}

/** One metadata index per FILTERABLE_FIELDS entry, within Vectorize's limit. */
function metadataIndexSteps(
  indexName: string,
  fields: string[],
  fieldTypes: Readonly<Record<string, string>>,
  observed: ObservedState["vectorize"][string] | undefined,
): Step[] {
  if (fields.length > MAX_METADATA_INDEXES) {
    return [
      {
        key: `metadata:${indexName}:limit`,
        kind: "metadata-index",
        title: `metadata indexes on ${indexName}`,
        status: "conflict",
        note: `FILTERABLE_FIELDS names ${fields.length} fields; Vectorize indexes at most ${MAX_METADATA_INDEXES}`,
      },
    ];
  }
  const steps: Step[] = [];
  // The document id field is read back from vectors, never filtered on: it needs no metadata
  // index, and one left from earlier deployments only takes a slot.
  if (observed?.metadataIndexes[DOC_ID_FIELD] !== undefined && !fields.includes(DOC_ID_FIELD)) {
    steps.push({
      key: `check:unused-metadata-index:${indexName}:${DOC_ID_FIELD}`,
      kind: "check",
      title: `the metadata index ${DOC_ID_FIELD} on ${indexName} is not used: delete it to free a slot (npx wrangler vectorize delete-metadata-index ${indexName} --propertyName=${DOC_ID_FIELD})`,
      status: "warn",
    });
  }
  for (const field of fields) {
    const type = fieldTypes[field] ?? "string";
    const existing = observed?.metadataIndexes[field];
    const title = `metadata index ${field} (${type}) on ${indexName}`;
    const key = `metadata:${indexName}:${field}`;
    if (existing !== undefined) {
      steps.push({
        key,
        kind: "metadata-index",
        title,
        status: existing === type ? "exists" : "conflict",
        ...(existing === type
          ? {}
          : { note: `indexed as ${existing}; delete and recreate it, then re-ingest, to change its type` }),
      });
      continue;
    }
    steps.push({
      key,
      kind: "metadata-index",
      title,
      status: "create",
      command: ["vectorize", "create-metadata-index", indexName, `--propertyName=${field}`, `--type=${type}`],
      ...(observed
        ? {
            note: "vectors already in the index are not filterable on this field until they are re-ingested",
          }
        : {}),
    });
  }
  return steps;
}

/** KV namespaces: found by the id in wrangler.toml, else by title; a created one's id is written back. */
function kvSteps(config: ProvisionConfig, state: ObservedState): Step[] {
  const steps: Step[] = [];
  for (const kv of config.kv) {
    const title = `KV namespace ${kv.title} (binding ${kv.binding})`;
    const byId = kv.id === null ? undefined : state.kvNamespaces.find((n) => n.id === kv.id);
    const byTitle = state.kvNamespaces.find((n) => n.title === kv.title);
    const idStep = (configEdit: Step["configEdit"]) => ({
      key: `config:kv:${kv.binding}`,
      kind: "config-id" as const,
      title: `wrangler.toml: id of KV binding ${kv.binding}`,
      status: "update" as const,
      configEdit,
    });
    if (byId) {
      steps.push({ key: `kv:${kv.binding}`, kind: "kv", title, status: "exists" });
    } else if (kv.id !== null && state.known) {
      steps.push({
        key: `kv:${kv.binding}`,
        kind: "kv",
        title,
        status: "conflict",
        note: `wrangler.toml names id ${kv.id}, which this account does not have; fix it, or reset it to zeros to create one`,
      });
    } else if (byTitle) {
      steps.push({ key: `kv:${kv.binding}`, kind: "kv", title, status: "exists" });
      steps.push(idStep({ table: kv.table, key: "id", value: byTitle.id }));
    } else {
      steps.push({
        key: `kv:${kv.binding}`,
        kind: "kv",
        title,
        status: "create",
        command: ["kv", "namespace", "create", kv.title],
      });
      steps.push(idStep({ table: kv.table, key: "id", lookup: { kind: "kv", title: kv.title } }));
    }
  }
  return steps;
}

/**
 * Each D1 database (the control database and every pool member), its migrations (which need the
 * database_id in wrangler.toml: every member gets the same ones), then its read replication.
 */
function d1Steps(
  config: ProvisionConfig,
  state: ObservedState,
  envArgs: string[],
  replication: boolean,
): Step[] {
  const steps: Step[] = [];
  for (const db of config.d1) {
    const title = `D1 database ${db.databaseName} (binding ${db.binding})`;
    const byId = db.databaseId === null ? undefined : state.d1Databases.find((d) => d.uuid === db.databaseId);
    const byName = state.d1Databases.find((d) => d.name === db.databaseName);
    const idStep = (configEdit: Step["configEdit"]) => ({
      key: `config:d1:${db.binding}`,
      kind: "config-id" as const,
      title: `wrangler.toml: database_id of D1 binding ${db.binding}`,
      status: "update" as const,
      configEdit,
    });
    if (byId) {
      steps.push({ key: `d1:${db.binding}`, kind: "d1", title, status: "exists" });
    } else if (db.databaseId !== null && state.known) {
      steps.push({
        key: `d1:${db.binding}`,
        kind: "d1",
        title,
        status: "conflict",
        note: `wrangler.toml names database_id ${db.databaseId}, which this account does not have; fix it, or reset it to zeros to create one`,
      });
      continue;
    } else if (byName) {
      steps.push({ key: `d1:${db.binding}`, kind: "d1", title, status: "exists" });
      steps.push(idStep({ table: db.table, key: "database_id", value: byName.uuid }));
    } else {
      steps.push({
        key: `d1:${db.binding}`,
        kind: "d1",
        title,
        status: "create",
        command: ["d1", "create", db.databaseName],
      });
      steps.push(
        idStep({ table: db.table, key: "database_id", lookup: { kind: "d1", name: db.databaseName } }),
      );
    }
    steps.push({
      key: `d1-migrations:${db.binding}`,
      kind: "d1-migrations",
      title: `D1 migrations on ${db.databaseName}`,
      status: "run",
      command: ["d1", "migrations", "apply", db.binding, "--remote", ...envArgs],
      note: "applies only the migrations the database has not recorded yet",
    });
    if (replication) steps.push(replicationStep(db, byId ?? byName));
  }
  return steps;
}

/** Read replication on one database: left alone when already "auto". */
function replicationStep(
  db: ProvisionConfig["d1"][number],
  observed: ObservedState["d1Databases"][number] | undefined,
): Step {
  const title = `D1 read replication on ${db.databaseName} (mode auto)`;
  const key = `d1-replication:${db.binding}`;
  if (observed?.readReplication === "auto") return { key, kind: "d1-replication", title, status: "exists" };
  return {
    key,
    kind: "d1-replication",
    title,
    status: "update",
    api: { method: "PUT", database: db.databaseName, body: READ_REPLICATION },
    note: "Cloudflare API: wrangler has no command for it; reads through a D1 session go to a nearby replica",
  };
}

/** Queues: what the producers send to, what the consumers read, and their dead-letter queues. */
function queueSteps(config: ProvisionConfig, state: ObservedState): Step[] {
  const steps: Step[] = [];
  const queueNames = [
    ...new Set(
      [
        ...config.producers.map((p) => p.queue),
        ...config.consumers.flatMap((c) => [c.queue, c.deadLetterQueue ?? ""]),
      ].filter((q) => q !== ""),
    ),
  ];
  const deadLetterQueues = new Set(config.consumers.map((c) => c.deadLetterQueue));
  for (const queue of queueNames) {
    const title = `queue ${queue}${deadLetterQueues.has(queue) ? " (dead letters)" : ""}`;
    steps.push(
      state.queues.includes(queue)
        ? { key: `queue:${queue}`, kind: "queue", title, status: "exists" }
        : {
            key: `queue:${queue}`,
            kind: "queue",
            title,
            status: "create",
            command: ["queues", "create", queue],
            enablesIngest: true,
          },
    );
  }
  return steps;
}

/**
 * R2 buckets, then the documents bucket's event notifications to the ingest queue. The backups
 * bucket gets no rule: a rule without prefix or suffix covers every object of its bucket
 * (https://developers.cloudflare.com/r2/buckets/event-notifications/, "Notes"), and backup
 * parts are not documents.
 */
function r2Steps(config: ProvisionConfig, state: ObservedState): Step[] {
  const steps: Step[] = [];
  for (const { bucketName, binding } of config.r2) {
    const title = `R2 bucket ${bucketName} (binding ${binding})`;
    steps.push(
      state.r2Buckets.includes(bucketName)
        ? { key: `r2:${bucketName}`, kind: "r2-bucket", title, status: "exists" }
        : {
            key: `r2:${bucketName}`,
            kind: "r2-bucket",
            title,
            status: "create",
            command: ["r2", "bucket", "create", bucketName],
          },
    );
  }
  const documents = config.r2.find((b) => b.binding === "DOCUMENTS") ?? config.r2[0];
  const ingest = config.producers.find((p) => p.binding === "INGEST_QUEUE") ?? config.producers[0];
  steps.push(...bucketChecks(config, state, documents, ingest));
  if (documents && ingest) steps.push(documentsNotificationStep(config, state, documents, ingest));
  return steps;
}

type Bucket = ProvisionConfig["r2"][number];
type Producer = ProvisionConfig["producers"][number];

/** The documents bucket's name as the consumer knows it, and a backups bucket kept apart. */
function bucketChecks(
  config: ProvisionConfig,
  state: ObservedState,
  documents: Bucket | undefined,
  ingest: Producer | undefined,
): Step[] {
  const steps: Step[] = [];
  const backups = config.r2.find((b) => b.binding === "BACKUPS");
  const named = config.vars.DOCUMENTS_BUCKET_NAME || DEFAULT_DOCUMENTS_BUCKET;
  if (documents && named !== documents.bucketName) {
    steps.push({
      key: "check:documents-bucket-name",
      kind: "check",
      title: `DOCUMENTS_BUCKET_NAME is "${named}" but the DOCUMENTS binding's bucket_name is "${documents.bucketName}": the ingest consumer would ignore every notification of the documents bucket`,
      status: "warn",
    });
  }
  if (backups && documents && backups.bucketName === documents.bucketName) {
    steps.push({
      key: "check:backups-bucket",
      kind: "check",
      title: `BACKUPS and DOCUMENTS are both bucket ${backups.bucketName}: backups need a bucket of their own, without event notifications`,
      status: "conflict",
    });
  } else if (backups && ingest) {
    const rules = (state.r2Notifications[backups.bucketName] ?? []).filter((r) => r.queue === ingest.queue);
    if (rules.length > 0) {
      steps.push({
        key: "check:backups-notification",
        kind: "check",
        title: `R2 event notifications: ${backups.bucketName} (backups) -> queue ${ingest.queue}`,
        status: "conflict",
        note: `backup parts would reach the ingest queue; remove the rule (wrangler r2 bucket notification delete ${backups.bucketName} --queue ${ingest.queue}) and run again`,
      });
    }
  }
  return steps;
}

/** The documents bucket's event notification rule to the ingest queue. */
function documentsNotificationStep(
  config: ProvisionConfig,
  state: ObservedState,
  documents: Bucket,
  ingest: Producer,
): Step {
  const { eventTypes, prefix, suffix } = NOTIFICATION_RULE;
  const filters = [...(prefix ? [`prefix ${prefix}`] : []), ...(suffix ? [`suffix ${suffix}`] : [])];
  const title = `R2 event notifications: ${documents.bucketName} (${[...eventTypes, ...filters].join(", ")}) -> queue ${ingest.queue}`;
  const rules = (state.r2Notifications[documents.bucketName] ?? []).filter((r) => r.queue === ingest.queue);
  const wanted = eventTypes.flatMap((t) => notificationRule.actionsByEventType[t]);
  const complete = rules.some(
    (r) => r.prefix === prefix && r.suffix === suffix && wanted.every((a) => r.actions.includes(a)),
  );
  const notifications = config.vars.R2_NOTIFICATIONS === "true" || config.vars.R2_NOTIFICATIONS === "1";
  const doubled = notifications
    ? undefined
    : 'R2_NOTIFICATIONS is not "true" here, so the API also enqueues each write it makes and those documents are ingested twice (idempotent, but it costs); set it to "true"';
  if (complete) {
    return {
      key: "r2-notification",
      kind: "r2-notification",
      title,
      status: "exists",
      ...(doubled ? { note: doubled } : {}),
    };
  }
  if (rules.length > 0) {
    return {
      key: "r2-notification",
      kind: "r2-notification",
      title,
      status: "conflict",
      note: `a rule for this queue exists but differs from the planned one (event types, prefix, suffix); remove it (wrangler r2 bucket notification delete ${documents.bucketName} --queue ${ingest.queue}) and run again`,
    };
  }
  return {
    key: "r2-notification",
    kind: "r2-notification",
    title,
    status: "create",
    command: [
      "r2",
      "bucket",
      "notification",
      "create",
      documents.bucketName,
      "--event-types",
      ...eventTypes,
      ...(prefix ? ["--prefix", prefix] : []),
      ...(suffix ? ["--suffix", suffix] : []),
      "--queue",
      ingest.queue,
    ],
    enablesIngest: true,
    ...(doubled ? { note: doubled } : {}),
  };
}

/** Secrets last: putting one creates a draft Worker when none is deployed yet. */
function secretSteps(config: ProvisionConfig, state: ObservedState, envArgs: string[]): Step[] {
  const steps: Step[] = [];
  for (const secret of SECRETS) {
    const title = `secret ${secret.name} of Worker ${config.workerName}${secret.required ? "" : " (optional)"}`;
    steps.push(
      state.secrets.includes(secret.name)
        ? { key: `secret:${secret.name}`, kind: "secret", title, status: "exists" }
        : {
            key: `secret:${secret.name}`,
            kind: "secret",
            title,
            status: "create",
            command: ["secret", "put", secret.name, ...envArgs],
            secret: { name: secret.name, required: secret.required },
            note: `value from $${secret.name} or a hidden prompt${secret.required ? "" : " (Enter skips)"}, passed on stdin`,
          },
    );
  }
  return steps;
}

/**
 * A command line as a shell would need it typed.
 */
export function shellCommand(args: string[]) {
  return ["npx", "wrangler", ...args]
    .map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
    .join(" ");
}

/**
 * An API step as the curl command that does the same, with the account and database ids to fill.
 */
export function apiCommand(api: NonNullable<Step["api"]>) {
  return `curl -X ${api.method} https://api.cloudflare.com/client/v4/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/<uuid of ${api.database}> -H "authorization: Bearer $CLOUDFLARE_API_TOKEN" -H "content-type: application/json" -d '${JSON.stringify(api.body)}'`;
}

const LABELS = {
  exists: ["exists", "exists"],
  create: ["would create", "create"],
  update: ["would update", "update"],
  run: ["would run", "run"],
  conflict: ["CONFLICT", "CONFLICT"],
  warn: ["warning", "warning"],
} as Record<StepStatus, [string, string]>;

/**
 * The plan as text: one line per step with its status, the command it runs, and why.
 */
export function formatPlan(
  config: ProvisionConfig,
  steps: Step[],
  { dryRun, stateKnown }: { dryRun: boolean; stateKnown: boolean },
) {
  const where = config.env === null ? "the top-level environment" : `environment "${config.env}"`;
  const lines = [
    `Provisioning Worker ${config.workerName} (${where})${
      dryRun
        ? stateKnown
          ? ": dry run against the given state"
          : ": dry run; Cloudflare not asked, so every resource is assumed missing"
        : ""
    }`,
  ];
  const width = Math.max(...Object.values(LABELS).map(([d]) => d.length));
  steps.forEach((step, i) => {
    const label = LABELS[step.status][dryRun ? 0 : 1];
    lines.push(`${String(i + 1).padStart(3)}. ${label.padEnd(width)}  ${step.title}`);
    const pad = " ".repeat(width + 7);
    if (step.command && step.status !== "exists") lines.push(`${pad}$ ${shellCommand(step.command)}`);
    if (step.api && step.status !== "exists") lines.push(`${pad}$ ${apiCommand(step.api)}`);
    if (step.configEdit) {
      const at = [...step.configEdit.table.path].join(".");
      const value =
        step.configEdit.value ??
        (step.configEdit.lookup?.kind === "kv"
          ? `<id of ${step.configEdit.lookup.title}>`
          : `<uuid of ${step.configEdit.lookup?.name}>`);
      lines.push(`${pad}set ${at}[${step.configEdit.table.index}].${step.configEdit.key} = ${value}`);
    }
    if (step.note) lines.push(`${pad}(${step.note})`);
  });
  return lines.join("\n");
}
