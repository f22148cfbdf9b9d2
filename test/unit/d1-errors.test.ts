// Which D1 failures are retried: the database's transient ones, never those the statement or its
// values cause, which would only fail again (and, on ingest, spend a document's attempts).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import { d1 } from "../../src/store/d1";

async function failure(fn: () => Promise<unknown>): Promise<AppError> {
  try {
    await d1("probe", fn);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("expected the D1 call to fail");
}

describe("d1", () => {
  it.each<[string, () => Promise<unknown>]>([
    [
      "more bound values than D1 allows",
      () => {
        const params = Array.from({ length: 101 }, (_, i) => `?${i + 1}`).join(",");
        return env.DB.prepare(`SELECT ${params}`)
          .bind(...Array.from({ length: 101 }, () => 1))
          .all();
      },
    ],
    ["a syntax error", () => env.DB.prepare("SELEC 1").all()],
    ["a statement over D1's length limit", () => env.DB.prepare(`SELECT 1 ${" ".repeat(200_000)}`).all()],
    [
      "a value of a type D1 refuses",
      () =>
        env.DB.prepare("SELECT ?1")
          .bind(undefined as never)
          .all(),
    ],
  ])("does not retry %s, which fails the same way every time", async (_, fn) => {
    const err = await failure(fn);
    expect(err.retryable).toBe(false);
    expect(err.code).toBe("internal");
    expect(err.message).toMatch(/^D1 probe failed: D1_/);
  });

  it.each([
    "D1_ERROR: Network connection lost.",
    "D1_ERROR: D1 DB reset because its code was updated.",
    "D1_ERROR: Internal error while starting up D1 DB storage caused object to be reset.",
    "D1_ERROR: D1 DB is overloaded. Requests queued for too long.",
  ])("retries the transient failure %s", async (message) => {
    const err = await failure(() => Promise.reject(new Error(message)));
    expect(err.retryable).toBe(true);
    expect(err.code).toBe("unavailable");
  });

  it("passes an AppError through as it is", async () => {
    const original = new AppError("not_found", "gone");
    expect(await failure(() => Promise.reject(original))).toBe(original);
  });
});
