// The D1 databases the Worker writes to, as wrangler.toml declares them for one environment, and
// applying the migrations to each: `npm run migrate-db` and `npm run dev` share this. Every member
// gets the same migrations (the control database DB is one of them). The wrangler runner is a
// parameter, so the tests drive it without a process or the network.
import { stripAnsi } from "./provision-parse.ts";

export type PoolMember = {
  binding: string;
  databaseName: string;
  /**
   * What wrangler keys a local database by: preview_database_id, else database_id, else the
   * binding (workers-sdk packages/wrangler/src/dev/miniflare/index.ts, `d1DatabaseEntry`; the
   * same order in packages/wrangler/src/d1/execute.ts). Two members with one key are one local
   * database.
   */
  localId: string;
};

export type MigrationMode = { remote: boolean; env: string | null; persistTo?: string | undefined };

export type MemberResult = {
  member: PoolMember;
  ok: boolean;
  /** Migration file names wrangler reported applying. */
  applied: string[];
  /** The last lines of wrangler's output when it failed. */
  error?: string;
};

export type WranglerRunner = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/** The binding every environment's control database has (keys, jobs, dead letters). */
export const CONTROL_BINDING = "DB";

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const tables = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isTable) : []);
const str = (v: unknown) => (typeof v === "string" ? v : "");

/**
 * The pool of one environment: the members D1_DATA_DATABASES names (comma-separated bindings),
 * else every [[d1_databases]] table with a migrations_dir; the control database DB comes first
 * either way, since it takes the same migrations. Bindings are not inherited into [env.x], so an
 * environment's come from its own section.
 * @param data parsed wrangler.toml
 * @throws Error when D1_DATA_DATABASES names a binding the section does not declare, or one
 *   without migrations_dir (wrangler would apply nothing to it)
 */
export function poolMembers(data: Record<string, unknown>, env: string | null): PoolMember[] {
  const envs = isTable(data.env) ? data.env : {};
  const section = env === null ? data : envs[env];
  if (!isTable(section)) throw new Error(`wrangler.toml has no [env.${env}] section`);
  const where = env === null ? "wrangler.toml" : `[env.${env}] of wrangler.toml`;
  const declared = tables(section.d1_databases).map((t) => ({
    binding: str(t.binding),
    databaseName: str(t.database_name),
    localId: str(t.preview_database_id) || str(t.database_id) || str(t.binding),
    migrations: str(t.migrations_dir) !== "",
  }));
  const vars = isTable(section.vars) ? section.vars : {};
  const listed =
    typeof vars.D1_DATA_DATABASES === "string"
      ? vars.D1_DATA_DATABASES.split(",")
          .map((b) => b.trim())
          .filter((b) => b !== "")
      : null;
  const names =
    listed === null
      ? declared.filter((d) => d.migrations).map((d) => d.binding)
      : [...(declared.some((d) => d.binding === CONTROL_BINDING) ? [CONTROL_BINDING] : []), ...listed];
  const members: PoolMember[] = [];
  for (const name of new Set(names)) {
    const d = declared.find((x) => x.binding === name);
    if (!d)
      throw new Error(`D1_DATA_DATABASES names ${name}, which has no [[d1_databases]] table in ${where}`);
    if (!d.migrations) {
      throw new Error(
        `the D1 binding ${name} in ${where} has no migrations_dir: set migrations_dir = "migrations"`,
      );
    }
    members.push({ binding: d.binding, databaseName: d.databaseName, localId: d.localId });
  }
  return members;
}

/**
 * Members that wrangler dev keys to one local database (the same placeholder database_id, say):
 * locally they are a single database, deployed they are not.
 * @returns one sentence per shared local database
 */
export function sharedLocalDatabases(members: PoolMember[]): string[] {
  const byId = new Map<string, PoolMember[]>();
  for (const m of members) byId.set(m.localId, [...(byId.get(m.localId) ?? []), m]);
  return [...byId]
    .filter(([, group]) => group.length > 1)
    .map(
      ([id, group]) =>
        `${group.map((m) => m.binding).join(", ")} share the local database "${id}" (same preview_database_id or database_id): locally they are one database; give each its own preview_database_id`,
    );
}

/** `wrangler d1 migrations apply` for one member. */
export function migrationCommand(member: PoolMember, mode: MigrationMode): string[] {
  return [
    "d1",
    "migrations",
    "apply",
    member.binding,
    mode.remote ? "--remote" : "--local",
    ...(mode.env === null ? [] : ["--env", mode.env]),
    ...(!mode.remote && mode.persistTo !== undefined ? ["--persist-to", mode.persistTo] : []),
  ];
}

/**
 * The migration files a successful `wrangler d1 migrations apply` run applied: the rows of its
 * result table marked ✅, which it prints again after each migration (nothing when it printed
 * "No migrations to apply").
 */
export function appliedMigrations(output: string): string[] {
  return [
    ...new Set([...stripAnsi(output).matchAll(/│\s*([^\s│]+\.sql)\s*│\s*✅/g)].map((m) => m[1] as string)),
  ];
}

/**
 * Applies the migrations to every member, one after another. A member that fails does not stop
 * the others (each database is independent, and wrangler rolls back only the migration that
 * failed: workers-sdk packages/wrangler/src/d1/migrations/apply.ts, "this migration will be
 * rolled back, and the previous successful migration will remain applied"); running again
 * applies to each member only what it lacks. Members sharing one local database are migrated once.
 */
export async function migratePool(
  members: PoolMember[],
  mode: MigrationMode,
  run: WranglerRunner,
  onResult: (result: MemberResult) => void = () => {},
): Promise<MemberResult[]> {
  const results: MemberResult[] = [];
  const done = new Set<string>();
  for (const member of members) {
    if (!mode.remote && done.has(member.localId)) continue;
    done.add(member.localId);
    const r = await run(migrationCommand(member, mode));
    const output = `${r.stdout}\n${r.stderr}`;
    const result: MemberResult =
      r.code === 0
        ? { member, ok: true, applied: appliedMigrations(output) }
        : {
            member,
            ok: false,
            applied: [],
            error: stripAnsi(output).trim().split("\n").slice(-10).join("\n"),
          };
    results.push(result);
    onResult(result);
  }
  return results;
}

/** One line per member: its binding, database and what happened. */
export function formatResult(result: MemberResult): string {
  const { member } = result;
  const what = !result.ok
    ? "FAILED"
    : result.applied.length === 0
      ? "up to date"
      : `applied ${result.applied.join(", ")}`;
  return `${member.binding.padEnd(12)} ${member.databaseName.padEnd(24)} ${what}`;
}
