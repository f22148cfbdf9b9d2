// `npm run provision`: the plan it makes from wrangler.toml and what the account holds, the ids
// it writes back into wrangler.toml, and how it reads wrangler's list commands. All pure, the way
// --dry-run runs: nothing here reaches Cloudflare.
import { describe, expect, it } from "vitest";
import {
  parseAuthToken,
  parseD1List,
  parseD1ReadReplication,
  parseKvList,
  parseMetadataIndexes,
  parseNotificationRules,
  parseQueueList,
  parseR2BucketList,
  parseSecretList,
  parseVectorizeList,
  parseWhoamiAccounts,
} from "../../scripts/lib/provision-parse.ts";
import {
  emptyState,
  formatPlan,
  MODEL_DIMENSIONS,
  type ObservedState,
  planProvision,
  resolveEnvironment,
  type Step,
  stateFromJson,
} from "../../scripts/lib/provision-plan.ts";
import { parseToml, setTomlString } from "../../scripts/lib/provision-toml.ts";
import { EMBEDDING_MODELS } from "../../src/embed/embedder";
import wranglerToml from "../../wrangler.toml?raw";

const STAGING_TOML = `# a comment that must survive
name = "edgesearch"
main = "workers/index.ts"

[vars]
EMBEDDING_MODEL = "@cf/baai/bge-base-en-v1.5"
FILTERABLE_FIELDS = "category,year"

[[kv_namespaces]]
binding = "KV"
id = "00000000000000000000000000000000"

[env.staging]
routes = [{ pattern = "search-staging.example.com", custom_domain = true }]

[env.staging.vars]
EMBEDDING_MODEL = "@cf/baai/bge-small-en-v1.5"
VECTORIZE_INDEX_NAME = "edgesearch-staging-bge-small-384"
FILTERABLE_FIELDS = "category, year"   # trailing comment
R2_NOTIFICATIONS = "true"
DOCUMENTS_BUCKET_NAME = "edgesearch-staging-documents"

[[env.staging.vectorize]]
binding = "VECTORIZE"
index_name = "edgesearch-staging-bge-small-384"

[[env.staging.kv_namespaces]]
binding = "KV"
id = "00000000000000000000000000000000" # filled in by npm run provision

[[env.staging.d1_databases]]
binding = "DB"
database_name = "edgesearch-staging"
database_id = "00000000-0000-0000-0000-000000000000"
migrations_dir = "migrations"

[[env.staging.r2_buckets]]
binding = "DOCUMENTS"
bucket_name = "edgesearch-staging-documents"

[[env.staging.r2_buckets]]
binding = "BACKUPS"
bucket_name = "edgesearch-staging-backups"

[[env.staging.queues.producers]]
binding = "INGEST_QUEUE"
queue = "edgesearch-staging-ingest"

[[env.staging.queues.consumers]]
queue = "edgesearch-staging-ingest"
dead_letter_queue = "edgesearch-staging-ingest-dlq"

[[env.staging.queues.consumers]]
queue = "edgesearch-staging-ingest-dlq"
`;

const staging = () => resolveEnvironment(parseToml(STAGING_TOML).data, "staging");

/** What the account holds once everything of the staging section exists. */
function provisionedStaging(): ObservedState {
  return stateFromJson({
    vectorize: {
      "edgesearch-staging-bge-small-384": {
        dimensions: 384,
        metric: "cosine",
        metadataIndexes: { category: "string", year: "number" },
      },
    },
    kvNamespaces: [{ id: "0f2ac74b498b48028cb68387c421e279", title: "edgesearch-staging-kv" }],
    d1Databases: [
      { uuid: "5b6c1f0e-8d7a-4c3b-9e2f-1a0b9c8d7e6f", name: "edgesearch-staging", readReplication: "auto" },
    ],
    queues: ["edgesearch-staging-ingest", "edgesearch-staging-ingest-dlq"],
    r2Buckets: ["edgesearch-staging-documents", "edgesearch-staging-backups"],
    r2Notifications: {
      "edgesearch-staging-documents": [
        {
          queue: "edgesearch-staging-ingest",
          prefix: "",
          suffix: "",
          actions: [
            "PutObject",
            "CompleteMultipartUpload",
            "CopyObject",
            "DeleteObject",
            "LifecycleDeletion",
          ],
        },
      ],
    },
    secrets: ["ADMIN_API_KEY", "BACKUP_SIGNING_KEY", "SENTRY_DSN", "ANALYTICS_API_TOKEN"],
  });
}

const creates = (steps: Step[]) => steps.filter((s) => s.status === "create");
const indexOf = (steps: Step[], key: string) => steps.findIndex((s) => s.key === key);

describe("provision plan", () => {
  it("creates everything in order on an empty account, metadata indexes before anything can ingest", () => {
    const steps = planProvision(staging(), emptyState());
    const metadata = steps.filter((s) => s.kind === "metadata-index");
    expect(metadata.map((s) => s.command)).toEqual([
      [
        "vectorize",
        "create-metadata-index",
        "edgesearch-staging-bge-small-384",
        "--propertyName=category",
        "--type=string",
      ],
      [
        "vectorize",
        "create-metadata-index",
        "edgesearch-staging-bge-small-384",
        "--propertyName=year",
        "--type=number",
      ],
    ]);
    // The document id rides on every vector but is never filtered on: it takes no slot.
    expect(steps.filter((s) => s.key.endsWith(":_doc"))).toEqual([]);
    // Dimensions follow the environment's model (bge-small: 384), not the top level's.
    expect(steps[0]?.command).toEqual([
      "vectorize",
      "create",
      "edgesearch-staging-bge-small-384",
      "--dimensions=384",
      "--metric=cosine",
    ]);
    const lastMetadata = Math.max(...metadata.map((s) => steps.indexOf(s)));
    const firstIngest = steps.findIndex((s) => s.enablesIngest === true);
    expect(firstIngest).toBeGreaterThan(-1);
    expect(lastMetadata).toBeLessThan(firstIngest);
    expect(indexOf(steps, "vectorize:edgesearch-staging-bge-small-384")).toBeLessThan(
      indexOf(steps, "metadata:edgesearch-staging-bge-small-384:category"),
    );
    // The database id reaches wrangler.toml before the migrations that need it.
    expect(indexOf(steps, "d1:DB")).toBeLessThan(indexOf(steps, "config:d1:DB"));
    expect(indexOf(steps, "config:d1:DB")).toBeLessThan(indexOf(steps, "d1-migrations:DB"));
    // Queues and the bucket exist before the notification rule that joins them.
    expect(indexOf(steps, "queue:edgesearch-staging-ingest")).toBeLessThan(indexOf(steps, "r2-notification"));
    expect(indexOf(steps, "r2:edgesearch-staging-documents")).toBeLessThan(indexOf(steps, "r2-notification"));
    expect(steps.find((s) => s.key === "r2-notification")?.command).toEqual([
      "r2",
      "bucket",
      "notification",
      "create",
      "edgesearch-staging-documents",
      "--event-types",
      "object-create",
      "object-delete",
      "--queue",
      "edgesearch-staging-ingest",
    ]);
    expect(steps.map((s) => s.key)).toContain("queue:edgesearch-staging-ingest-dlq");
  });

  it("creates nothing twice: a provisioned account only gets its migrations re-applied", () => {
    const steps = planProvision(staging(), provisionedStaging());
    // The ids are not in wrangler.toml yet: they are found by name and written back, not recreated.
    expect(creates(steps)).toEqual([]);
    expect(steps.filter((s) => s.status === "run").map((s) => s.kind)).toEqual(["d1-migrations"]);
    expect(steps.filter((s) => s.kind === "config-id").map((s) => s.configEdit?.value)).toEqual([
      "0f2ac74b498b48028cb68387c421e279",
      "5b6c1f0e-8d7a-4c3b-9e2f-1a0b9c8d7e6f",
    ]);

    // Once the ids are in wrangler.toml there is nothing left to update either.
    let text = STAGING_TOML;
    for (const step of steps.filter((s) => s.configEdit?.value !== undefined)) {
      const edit = step.configEdit;
      if (edit?.value) text = setTomlString(text, edit.table, edit.key, edit.value);
    }
    const again = planProvision(resolveEnvironment(parseToml(text).data, "staging"), provisionedStaging());
    expect(again.filter((s) => s.status !== "exists").map((s) => s.kind)).toEqual(["d1-migrations"]);
  });

  it("creates only what is missing, and only the missing metadata indexes", () => {
    const state = provisionedStaging();
    state.queues = ["edgesearch-staging-ingest"];
    const index = state.vectorize["edgesearch-staging-bge-small-384"];
    if (index) index.metadataIndexes = { category: "string" };
    const steps = planProvision(staging(), state);
    expect(creates(steps).map((s) => s.key)).toEqual([
      "metadata:edgesearch-staging-bge-small-384:year",
      "queue:edgesearch-staging-ingest-dlq",
    ]);
    // Vectors already in the index are not filterable on a field indexed after them: say so.
    expect(steps.find((s) => s.key.endsWith(":year"))?.note).toMatch(/re-ingested/);
  });

  it("leaves a _doc metadata index of an earlier deployment alone, and says how to free its slot", () => {
    const state = provisionedStaging();
    const index = state.vectorize["edgesearch-staging-bge-small-384"];
    if (index) index.metadataIndexes = { ...index.metadataIndexes, _doc: "string" };
    const steps = planProvision(staging(), state);
    expect(creates(steps)).toEqual([]);
    const warning = steps.find(
      (s) => s.key === "check:unused-metadata-index:edgesearch-staging-bge-small-384:_doc",
    );
    expect(warning?.status).toBe("warn");
    expect(warning?.title).toContain(
      "npx wrangler vectorize delete-metadata-index edgesearch-staging-bge-small-384 --propertyName=_doc",
    );
  });

  it("gives FILTERABLE_FIELDS all 10 metadata index slots, and refuses an 11th field", () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `f${i}`).join(",");
    const plan = (n: number) => {
      const config = staging();
      config.vars.FILTERABLE_FIELDS = fields(n);
      return planProvision(config, emptyState()).filter((s) => s.kind === "metadata-index");
    };
    expect(plan(10).map((s) => s.status)).toEqual(Array(10).fill("create"));
    expect(plan(11)).toEqual([
      expect.objectContaining({
        status: "conflict",
        note: expect.stringMatching(/names 11 fields.*at most 10/),
      }),
    ]);
  });

  it("writes a created resource's id back, looked up by its environment-specific name", () => {
    const steps = planProvision(staging(), emptyState());
    const kv = steps.find((s) => s.key === "config:kv:KV");
    expect(kv?.configEdit).toEqual({
      table: { path: ["env", "staging", "kv_namespaces"], index: 0 },
      key: "id",
      lookup: { kind: "kv", title: "edgesearch-staging-kv" },
    });
    expect(steps.find((s) => s.key === "config:d1:DB")?.configEdit?.lookup).toEqual({
      kind: "d1",
      name: "edgesearch-staging",
    });
  });

  it("names every resource after the environment and targets the environment's Worker", () => {
    const steps = planProvision(staging(), emptyState());
    const names = steps.flatMap((s) => s.command ?? []).filter((a) => a.includes("edgesearch"));
    expect(names.length).toBeGreaterThanOrEqual(10);
    for (const name of names) expect(name, name).toMatch(/^edgesearch-staging(-|$)/);
    // The KV title is given whole: wrangler would prefix "staging-" itself if it saw --env.
    expect(steps.find((s) => s.key === "kv:KV")?.command).toEqual([
      "kv",
      "namespace",
      "create",
      "edgesearch-staging-kv",
    ]);
    expect(steps.find((s) => s.key === "d1-migrations:DB")?.command).toEqual([
      "d1",
      "migrations",
      "apply",
      "DB",
      "--remote",
      "--env",
      "staging",
    ]);
    expect(steps.find((s) => s.key === "secret:ADMIN_API_KEY")?.command).toEqual([
      "secret",
      "put",
      "ADMIN_API_KEY",
      "--env",
      "staging",
    ]);
    expect(staging().workerName).toBe("edgesearch-staging");
  });

  it("refuses what it cannot fix: a wrong-sized index, a wrongly typed field, an unknown id", () => {
    const state = provisionedStaging();
    state.vectorize["edgesearch-staging-bge-small-384"] = {
      dimensions: 768,
      metric: "cosine",
      metadataIndexes: { category: "string", year: "string" },
    };
    const config = staging();
    const kv = config.kv[0];
    if (kv) kv.id = "ffffffffffffffffffffffffffffffff";
    const conflicts = planProvision(config, state).filter((s) => s.status === "conflict");
    expect(conflicts.map((s) => s.key)).toEqual([
      "vectorize:edgesearch-staging-bge-small-384",
      "metadata:edgesearch-staging-bge-small-384:year",
      "kv:KV",
    ]);
    expect(conflicts[0]?.note).toMatch(/768 dimensions.*needs 384/);
  });

  it("warns when an environment does not repeat a binding or a var of the top level", () => {
    const steps = planProvision(staging(), emptyState());
    const warnings = steps.filter((s) => s.status === "warn").map((s) => s.title);
    expect(warnings.some((w) => w.includes('"kv_namespaces"'))).toBe(false);
    expect(warnings.some((w) => w.includes("[env.staging.vars] lacks"))).toBe(false);
    const bare = resolveEnvironment(parseToml(`${STAGING_TOML}\n[env.bare]\nname = "x"\n`).data, "bare");
    expect(bare.drift.join("\n")).toMatch(/"vars"[\s\S]*"kv_namespaces"/);
    expect(() => resolveEnvironment(parseToml(STAGING_TOML).data, "prod")).toThrow(/no \[env\.prod\]/);
  });

  it("warns when an environment has no route or custom domain (Cache API inactive on workers.dev)", () => {
    expect(staging().routes).toEqual(["search-staging.example.com"]);
    expect(planProvision(staging(), emptyState()).some((s) => s.key === "check:route")).toBe(false);
    const withoutRoute = STAGING_TOML.replace(/routes = \[.*\]\n/, "");
    const bare = resolveEnvironment(parseToml(withoutRoute).data, "staging");
    const warning = planProvision(bare, emptyState()).find((s) => s.key === "check:route");
    expect(warning?.status).toBe("warn");
    expect(warning?.title).toMatch(/no route or custom domain.*Cache API layer is inactive/);
    expect(warning?.note).toMatch(/custom_domain = true/);
    // A route of the top level is inherited by an environment that sets none (wrangler's rule).
    const inherited = resolveEnvironment(
      parseToml(`route = "search.example.com/*"\n${withoutRoute}`).data,
      "staging",
    );
    expect(inherited.routes).toEqual(["search.example.com/*"]);
  });

  it("prints each step with its status and exact command, and says a dry run asked nobody", () => {
    const text = formatPlan(staging(), planProvision(staging(), emptyState()), {
      dryRun: true,
      stateKnown: false,
    });
    expect(text).toMatch(/dry run; Cloudflare not asked/);
    expect(text).toContain(
      "$ npx wrangler vectorize create-metadata-index edgesearch-staging-bge-small-384 --propertyName=year --type=number",
    );
    expect(text).toContain("set env.staging.kv_namespaces[0].id = <id of edgesearch-staging-kv>");
    const done = formatPlan(staging(), planProvision(staging(), provisionedStaging()), {
      dryRun: true,
      stateKnown: true,
    });
    expect(done).not.toMatch(/would create/);
  });

  it("creates the backups bucket with no event notification rule", () => {
    const steps = planProvision(staging(), emptyState());
    expect(steps.find((s) => s.key === "r2:edgesearch-staging-backups")?.command).toEqual([
      "r2",
      "bucket",
      "create",
      "edgesearch-staging-backups",
    ]);
    const rules = steps.filter((s) => s.command?.includes("notification"));
    expect(rules.map((s) => s.command?.[4])).toEqual(["edgesearch-staging-documents"]);
    expect(steps.filter((s) => s.status === "conflict" || s.status === "warn")).toEqual([]);
  });

  it("refuses a notification rule on the backups bucket, or backups sharing the documents bucket", () => {
    const state = provisionedStaging();
    state.r2Notifications["edgesearch-staging-backups"] = [
      { queue: "edgesearch-staging-ingest", prefix: "", suffix: "", actions: ["PutObject"] },
    ];
    const ruled = planProvision(staging(), state).find((s) => s.key === "check:backups-notification");
    expect(ruled).toMatchObject({ status: "conflict" });
    expect(ruled?.note).toContain("wrangler r2 bucket notification delete edgesearch-staging-backups");

    const shared = resolveEnvironment(
      parseToml(
        STAGING_TOML.replace(
          'bucket_name = "edgesearch-staging-backups"',
          'bucket_name = "edgesearch-staging-documents"',
        ),
      ).data,
      "staging",
    );
    expect(
      planProvision(shared, provisionedStaging()).find((s) => s.key === "check:backups-bucket"),
    ).toMatchObject({
      status: "conflict",
    });
  });

  it("warns when DOCUMENTS_BUCKET_NAME does not name the documents bucket", () => {
    const unnamed = resolveEnvironment(
      parseToml(STAGING_TOML.replace('DOCUMENTS_BUCKET_NAME = "edgesearch-staging-documents"\n', "")).data,
      "staging",
    );
    const step = planProvision(unnamed, provisionedStaging()).find(
      (s) => s.key === "check:documents-bucket-name",
    );
    expect(step).toMatchObject({ status: "warn" });
    expect(step?.title).toContain('DOCUMENTS_BUCKET_NAME is "edgesearch-documents"');
  });

  it("knows the dimensions of every embedding model the Worker supports", () => {
    expect(MODEL_DIMENSIONS).toEqual(
      Object.fromEntries(Object.entries(EMBEDDING_MODELS).map(([model, info]) => [model, info.dimensions])),
    );
  });
});

describe("the project's wrangler.toml", () => {
  const data = parseToml(wranglerToml).data;

  it("gives staging and production every binding and var of the top level, under their own names", () => {
    const top = resolveEnvironment(data, null);
    const names = (c: ReturnType<typeof resolveEnvironment>) => [
      ...c.vectorize.map((v) => v.indexName),
      ...c.kv.map((k) => k.title),
      ...c.d1.map((d) => d.databaseName),
      ...c.r2.map((r) => r.bucketName),
      ...c.producers.map((p) => p.queue),
      ...c.consumers.flatMap((q) => [q.queue, q.deadLetterQueue ?? ""]).filter((q) => q !== ""),
    ];
    const seen = new Set(names(top));
    for (const env of ["staging", "production"]) {
      const config = resolveEnvironment(data, env);
      expect(config.drift, env).toEqual([]);
      expect(config.workerName).toBe(`edgesearch-${env}`);
      expect(config.vectorize.length).toBe(top.vectorize.length);
      expect(config.kv.length).toBe(top.kv.length);
      expect(config.d1.length).toBe(top.d1.length);
      expect(config.r2.length).toBe(top.r2.length);
      expect(config.consumers.length).toBe(top.consumers.length);
      for (const name of new Set(names(config))) {
        expect(name, `${env}: ${name}`).toContain(env);
        expect(seen.has(name), `${env}: ${name} is shared`).toBe(false);
        seen.add(name);
      }
      expect(config.vars.VECTORIZE_INDEX_NAME).toBe(config.vectorize[0]?.indexName);
    }
  });

  it("names each environment's documents bucket in DOCUMENTS_BUCKET_NAME and gives backups their own", () => {
    for (const env of [null, "staging", "production"]) {
      const config = resolveEnvironment(data, env);
      const bucket = (binding: string) => config.r2.find((r) => r.binding === binding)?.bucketName;
      expect(config.vars.DOCUMENTS_BUCKET_NAME, String(env)).toBe(bucket("DOCUMENTS"));
      expect(bucket("BACKUPS"), String(env)).toMatch(/-backups$/);
      // The missing custom domain has its own warning and test; no other check may fire.
      const checks = planProvision(config, emptyState()).filter(
        (s) => s.kind === "check" && s.key !== "check:route",
      );
      expect(checks, String(env)).toEqual([]);
    }
  });

  it("keeps its comments and layout when an id is written back", () => {
    const updated = setTomlString(
      wranglerToml,
      { path: ["env", "staging", "d1_databases"], index: 0 },
      "database_id",
      "5b6c1f0e-8d7a-4c3b-9e2f-1a0b9c8d7e6f",
    );
    const before = wranglerToml.split("\n");
    const after = updated.split("\n");
    expect(after.length).toBe(before.length);
    const changed = after.flatMap((line, i) => (line === before[i] ? [] : [line]));
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatch(/^database_id = "5b6c1f0e-8d7a-4c3b-9e2f-1a0b9c8d7e6f"/);
    const reread = resolveEnvironment(parseToml(updated).data, "staging");
    expect(reread.d1[0]?.databaseId).toBe("5b6c1f0e-8d7a-4c3b-9e2f-1a0b9c8d7e6f");
    // The other environments are untouched.
    expect(resolveEnvironment(parseToml(updated).data, "production").d1[0]?.databaseId).toBeNull();
  });
});

describe("TOML writing", () => {
  it("adds a missing key under its table and escapes what needs escaping", () => {
    const text = 'a = 1\n\n[[t]]\nx = "1"\n\n[[t]]\nx = "2"\n# end\n';
    const out = setTomlString(text, { path: ["t"], index: 1 }, "id", 'q"\\');
    expect(out).toBe('a = 1\n\n[[t]]\nx = "1"\n\n[[t]]\nx = "2"\nid = "q\\"\\\\"\n# end\n');
    expect(parseToml(out).data).toEqual({ a: 1, t: [{ x: "1" }, { x: "2", id: 'q"\\' }] });
    expect(() => setTomlString(text, { path: ["t"], index: 2 }, "id", "x")).toThrow(/no table t\[2\]/);
  });

  it("reads multi-line arrays, inline tables and literal strings", () => {
    const parsed = parseToml(
      "flags = [\n  \"a\", # one\n  'b',\n]\nlimit = { n = 20, period = 10 }\n[x.y]\nz = -1.5\n",
    );
    expect(parsed.data).toEqual({ flags: ["a", "b"], limit: { n: 20, period: 10 }, x: { y: { z: -1.5 } } });
    expect(() => parseToml('a = "open\n')).toThrow(/line 1/);
  });
});

describe("reading wrangler's output", () => {
  it("finds the JSON after a banner", () => {
    const banner = "\n ⛅️ wrangler 4.156.2\n───────────────────\n";
    expect(
      parseVectorizeList(
        `${banner}[{"name": "edgesearch-bge-base-768", "config": {"dimensions": 768, "metric": "cosine"}}]`,
      ),
    ).toEqual([{ name: "edgesearch-bge-base-768", dimensions: 768, metric: "cosine" }]);
    expect(parseMetadataIndexes('[{"propertyName": "year", "indexType": "Number"}]')).toEqual({
      year: "number",
    });
    expect(
      parseKvList('[\n  {"id": "abc", "title": "edgesearch-kv", "supports_url_encoding": true}\n]'),
    ).toEqual([{ id: "abc", title: "edgesearch-kv" }]);
    expect(parseD1List(`${banner}[{"uuid": "u-1", "name": "edgesearch", "version": "production"}]`)).toEqual([
      { uuid: "u-1", name: "edgesearch" },
    ]);
    expect(parseSecretList('[{"name": "ADMIN_API_KEY", "type": "secret_text"}]')).toEqual(["ADMIN_API_KEY"]);
  });

  it("reads a database's read replication mode, wrangler's token and the accounts it reaches", () => {
    // `wrangler d1 info NAME --json` (workers-sdk packages/wrangler/src/__tests__/d1/info.test.ts)
    const info = (mode: string) =>
      `{"uuid": "d5b1d127-xxxx", "name": "edgesearch-data-1", "created_at": "2025-04-01T00:00:00Z", "num_tables": 12, "running_in_region": "WEUR", "read_replication": {"mode": "${mode}"}, "database_size": 98304}`;
    expect(parseD1ReadReplication(info("auto"))).toBe("auto");
    expect(parseD1ReadReplication(info("disabled"))).toBe("disabled");
    expect(parseD1ReadReplication('{"uuid": "u", "name": "edgesearch"}')).toBeNull();
    expect(parseAuthToken('{"type": "oauth", "token": "oauth-abc"}')).toBe("oauth-abc");
    expect(parseAuthToken('{"type": "api_token", "token": "tok"}')).toBe("tok");
    // A global API key is a key and an email, not a bearer token.
    expect(parseAuthToken('{"type": "api_key", "key": "k", "email": "a@example.com"}')).toBeNull();
    expect(
      parseWhoamiAccounts(
        '{"loggedIn": true, "authType": "OAuth Token", "email": "a@example.com", "accounts": [{"id": "acc1", "name": "A"}, {"id": "acc2", "name": "B"}]}',
      ),
    ).toEqual(["acc1", "acc2"]);
  });

  it("reads the queue table and the labelled lists of buckets and notification rules", () => {
    const table = [
      "┌──────────┬───────────────────────┬────────────┐",
      "│ id       │ name                  │ producers  │",
      "├──────────┼───────────────────────┼────────────┤",
      "│ 1a2b     │ edgesearch-ingest     │ 1          │",
      "├──────────┼───────────────────────┼────────────┤",
      "│ 3c4d     │ edgesearch-ingest-dlq │ 0          │",
      "└──────────┴───────────────────────┴────────────┘",
    ].join("\n");
    expect(parseQueueList(table)).toEqual(["edgesearch-ingest", "edgesearch-ingest-dlq"]);
    expect(parseQueueList("")).toEqual([]);
    expect(
      parseR2BucketList(
        "Listing buckets...\nname:           edgesearch-documents\ncreation_date:  2026-01-02T03:04:05.000Z\n\nname:           other\ncreation_date:  x\n",
      ),
    ).toEqual(["edgesearch-documents", "other"]);
    const rules = parseNotificationRules(
      [
        "Fetching notification rules for bucket edgesearch-documents...",
        "rule_id:     r1",
        "created_at:  2026-01-02",
        "queue_name:  edgesearch-ingest",
        "prefix:      (all prefixes)",
        "suffix:      (all suffixes)",
        "event_type:  PutObject,CompleteMultipartUpload,CopyObject,DeleteObject,LifecycleDeletion",
      ].join("\n"),
    );
    expect(rules).toEqual([
      {
        queue: "edgesearch-ingest",
        prefix: "",
        suffix: "",
        actions: ["PutObject", "CompleteMultipartUpload", "CopyObject", "DeleteObject", "LifecycleDeletion"],
      },
    ]);
  });
});

describe("extra Vectorize indexes (index versions of other models)", () => {
  it("sizes them by the model their name ends with, and refuses to guess otherwise", () => {
    const text = STAGING_TOML.replace(
      "[[env.staging.kv_namespaces]]",
      '[[env.staging.vectorize]]\nbinding = "VECTORIZE_LARGE"\nindex_name = "edgesearch-staging-bge-large-1024"\n\n' +
        '[[env.staging.vectorize]]\nbinding = "VECTORIZE_ODD"\nindex_name = "edgesearch-staging-custom"\n\n' +
        "[[env.staging.kv_namespaces]]",
    );
    const steps = planProvision(resolveEnvironment(parseToml(text).data, "staging"), emptyState());
    expect(steps.find((s) => s.key === "vectorize:edgesearch-staging-bge-large-1024")?.command).toContain(
      "--dimensions=1024",
    );
    expect(steps.find((s) => s.key === "metadata:edgesearch-staging-bge-large-1024:category")?.status).toBe(
      "create",
    );
    expect(steps.find((s) => s.key === "vectorize:edgesearch-staging-custom")?.status).toBe("conflict");
  });
});

describe("shard indexes (VECTORIZE_SHARDS)", () => {
  const withShards = (shards: string, extraBindings: string) =>
    planProvision(
      resolveEnvironment(
        parseToml(
          STAGING_TOML.replace(
            'R2_NOTIFICATIONS = "true"',
            `R2_NOTIFICATIONS = "true"\nVECTORIZE_SHARDS = "${shards}"`,
          ).replace("[[env.staging.kv_namespaces]]", `${extraBindings}[[env.staging.kv_namespaces]]`),
        ).data,
        "staging",
      ),
      emptyState(),
    );

  it("creates every shard with the default model's dimensions and the metadata indexes, whatever its name", () => {
    const steps = withShards(
      "edgesearch-staging-bge-small-384,edgesearch-staging-shard-b",
      '[[env.staging.vectorize]]\nbinding = "VECTORIZE_B"\nindex_name = "edgesearch-staging-shard-b"\n\n',
    );
    // The staging section's EMBEDDING_MODEL is bge-small (384 dimensions).
    expect(steps.find((s) => s.key === "vectorize:edgesearch-staging-shard-b")?.command).toEqual([
      "vectorize",
      "create",
      "edgesearch-staging-shard-b",
      "--dimensions=384",
      "--metric=cosine",
    ]);
    for (const field of ["category", "year"]) {
      expect(steps.find((s) => s.key === `metadata:edgesearch-staging-shard-b:${field}`)?.status).toBe(
        "create",
      );
    }
    // The index's own binding is not mistaken for a misnamed default index.
    expect(steps.filter((s) => s.key.startsWith("check:vectorize-name:"))).toEqual([]);
    expect(steps.filter((s) => s.key.startsWith("vectorize:")).map((s) => s.key)).toEqual([
      "vectorize:edgesearch-staging-bge-small-384",
      "vectorize:edgesearch-staging-shard-b",
    ]);
  });

  it("creates a shard that has no binding too, and warns that it needs one", () => {
    const steps = withShards("edgesearch-staging-bge-small-384,edgesearch-staging-shard-c", "");
    expect(steps.find((s) => s.key === "vectorize:edgesearch-staging-shard-c")?.command).toContain(
      "--dimensions=384",
    );
    expect(steps.find((s) => s.key === "metadata:edgesearch-staging-shard-c:year")?.status).toBe("create");
    const warning = steps.find((s) => s.key === "check:shard-binding:edgesearch-staging-shard-c");
    expect(warning?.status).toBe("warn");
    expect(warning?.title).toContain("VECTORIZE_INDEXES");
  });

  it("sizes a bound shard by the default model even when its name ends with another size", () => {
    const steps = withShards(
      "edgesearch-staging-shard-1024",
      '[[env.staging.vectorize]]\nbinding = "VECTORIZE_B"\nindex_name = "edgesearch-staging-shard-1024"\n\n',
    );
    expect(steps.find((s) => s.key === "vectorize:edgesearch-staging-shard-1024")?.command).toContain(
      "--dimensions=384",
    );
  });

  it("warns that staging and production have no custom domain yet", () => {
    const data = parseToml(wranglerToml).data;
    for (const env of ["staging", "production"]) {
      const steps = planProvision(resolveEnvironment(data, env), emptyState());
      expect(steps.find((s) => s.key === "check:route")?.status, env).toBe("warn");
    }
  });

  it("declares the shard settings in every environment of wrangler.toml", () => {
    const data = parseToml(wranglerToml).data;
    for (const env of [null, "staging", "production"]) {
      const vars = resolveEnvironment(data, env).vars;
      for (const name of [
        "VECTORIZE_SHARDS",
        "SHARD_MAX_VECTORS",
        "SHARD_MAX_NAMESPACES",
        "SHARD_FILL_THRESHOLD",
      ]) {
        expect(vars[name], `${env ?? "top level"}: ${name}`).toBeDefined();
      }
    }
  });
});

describe("the D1 pool (control database and data databases)", () => {
  const POOL_TOML = STAGING_TOML.replace(
    "[[env.staging.r2_buckets]]",
    `[[env.staging.d1_databases]]
binding = "DATA_DB_1"
database_name = "edgesearch-staging-data-1"
database_id = "00000000-0000-0000-0000-000000000000"
migrations_dir = "migrations"

[[env.staging.d1_databases]]
binding = "DATA_DB_2"
database_name = "edgesearch-staging-data-2"
database_id = "00000000-0000-0000-0000-000000000000"
migrations_dir = "migrations"

[[env.staging.r2_buckets]]`,
  );
  const pool = () => resolveEnvironment(parseToml(POOL_TOML).data, "staging");
  const MEMBERS = [
    ["DB", "edgesearch-staging", "5b6c1f0e-8d7a-4c3b-9e2f-1a0b9c8d7e6f"],
    ["DATA_DB_1", "edgesearch-staging-data-1", "9d1e0c2a-1111-4c3b-9e2f-1a0b9c8d7e6f"],
    ["DATA_DB_2", "edgesearch-staging-data-2", "9d1e0c2a-2222-4c3b-9e2f-1a0b9c8d7e6f"],
  ] as const;
  /** The staging account with every pool member, each in the given read replication mode. */
  const withMembers = (modes: string[]) => {
    const state = provisionedStaging();
    state.d1Databases = MEMBERS.map(([, name, uuid], i) => ({
      uuid,
      name,
      readReplication: modes[i] ?? "auto",
    }));
    return state;
  };

  it("creates each of three members, writes its id back, migrates it and turns on its read replication", () => {
    const steps = planProvision(pool(), emptyState());
    expect(steps.filter((s) => s.kind === "d1").map((s) => s.command)).toEqual(
      MEMBERS.map(([, name]) => ["d1", "create", name]),
    );
    for (const [binding, name] of MEMBERS) {
      // Created, its id written back, then migrated, then replicated.
      const at = ["d1", "config:d1", "d1-migrations", "d1-replication"].map((k) =>
        indexOf(steps, `${k}:${binding}`),
      );
      expect(at.every((i) => i > -1)).toBe(true);
      expect(at).toEqual([...at].sort((a, b) => a - b));
      expect(steps.find((s) => s.key === `config:d1:${binding}`)?.configEdit).toMatchObject({
        key: "database_id",
        lookup: { kind: "d1", name },
      });
      // Every member gets the same migrations, addressed by its binding in this environment.
      expect(steps.find((s) => s.key === `d1-migrations:${binding}`)?.command).toEqual([
        "d1",
        "migrations",
        "apply",
        binding,
        "--remote",
        "--env",
        "staging",
      ]);
      expect(steps.find((s) => s.key === `d1-replication:${binding}`)).toMatchObject({
        status: "update",
        api: { method: "PUT", database: name, body: { read_replication: { mode: "auto" } } },
      });
    }
    // Each member's id goes to its own [[env.staging.d1_databases]] table.
    expect(
      steps
        .filter((s) => s.kind === "config-id" && s.key.startsWith("config:d1:"))
        .map((s) => s.configEdit?.table),
    ).toEqual([0, 1, 2].map((index) => ({ path: ["env", "staging", "d1_databases"], index })));
  });

  it("re-run on an account that has the whole pool: only the migrations run, once per member", () => {
    let text = POOL_TOML;
    for (const step of planProvision(pool(), withMembers([]))) {
      const edit = step.configEdit;
      if (edit?.value) text = setTomlString(text, edit.table, edit.key, edit.value);
    }
    const again = planProvision(resolveEnvironment(parseToml(text).data, "staging"), withMembers([]));
    expect(creates(again)).toEqual([]);
    expect(again.filter((s) => s.status !== "exists").map((s) => s.key)).toEqual(
      MEMBERS.map(([binding]) => `d1-migrations:${binding}`),
    );
    expect(again.filter((s) => s.kind === "d1-replication").map((s) => s.status)).toEqual([
      "exists",
      "exists",
      "exists",
    ]);
  });

  it("turns read replication on only where it is off, and leaves it alone when asked to", () => {
    const steps = planProvision(pool(), withMembers(["auto", "disabled", "auto"]));
    expect(
      steps.filter((s) => s.kind === "d1-replication" && s.status !== "exists").map((s) => s.key),
    ).toEqual(["d1-replication:DATA_DB_1"]);
    expect(
      planProvision(pool(), withMembers(["auto", "disabled", "auto"]), { readReplication: false }).filter(
        (s) => s.kind === "d1-replication",
      ),
    ).toEqual([]);
    // A --state file without the mode: replication is planned (the call is idempotent).
    const state = stateFromJson({ d1Databases: MEMBERS.map(([, name, uuid]) => ({ uuid, name })) });
    expect(
      planProvision(pool(), state)
        .filter((s) => s.kind === "d1-replication")
        .map((s) => s.status),
    ).toEqual(["update", "update", "update"]);
  });

  it("prints the API call that turns replication on, since wrangler has no command for it", () => {
    const text = formatPlan(pool(), planProvision(pool(), withMembers(["auto", "disabled", "auto"])), {
      dryRun: true,
      stateKnown: true,
    });
    expect(text).toContain("would update  D1 read replication on edgesearch-staging-data-1 (mode auto)");
    expect(text).toContain(
      `$ curl -X PUT https://api.cloudflare.com/client/v4/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/<uuid of edgesearch-staging-data-1> -H "authorization: Bearer $CLOUDFLARE_API_TOKEN" -H "content-type: application/json" -d '{"read_replication":{"mode":"auto"}}'`,
    );
    expect(text).not.toContain("<uuid of edgesearch-staging-data-2>");
  });
});
