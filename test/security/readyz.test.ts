// /readyz is public: anyone learns the status and its HTTP code, only admin keys learn which
// dependency failed and why, and anonymous probes reuse the isolate's last result for a few
// seconds instead of calling every dependency each time.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ANONYMOUS_READYZ_MS, clearReadinessCache } from "../../workers/api/routes/health";
import { adminKey, freshNamespace } from "../support";
import { bearer, createKey, expectProblem, send, unknownKey } from "./support";

// A drill of its own: its failures count against breakers no other test uses.
const BROKEN_R2 = { "x-edgesearch-faults": JSON.stringify({ r2: { error: 1 }, scope: "readyz-security" }) };

const readyz = (headers: Record<string, string> = {}) => send({ method: "GET", path: "/readyz", headers });

describe("/readyz", () => {
  beforeEach(() => clearReadinessCache());
  afterEach(() => vi.restoreAllMocks());

  it("tells anonymous callers and non-admin keys the status only", async () => {
    const search = await createKey({ namespaces: [freshNamespace("rz")], roles: ["search", "write"] });
    for (const headers of [{}, bearer(search.key)]) {
      const res = await readyz(headers);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ status: "ready" });
    }
    clearReadinessCache();
    const broken = await readyz(BROKEN_R2);
    expect(broken.status).toBe(503);
    expect(broken.json).toEqual({ status: "unavailable" });
    expect(broken.headers.get("retry-after")).toBe("5");
    expect(broken.text).not.toMatch(/r2|fault|inject/i);
  });

  it("tells admin keys which check failed and why", async () => {
    const res = await readyz({ ...bearer(adminKey()), ...BROKEN_R2 });
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({
      status: "unavailable",
      checks: { r2: { ok: false, error: expect.any(String) }, d1: { ok: true } },
      breakers: expect.any(Object),
    });
  });

  it("answers a key that does not authenticate with 401", async () => {
    expectProblem(await readyz(bearer(unknownKey())), 401);
  });

  it("answers anonymous probes from the isolate's last result for a few seconds", async () => {
    let now = Date.now();
    vi.spyOn(Date, "now").mockImplementation(() => now);
    expect((await readyz(BROKEN_R2)).status).toBe(503);
    // The dependencies work again, but anonymous probes are not what asks them.
    expect((await readyz()).json).toEqual({ status: "unavailable" });
    now += ANONYMOUS_READYZ_MS - 1;
    expect((await readyz()).status).toBe(503);
    now += 1;
    expect((await readyz()).json).toEqual({ status: "ready" });
    // An admin's probe always asks them, and refreshes what anonymous probes get.
    expect((await readyz(BROKEN_R2)).status).toBe(200);
    expect((await readyz({ ...bearer(adminKey()), ...BROKEN_R2 })).status).toBe(503);
    expect((await readyz()).status).toBe(503);
  });
});
