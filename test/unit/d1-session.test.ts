// Searches read D1 through a session so that a database with read replication answers from the
// nearest replica; a binding without sessions is used as it is.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readSession } from "../../src/store/d1";

describe("readSession", () => {
  it("opens an unconstrained session when the binding has sessions", () => {
    const asked: unknown[] = [];
    const session = { prepare: () => null, batch: async () => [] };
    const db = {
      withSession: (constraint: unknown) => {
        asked.push(constraint);
        return session;
      },
    } as unknown as D1Database;
    expect(readSession(db)).toBe(session);
    expect(asked).toEqual(["first-unconstrained"]);
  });

  it("uses the database itself when the binding has no sessions", () => {
    const db = { prepare: () => null, batch: async () => [] } as unknown as D1Database;
    expect(readSession(db)).toBe(db);
  });

  it("reads what the database holds through the local binding's session", async () => {
    await env.DB.prepare("CREATE TABLE IF NOT EXISTS session_probe (n INTEGER)").run();
    await env.DB.prepare("INSERT INTO session_probe (n) VALUES (42)").run();
    const row = await readSession(env.DB).prepare("SELECT n FROM session_probe").first<{ n: number }>();
    expect(row?.n).toBe(42);
  });
});
