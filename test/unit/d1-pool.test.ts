// `npm run migrate-db` (and `npm run dev`): which D1 databases make up the pool, the wrangler
// command each gets, and what a run reports when one of them fails. The wrangler runner is a fake
// that records the commands: nothing here starts a process or reaches Cloudflare.
import { describe, expect, it } from "vitest";
import {
  appliedMigrations,
  formatResult,
  migratePool,
  migrationCommand,
  type PoolMember,
  poolMembers,
  sharedLocalDatabases,
  type WranglerRunner,
} from "../../scripts/lib/d1-pool.ts";
import { parseToml } from "../../scripts/lib/provision-toml.ts";

const d1 = (binding: string, name: string, extra = 'migrations_dir = "migrations"') => `
[[d1_databases]]
binding = "${binding}"
database_name = "${name}"
database_id = "00000000-0000-0000-0000-000000000000"
${extra}
`;

const POOL_TOML = `name = "edgesearch"

[vars]
D1_DATA_DATABASES = "DB, DATA_DB_1,DATA_DB_2"
${d1("DB", "edgesearch")}${d1("DATA_DB_1", "edgesearch-data-1", 'preview_database_id = "edgesearch-data-1-local"\nmigrations_dir = "migrations"')}${d1("DATA_DB_2", "edgesearch-data-2", 'preview_database_id = "edgesearch-data-2-local"\nmigrations_dir = "migrations"')}
[env.staging.vars]
D1_DATA_DATABASES = "DATA_DB_1"

[[env.staging.d1_databases]]
binding = "DB"
database_name = "edgesearch-staging"
database_id = "5b6c1f0e-8d7a-4c3b-9e2f-1a0b9c8d7e6f"
migrations_dir = "migrations"

[[env.staging.d1_databases]]
binding = "DATA_DB_1"
database_name = "edgesearch-staging-data-1"
database_id = "9d1e0c2a-1111-4c3b-9e2f-1a0b9c8d7e6f"
migrations_dir = "migrations"
`;

const members = (toml: string, env: string | null = null) => poolMembers(parseToml(toml).data, env);

/** What `wrangler d1 migrations apply` prints after applying two migrations (wrangler 4.156). */
const APPLIED_OUTPUT = `Migrations to be applied:
┌──────────────────────┬────────┐
│ name                 │ status │
├──────────────────────┼────────┤
│ 0010_pool.sql        │ ✅     │
├──────────────────────┼────────┤
│ 0011_more.sql        │ 🕒️    │
└──────────────────────┴────────┘
┌──────────────────────┬────────┐
│ name                 │ status │
├──────────────────────┼────────┤
│ 0010_pool.sql        │ ✅     │
├──────────────────────┼────────┤
│ 0011_more.sql        │ ✅     │
└──────────────────────┴────────┘`;

/** A runner that fails for the bindings given and records every command. */
function fakeWrangler(failing: string[] = []) {
  const calls: string[][] = [];
  const run: WranglerRunner = async (args) => {
    calls.push(args);
    const binding = args[3] ?? "";
    return failing.includes(binding)
      ? {
          code: 1,
          stdout: "",
          stderr: `✘ [ERROR] Migration 0010_pool.sql failed with the following errors:\nD1_ERROR: no such table: chunks (${binding})`,
        }
      : { code: 0, stdout: APPLIED_OUTPUT, stderr: "" };
  };
  return { calls, run };
}

describe("the pool's members", () => {
  it("are the control database and each binding D1_DATA_DATABASES names, in its order, once each", () => {
    expect(members(POOL_TOML)).toEqual([
      { binding: "DB", databaseName: "edgesearch", localId: "00000000-0000-0000-0000-000000000000" },
      { binding: "DATA_DB_1", databaseName: "edgesearch-data-1", localId: "edgesearch-data-1-local" },
      { binding: "DATA_DB_2", databaseName: "edgesearch-data-2", localId: "edgesearch-data-2-local" },
    ]);
    // An environment's own section: its var and its bindings; DB comes first though not listed.
    expect(members(POOL_TOML, "staging").map((m) => [m.binding, m.databaseName])).toEqual([
      ["DB", "edgesearch-staging"],
      ["DATA_DB_1", "edgesearch-staging-data-1"],
    ]);
  });

  it("are every D1 database with migrations_dir when D1_DATA_DATABASES is not set", () => {
    const toml = `name = "edgesearch"\n${d1("DB", "edgesearch")}${d1("DATA_DB_1", "edgesearch-data-1")}${d1("ANALYTICS", "other", "")}`;
    expect(members(toml).map((m) => m.binding)).toEqual(["DB", "DATA_DB_1"]);
  });

  it("refuses a D1_DATA_DATABASES entry without a binding or without migrations", () => {
    expect(() => members(POOL_TOML.replace('DATA_DB_2"', 'DATA_DB_3"'))).toThrow(
      "D1_DATA_DATABASES names DATA_DB_3, which has no [[d1_databases]] table in wrangler.toml",
    );
    const noMigrations = `name = "x"\n[vars]\nD1_DATA_DATABASES = "DB,DATA_DB_1"\n${d1("DB", "x")}${d1("DATA_DB_1", "x-1", "")}`;
    expect(() => members(noMigrations)).toThrow(
      "the D1 binding DATA_DB_1 in wrangler.toml has no migrations_dir",
    );
    expect(() => members(POOL_TOML, "production")).toThrow("wrangler.toml has no [env.production] section");
  });

  it("warns when members share one local database, as the same placeholder database_id makes them", () => {
    const shared = `name = "x"\n${d1("DB", "x")}${d1("DATA_DB_1", "x-1")}${d1("DATA_DB_2", "x-2")}`;
    expect(sharedLocalDatabases(members(shared))).toEqual([
      'DB, DATA_DB_1, DATA_DB_2 share the local database "00000000-0000-0000-0000-000000000000" (same preview_database_id or database_id): locally they are one database; give each its own preview_database_id',
    ]);
    expect(sharedLocalDatabases(members(POOL_TOML))).toEqual([]);
  });
});

describe("applying the migrations to the pool", () => {
  const pool = () => members(POOL_TOML);

  it("runs wrangler d1 migrations apply once per member: local by default, remote with the environment", async () => {
    const local = fakeWrangler();
    await migratePool(pool(), { remote: false, env: null, persistTo: "/tmp/state" }, local.run);
    expect(local.calls).toEqual(
      ["DB", "DATA_DB_1", "DATA_DB_2"].map((b) => [
        "d1",
        "migrations",
        "apply",
        b,
        "--local",
        "--persist-to",
        "/tmp/state",
      ]),
    );
    const remote = fakeWrangler();
    await migratePool(
      members(POOL_TOML, "staging"),
      { remote: true, env: "staging", persistTo: "/tmp/state" },
      remote.run,
    );
    expect(remote.calls).toEqual([
      ["d1", "migrations", "apply", "DB", "--remote", "--env", "staging"],
      ["d1", "migrations", "apply", "DATA_DB_1", "--remote", "--env", "staging"],
    ]);
  });

  it("goes on past a member that fails, and reports each member's outcome", async () => {
    const { calls, run } = fakeWrangler(["DATA_DB_1"]);
    const lines: string[] = [];
    const results = await migratePool(pool(), { remote: true, env: null }, run, (r) =>
      lines.push(formatResult(r)),
    );
    expect(calls.map((c) => c[3])).toEqual(["DB", "DATA_DB_1", "DATA_DB_2"]);
    expect(results.map((r) => [r.member.binding, r.ok])).toEqual([
      ["DB", true],
      ["DATA_DB_1", false],
      ["DATA_DB_2", true],
    ]);
    expect(results[1]?.error).toContain("D1_ERROR: no such table: chunks (DATA_DB_1)");
    expect(lines).toEqual([
      "DB           edgesearch               applied 0010_pool.sql, 0011_more.sql",
      "DATA_DB_1    edgesearch-data-1        FAILED",
      "DATA_DB_2    edgesearch-data-2        applied 0010_pool.sql, 0011_more.sql",
    ]);
  });

  it("migrates a local database shared by several members once; remote databases each", async () => {
    const shared = members(`name = "x"\n${d1("DB", "x")}${d1("DATA_DB_1", "x-1")}`);
    const local = fakeWrangler();
    expect((await migratePool(shared, { remote: false, env: null }, local.run)).length).toBe(1);
    const remote = fakeWrangler();
    expect((await migratePool(shared, { remote: true, env: null }, remote.run)).length).toBe(2);
  });

  it("reads which migrations a run applied, each once, and none from an up-to-date database", () => {
    expect(appliedMigrations(APPLIED_OUTPUT)).toEqual(["0010_pool.sql", "0011_more.sql"]);
    expect(appliedMigrations("✅ No migrations to apply!")).toEqual([]);
  });

  it("builds the command wrangler needs for one member", () => {
    const member: PoolMember = { binding: "DATA_DB_2", databaseName: "edgesearch-data-2", localId: "x" };
    expect(migrationCommand(member, { remote: false, env: "staging" })).toEqual([
      "d1",
      "migrations",
      "apply",
      "DATA_DB_2",
      "--local",
      "--env",
      "staging",
    ]);
  });
});
