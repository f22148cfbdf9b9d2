// A D1 database (or session) that counts each query and the rows it read and wrote, from the
// result's `meta` (rows_read, rows_written: what D1 bills, https://developers.cloudflare.com/d1/
// platform/pricing/). Local D1 reports them too, so `npm run dev` and the tests count as production.
import type { Meter } from "./meter";

interface Counted {
  meta?: { rows_read?: number; rows_written?: number };
}

function count(meter: Meter, result: Counted | undefined): void {
  meter.add("d1Queries");
  meter.add("d1RowsRead", result?.meta?.rows_read ?? 0);
  meter.add("d1RowsWritten", result?.meta?.rows_written ?? 0);
}

// Wrapped statement -> the statement it wraps (batch() must be given the binding's own).
const inner = new WeakMap<object, D1PreparedStatement>();

function unwrap(statement: D1PreparedStatement): D1PreparedStatement {
  return inner.get(statement) ?? statement;
}

/**
 * first() hides `meta`, so it runs as all(): workerd's D1PreparedStatement.first sends the same
 * "/query" as all() and returns results[0] (cloudflare/workerd src/cloudflare/internal/d1-api.ts),
 * throwing "D1_COLUMN_NOTFOUND: Column not found (<name>)" for a column the row lacks.
 */
function meteredStatement(statement: D1PreparedStatement, meter: Meter): D1PreparedStatement {
  const all = async <T>() => {
    const result = await statement.all<T>();
    count(meter, result);
    return result;
  };
  const wrapped = {
    bind: (...values: unknown[]) => meteredStatement(statement.bind(...values), meter),
    all,
    run: async <T>() => {
      const result = await statement.run<T>();
      count(meter, result);
      return result;
    },
    first: async (column?: string) => {
      const row = (await all<Record<string, unknown>>()).results[0];
      if (row === undefined) return null;
      if (column === undefined) return row;
      if (!(column in row)) throw new Error(`D1_COLUMN_NOTFOUND: Column not found (${column})`);
      return row[column];
    },
    // raw() returns no meta: the query is counted, its rows are not (nothing here calls raw()).
    raw: (options?: { columnNames?: boolean }) => {
      meter.add("d1Queries");
      return options?.columnNames ? statement.raw({ columnNames: true }) : statement.raw();
    },
  };
  inner.set(wrapped, statement);
  return wrapped as unknown as D1PreparedStatement;
}

/** `db` (a database or a session of one) counting into `meter`; sessions it opens count too. */
export function meteredD1<T extends object>(db: T, meter: Meter): T {
  return new Proxy(db, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop === "prepare") {
        return (query: string) => meteredStatement((target as D1Database).prepare(query), meter);
      }
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const results = await (target as D1Database).batch(statements.map(unwrap));
          for (const result of results) count(meter, result);
          return results;
        };
      }
      if (prop === "withSession") {
        return (constraint?: string) => meteredD1((target as D1Database).withSession(constraint), meter);
      }
      if (prop === "exec") {
        return async (query: string) => {
          const result = await (target as D1Database).exec(query);
          meter.add("d1Queries", result.count);
          return result;
        };
      }
      return value.bind(target);
    },
  });
}
