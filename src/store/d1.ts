// D1 calls with failures turned into retryable AppErrors (D1 reports them as plain Errors).
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

export async function d1<T>(op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError("unavailable", `D1 ${op} failed: ${errorMessage(err)}`, {
      retryable: true,
      cause: err,
    });
  }
}
