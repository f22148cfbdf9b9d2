// A D1 handle whose database is decided when a statement runs, not when it is prepared: code that
// prepares statements synchronously (the document store, keyword search, the quota store) works
// unchanged on whichever pool member holds a namespace. Statements remember their SQL and bound
// values and are prepared again on the resolved database; a batch resolves once, so its
// statements still commit together in one database.
import type { D1Like } from "./d1";

/** Where the statements go: the database reads and results come from, and any that mirror writes. */
export interface Route {
  primary: D1Like;
  /** Databases each write is applied to as well, after the primary (a namespace being moved). */
  mirrors: readonly D1Like[];
}

class DeferredStatement {
  constructor(
    private readonly owner: RoutedD1,
    readonly sql: string,
    readonly values: readonly unknown[] = [],
  ) {}

  bind(...values: unknown[]): DeferredStatement {
    return new DeferredStatement(this.owner, this.sql, values);
  }

  on(db: D1Like): D1PreparedStatement {
    const statement = db.prepare(this.sql);
    return this.values.length > 0 ? statement.bind(...this.values) : statement;
  }

  async first<T>(column?: string): Promise<T | null> {
    const route = await this.owner.route();
    const statement = this.on(route.primary);
    return column === undefined ? statement.first<T>() : statement.first<T>(column);
  }

  async all<T>(): Promise<D1Result<T>> {
    const route = await this.owner.route();
    const result = await this.on(route.primary).all<T>();
    await this.owner.mirror(route, [this]);
    return result;
  }

  async run<T>(): Promise<D1Result<T>> {
    const route = await this.owner.route();
    const result = await this.on(route.primary).run<T>();
    await this.owner.mirror(route, [this]);
    return result;
  }

  async raw<T>(options?: { columnNames?: boolean }): Promise<T[]> {
    const route = await this.owner.route();
    // biome-ignore lint/suspicious/noExplicitAny: raw() is overloaded on columnNames.
    return (this.on(route.primary) as any).raw(options);
  }
}

/** Writes in SQL: anything but a read-only statement is mirrored. */
const READ_ONLY = /^\s*(SELECT|WITH|EXPLAIN|PRAGMA)\b/i;

export class RoutedD1 implements D1Like {
  private resolved: Promise<Route> | null = null;

  constructor(private readonly resolve: () => Promise<Route>) {}

  /** Resolved once per handle (a handle lives for one request or batch of one namespace). */
  route(): Promise<Route> {
    this.resolved ??= this.resolve().catch((err: unknown) => {
      this.resolved = null;
      throw err;
    });
    return this.resolved;
  }

  prepare(sql: string): D1PreparedStatement {
    return new DeferredStatement(this, sql) as unknown as D1PreparedStatement;
  }

  async batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
    const deferred = statements as unknown as DeferredStatement[];
    const route = await this.route();
    const results = await route.primary.batch<T>(deferred.map((s) => s.on(route.primary)));
    await this.mirror(route, deferred);
    return results;
  }

  /** Applies the writes among `statements` to each mirror, as one batch per mirror. */
  async mirror(route: Route, statements: readonly DeferredStatement[]): Promise<void> {
    if (route.mirrors.length === 0) return;
    const writes = statements.filter((s) => !READ_ONLY.test(s.sql));
    if (writes.length === 0) return;
    for (const db of route.mirrors) await db.batch(writes.map((s) => s.on(db)));
  }
}
