// D1 calls with failures turned into retryable AppErrors (D1 reports them as plain Errors).
import { AppError, errorMessage } from "../errors";

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
