// D1 calls with failures turned into AppErrors (D1 reports them as plain Errors): retryable
// unless the statement itself is at fault.
import { AppError, errorMessage } from "../errors";

/** What reads and batched writes need of D1: the database, or a session of it (read replicas). */
export type D1Like = Pick<D1Database, "prepare" | "batch">;

/**
 * A D1 session that reads from the nearest read replica when the database has read replication
 * enabled (its first query may go to any replica; later ones see at least what earlier ones
 * saw), and from the primary otherwise. Writes through it always go to the primary.
 */
export function readSession(db: D1Database): D1Like {
  return typeof db.withSession === "function" ? db.withSession("first-unconstrained") : db;
}

/**
 * D1 errors that the same statement with the same values meets every time, so a retry only
 * delays the failure: the statement or its values are at fault, not the database. Messages as
 * workerd's D1 reports them ("D1_ERROR: near \"SELEC\": syntax error at offset 0: SQLITE_ERROR",
 * "D1_ERROR: statement too long: SQLITE_TOOBIG", "D1_TYPE_ERROR: Type 'undefined' not supported
 * ..."); https://developers.cloudflare.com/d1/observability/debug-d1/ lists the transient ones
 * (a reset D1 object, a lost network connection), which stay retryable like any error not here.
 */
const PERMANENT_D1_ERRORS = [
  /\bD1_TYPE_ERROR\b/,
  /\bSQLITE_TOOBIG\b/,
  /\bsyntax error\b/,
  /\bvariable number must be between\b/,
  /\btoo many SQL variables\b/,
  /\bunterminated string\b/,
];

/** Whether a D1 error would recur on a retry of the same statement and values. */
export function isPermanentD1Error(message: string): boolean {
  return PERMANENT_D1_ERRORS.some((pattern) => pattern.test(message));
}

export async function d1<T>(op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError) throw err;
    const message = errorMessage(err);
    const permanent = isPermanentD1Error(message);
    throw new AppError(permanent ? "internal" : "unavailable", `D1 ${op} failed: ${message}`, {
      retryable: !permanent,
      cause: err,
    });
  }
}
