// R2 calls with failures turned into retryable AppErrors (R2 does not say which are transient).
import { AppError, errorMessage } from "../errors";

export async function r2<T>(op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new AppError("unavailable", `R2 ${op} failed: ${errorMessage(err)}`, {
      retryable: true,
      cause: err,
    });
  }
}
