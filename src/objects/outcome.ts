// What a Durable Object method returns instead of throwing our errors: RPC keeps an error's
// message but not its class or fields, and callers need the AppError code and retryable flag.
// Anything that is not an AppError still throws (a bug, reported as such).
import { AppError, type ErrorCode, errorMessage } from "../errors";

export type RpcOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: ErrorCode; message: string; retryable: boolean; field?: string } };

export async function toOutcome<T>(run: () => T | Promise<T>): Promise<RpcOutcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return {
      ok: false,
      error: {
        code: err.code,
        message: err.message,
        retryable: err.retryable,
        ...(err.field === undefined ? {} : { field: err.field }),
      },
    };
  }
}

/**
 * The value of a Durable Object call that returns an outcome: its AppError rebuilt when the object
 * refused, and "unavailable" (retryable) when the call itself failed. `what` names the call in
 * messages, e.g. "shard map assign".
 */
export async function fromOutcome<T>(what: string, invoke: () => Promise<unknown>): Promise<T> {
  let reply: RpcOutcome<T>;
  try {
    reply = (await invoke()) as RpcOutcome<T>;
  } catch (err) {
    throw new AppError("unavailable", `${what} failed: ${errorMessage(err)}`, {
      retryable: true,
      cause: err,
      extra: { retryAfter: 1 },
    });
  }
  if (!reply.ok) {
    const { code, message, retryable, field } = reply.error;
    throw new AppError(code, message, { retryable, ...(field === undefined ? {} : { field }) });
  }
  return reply.value;
}
