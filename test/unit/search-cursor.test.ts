// Search cursors: a cursor opens only for the search it was issued for, with the key that signed
// it, before it expires; one whose ranking may have changed (another version, another
// configuration, a newer write generation) is stale.
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import {
  CURSOR_LIMITS,
  type CursorBinding,
  type CursorState,
  checkCurrent,
  cursorKey,
  issueCursor,
  openCursor,
} from "../../src/search/cursor";

const SECRET = "cursor-test-admin-key-0123456789abcdef";
const binding: CursorBinding = { namespace: "docs", request: { query: "comet", topK: 10, mode: "hybrid" } };
const NOW = 1_800_000_000_000;
const state: CursorState = {
  offset: 10,
  version: "v1",
  generation: 7,
  config: "cfg",
  expiresAt: NOW + CURSOR_LIMITS.ttlMs,
};

async function key(secret = SECRET): Promise<CryptoKey> {
  const k = await cursorKey(secret);
  if (!k) throw new Error("no key");
  return k;
}

async function refusal(work: () => unknown): Promise<{ code: string; status: number; reason?: unknown }> {
  try {
    await work();
  } catch (err) {
    if (err instanceof AppError) return { code: err.code, status: err.status, reason: err.extra?.reason };
    throw err;
  }
  throw new Error("not refused");
}

describe("search cursors", () => {
  it("opens for its own search with the page it points to", async () => {
    const cursor = await issueCursor(await key(), binding, state);
    expect(cursor.length).toBeLessThan(CURSOR_LIMITS.maxChars);
    expect(await openCursor(await key(), binding, cursor, NOW)).toEqual(state);
  });

  it("is invalid for another search, with another key, or altered", async () => {
    const k = await key();
    const cursor = await issueCursor(k, binding, state);
    const other = { ...binding, request: { ...binding.request, topK: 20 } };
    const invalid = { code: "invalid_cursor", status: 400, reason: undefined };
    expect(await refusal(() => openCursor(k, other, cursor, NOW))).toEqual(invalid);
    expect(await refusal(() => openCursor(k, { ...binding, namespace: "b" }, cursor, NOW))).toEqual(invalid);
    const otherKey = await key(`${SECRET}-rotated`);
    expect(await refusal(() => openCursor(otherKey, binding, cursor, NOW))).toEqual(invalid);
    const [payload, mac] = cursor.split(".");
    const flipped = `${payload?.slice(0, -1)}${payload?.endsWith("A") ? "B" : "A"}.${mac}`;
    for (const bad of [flipped, `${payload}.`, ".", "x".repeat(CURSOR_LIMITS.maxChars + 1), `${cursor}.x`]) {
      expect(await refusal(() => openCursor(k, binding, bad, NOW))).toEqual(invalid);
    }
  });

  it("is stale once expired", async () => {
    const k = await key();
    const cursor = await issueCursor(k, binding, state);
    expect(await refusal(() => openCursor(k, binding, cursor, state.expiresAt))).toEqual({
      code: "cursor_stale",
      status: 410,
      reason: "expired",
    });
  });

  it("is stale when the version, the configuration or a newer generation says the ranking moved", async () => {
    const current = { version: "v1", generation: 7, config: "cfg" };
    expect(() => checkCurrent(state, current)).not.toThrow();
    // A location whose generation lags knows of no write since the cursor.
    expect(() => checkCurrent(state, { ...current, generation: 6 })).not.toThrow();
    const reasons = await Promise.all(
      [{ version: "v2" }, { config: "other" }, { generation: 8 }].map((change) =>
        refusal(() => checkCurrent(state, { ...current, ...change })),
      ),
    );
    expect(reasons.map((r) => [r.status, r.reason])).toEqual([
      [410, "version"],
      [410, "configuration"],
      [410, "written"],
    ]);
  });

  it("has no key without ADMIN_API_KEY", async () => {
    expect(await cursorKey(undefined)).toBeNull();
  });
});
