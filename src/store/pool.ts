// The pool of data databases. A namespace's documents, chunks, keyword tables and usage live in
// one D1 database of the pool, recorded with its version pointer (src/versions/pointer.ts); the
// control database (DB) keeps what is global. The pool turns a namespace into the handle its
// statements run on, resolved from that record when the first statement runs, so nothing on the
// query path asks a Durable Object where a namespace lives.
import { AppError } from "../errors";
import { type D1Like, readSession } from "./d1";
import { type Route, RoutedD1 } from "./routed";

/** The binding name of the control database, also the pool's first member. */
export const CONTROL_DATABASE = "DB";

/** Where a namespace's rows are: its database, and the one it is being moved to, if any. */
export interface Placement {
  database: string;
  moving: string | null;
}

export interface PoolOptions {
  /** Every D1 binding a namespace may be in (DB first), by binding name. */
  databases: ReadonlyMap<string, D1Database>;
  /**
   * The namespace's placement. "write": the namespace is created (placed) first when it has no
   * record yet; "read": no record means DB (a namespace never written, or one from before the pool).
   */
  locate(namespace: string, purpose: "read" | "write"): Promise<Placement>;
}

export class DatabasePool {
  private readonly sessions = new Map<string, D1Like>();

  constructor(private readonly options: PoolOptions) {}

  /** The pool's binding names (DB first). */
  names(): string[] {
    return [...this.options.databases.keys()];
  }

  /** Every database a namespace may be in. */
  members(): D1Database[] {
    return [...this.options.databases.values()];
  }

  /** The database bound as `name`; a clear configuration error when there is none. */
  database(name: string): D1Database {
    const db = this.options.databases.get(name);
    if (db) return db;
    throw new AppError(
      "internal",
      `no D1 binding "${name}" for a namespace's data: bind it in wrangler.toml ([[d1_databases]]) and list it in D1_DATA_DATABASES`,
      { retryable: false },
    );
  }

  /**
   * What reads of the namespace go through: its database, or a session of it (read replicas: the
   * search path, where the first query may go to any replica).
   */
  reads(namespace: string, session = false): D1Like {
    return new RoutedD1(async () => {
      const { database } = await this.options.locate(namespace, "read");
      return { primary: session ? this.session(database) : this.database(database), mirrors: [] };
    });
  }

  /** What writes (and the reads around them) of the namespace go through. */
  writes(namespace: string): D1Like {
    return new RoutedD1(async () => this.route(await this.options.locate(namespace, "write")));
  }

  /**
   * As `writes`, resolved now, and whether it is the control database (DB): a statement on that
   * handle runs where `inControl` said, so it can read what only DB holds beside the namespace's rows.
   */
  async placedWrites(namespace: string): Promise<{ db: D1Like; inControl: boolean }> {
    const placement = await this.options.locate(namespace, "write");
    const route = this.route(placement);
    return { db: new RoutedD1(async () => route), inControl: placement.database === CONTROL_DATABASE };
  }

  /** Statements on the database of a known placement, writes mirrored to the move's target. */
  route(placement: Placement): Route {
    const mirrors = placement.moving === null ? [] : [this.database(placement.moving)];
    return { primary: this.database(placement.database), mirrors };
  }

  private session(name: string): D1Like {
    const db = this.database(name);
    let session = this.sessions.get(name);
    if (!session) {
      session = readSession(db);
      this.sessions.set(name, session);
    }
    return session;
  }
}

/**
 * The D1 bindings of an env, DB first, then those D1_DATA_DATABASES lists, then any other D1
 * binding (a database no longer taking new namespaces still holds its old ones).
 */
export function d1Bindings(env: object, listed: readonly string[]): Map<string, D1Database> {
  const out = new Map<string, D1Database>();
  const entries = env as Record<string, unknown>;
  const add = (name: string) => {
    const binding = entries[name];
    if (!out.has(name) && isD1(binding)) out.set(name, binding);
  };
  add(CONTROL_DATABASE);
  for (const name of listed) add(name);
  for (const name of Object.keys(entries)) add(name);
  return out;
}

/** Whether a binding is a D1 database (and not another binding that answers any property). */
export function isD1(value: unknown): value is D1Database {
  if (typeof value !== "object" || value === null) return false;
  // A service or Durable Object binding answers any property with an RPC stub, "prepare" too:
  // one that also answers a name nothing defines is not a database.
  if (Reflect.get(value, "notADatabaseMethod") !== undefined) return false;
  return ["prepare", "batch"].every((m) => typeof Reflect.get(value, m) === "function");
}
