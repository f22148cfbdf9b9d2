// `npm run verify`: the check run inside workerd against the real Worker (its fetch handler, the
// real queue, consumer, D1, KV and the local index), as it runs against a deployment. A healthy
// service passes every step and keeps no canary; a broken step stops the run there with exit code 1
// and a one-line reason, and the canary is still removed.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type VerifyFlags, verifyCommand } from "../../scripts/lib/verify.ts";
import { adminKey, api, freshNamespace } from "../support";

const BASE_URL = "http://edgesearch.test";
const STEPS = [
  "health",
  "ingest",
  "indexed",
  "search keyword",
  "search vector",
  "search hybrid",
  "search filter",
  "cache",
  "delete",
  "stats",
  "cleanup",
];

const workerFetch = async (input: string, init?: RequestInit) =>
  exports.default.fetch(new Request(input, init));

async function verify(flags: VerifyFlags) {
  const lines: string[] = [];
  const code = await verifyCommand(
    { url: BASE_URL, ...flags },
    {
      fetch: workerFetch,
      env: {},
      devAdminKey: () => undefined,
      log: (line) => lines.push(line),
    },
  );
  // Step lines: "ok    health   12 ms  detail" / "FAIL  ingest ...".
  const steps = lines
    .map((line) => /^(ok|FAIL)\s+(\S+(?: (?:keyword|vector|hybrid|filter))?)\s+\d+ ms\s+(.*)$/.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({ result: m[1], name: m[2], detail: m[3] ?? "" }));
  return { code, lines, steps, last: lines.at(-1) ?? "" };
}

/** The canary's id, from the first line ("verify URL: namespace NS, canary ID (...)"). */
const canaryId = (lines: string[]) => /canary (\S+) /.exec(lines[0] ?? "")?.[1] ?? "";

// A whole run indexes a document and waits out the result cache's settle time (1 s locally).
const RUN_MS = 90_000;

describe("npm run verify", () => {
  it(
    "passes every step against a healthy service and leaves the namespace as it found it",
    async () => {
      const ns = freshNamespace("verify");
      const run = await verify({ key: adminKey(), namespace: ns, timeout: "60" });
      expect(run.steps.map((s) => `${s.result} ${s.name}`)).toEqual(STEPS.map((name) => `ok ${name}`));
      expect(run.code).toBe(0);
      expect(run.last).toMatch(/^verify passed in [\d.]+ s$/);
      expect(run.steps.find((s) => s.name === "cache")?.detail).toMatch(/^hit from isolate/);

      const stats = await api<{ documents: number; chunks: number }>("GET", `/v1/namespaces/${ns}`);
      expect(stats.body).toMatchObject({ documents: 0, chunks: 0 });
      const canary = await api<{ status: string }>(
        "GET",
        `/v1/namespaces/${ns}/documents/${canaryId(run.lines)}`,
      );
      expect(canary.body.status).toBe("deleted");
    },
    RUN_MS,
  );

  it(
    "stops at ingest with exit code 1 and the reason when the key is wrong",
    async () => {
      const ns = freshNamespace("verify");
      const run = await verify({ key: "es_wrong_key_0123456789abcdef0123456789", namespace: ns });
      expect(run.code).toBe(1);
      expect(run.steps.map((s) => `${s.result} ${s.name}`)).toEqual([
        "ok health",
        "FAIL ingest",
        "ok cleanup",
      ]);
      expect(run.steps[1]?.detail).toMatch(/ 401 /);
      expect(run.last).toMatch(/^verify FAILED at ingest after [\d.]+ s: .* 401 /);
    },
    RUN_MS,
  );

  it(
    "removes the canary when a later step fails",
    async () => {
      const ns = freshNamespace("verify");
      // Not in FILTERABLE_FIELDS: the service refuses the filter with a 400.
      const run = await verify({ key: adminKey(), namespace: ns, "filter-field": "color" });
      expect(run.code).toBe(1);
      expect(run.steps.at(-2)).toMatchObject({ result: "FAIL", name: "search filter" });
      expect(run.steps.at(-2)?.detail).toMatch(/400 .*"color" is not filterable/);
      expect(run.steps.at(-1)).toMatchObject({ result: "ok", name: "cleanup" });
      expect(run.steps.at(-1)?.detail).toMatch(/^deleted verify-/);
      const canary = await api<{ status: string }>(
        "GET",
        `/v1/namespaces/${ns}/documents/${canaryId(run.lines)}`,
      );
      expect(canary.body.status).toBe("deleted");
    },
    RUN_MS,
  );
});
