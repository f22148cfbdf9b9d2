// Type declarations for provision-plan.mjs, so TypeScript callers (the unit tests) import it typed.
export declare const MODEL_DIMENSIONS: Readonly<Record<string, number>>;
export declare const DEFAULT_EMBEDDING_MODEL: string;
export declare const DOC_ID_FIELD: string;
export declare const MAX_METADATA_INDEXES: number;
export declare const DEFAULT_FIELD_TYPES: Readonly<Record<string, "string" | "number" | "boolean">>;
export declare const SECRETS: readonly { readonly name: string; readonly required: boolean }[];
export declare const DEFAULT_DOCUMENTS_BUCKET: string;
export declare const NOTIFICATION_RULE: {
  eventTypes: ("object-create" | "object-delete")[];
  prefix: string;
  suffix: string;
};
export declare const CREATE_ACTIONS: string[];
export declare const DELETE_ACTIONS: string[];

export interface TableRef {
  path: string[];
  index: number | null;
}
export interface ProvisionConfig {
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
  /** What the environment declares beyond a platform limit (config-limits.mjs). */
  limits: string[];
  /** The route / custom domain patterns (none: served on *.workers.dev only). */
  routes: string[];
}
export interface ObservedState {
  known: boolean;
  vectorize: Record<
    string,
    { dimensions: number | null; metric: string | null; metadataIndexes: Record<string, string> }
  >;
  kvNamespaces: { id: string; title: string }[];
  d1Databases: { uuid: string; name: string }[];
  queues: string[];
  r2Buckets: string[];
  r2Notifications: Record<string, { queue: string; prefix: string; suffix: string; actions: string[] }[]>;
  secrets: string[];
}
export type StepStatus = "exists" | "create" | "update" | "run" | "conflict" | "warn";
export interface Step {
  key: string;
  kind:
    | "vectorize-index"
    | "metadata-index"
    | "kv"
    | "d1"
    | "d1-migrations"
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
  enablesIngest?: boolean;
}
export declare function isPlaceholderId(id: string | null | undefined): boolean;
export declare function resolveEnvironment(
  data: Record<string, unknown>,
  env: string | null,
): ProvisionConfig;
export declare function emptyState(): ObservedState;
export declare function stateFromJson(raw: unknown): ObservedState;
export declare function planProvision(
  config: ProvisionConfig,
  state: ObservedState,
  options?: { fieldTypes?: Record<string, string> },
): Step[];
export declare function shellCommand(args: string[]): string;
export declare function formatPlan(
  config: ProvisionConfig,
  steps: Step[],
  mode: { dryRun: boolean; stateKnown: boolean },
): string;
