// What a Durable Object method returns instead of throwing our errors: RPC keeps an error's
// message but not its class or fields, and callers need the AppError code and retryable flag.
// Anything that is not an AppError still throws (a bug, reported as such).
import { AppError, type ErrorCode } from "../../src/errors";

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
