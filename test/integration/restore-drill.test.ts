// `npm run restore-drill` run inside workerd against the real Worker (its fetch handler, the real
// queue and consumer, D1, R2 and the local index), as it runs against a deployment: a backup of a
// SciFact slice restores into a scratch namespace with identical counts and identical top 10s
// in every mode, and the scratch namespace is deleted; a namespace that changed since its backup
// fails the drill with the difference shown and an error-level alert line; a namespace without a
// complete backup fails it with the reason.
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type DrillFlags,
  drillCommand,
  parseQueries,
  scratchNamespace,
} from "../../scripts/lib/restore-drill.ts";
import corpusText from "../fixtures/scifact/corpus.jsonl?raw";
import queriesText from "../fixtures/scifact/queries-train.jsonl?raw";
import { adminKey, api, freshNamespace, waitFor, waitIndexed } from "../support";

const BASE_URL = "http://edgesearch.test";
const NOW = new Date("2026-12-05T21:30:00.000Z");

const workerFetch = async (input: string, init?: RequestInit) =>
  exports.default.fetch(new Request(input, init));

const corpus = corpusText
  .split("\n")
  .filter((l) => l.trim() !== "")
  .slice(0, 30)
  .map((l) => {
    const d = JSON.parse(l) as { _id: string; title: string; text: string };
    return { id: d._id, title: d.title, text: d.text };
  });

async function drill(flags: DrillFlags) {
  const lines: string[] = [];
  const alerts: string[] = [];
  const code = await drillCommand(
    { url: BASE_URL, key: adminKey(), queries: "queries-train.jsonl", sample: "8", ...flags },
    {
      fetch: workerFetch,
      env: {},
      devAdminKey: () => undefined,
      readFile: async () => queriesText,
      log: (line) => lines.push(line),
      alert: (line) => alerts.push(line),
      now: NOW,
    },
  );
  return { code, lines, alerts: alerts.map((a) => JSON.parse(a) as Record<string, unknown>) };
}

async function backUp(ns: string): Promise<string> {
  const res = await api<{ id: string }>("POST", `/v1/namespaces/${ns}/backups`, {});
  expect(res.status).toBe(202);
  const done = await waitFor(
    `backup of ${ns}`,
    async () => {
      const job = await api<{ state: string; error: string | null }>(
        "GET",
        `/v1/namespaces/${ns}/backups/${res.body.id}`,
      );
      return job.body.state === "running" ? undefined : job.body;
    },
    60_000,
    100,
  );
  expect(done.state, done.error ?? "").toBe("complete");
  return res.body.id;
}

async function documentsIn(ns: string): Promise<number> {
  const stats = await api<{ documents: number }>("GET", `/v1/namespaces/${ns}`);
  return stats.body.documents;
}

describe("npm run restore-drill", () => {
  const ns = freshNamespace("drill");
  let backupId: string;

  beforeAll(async () => {
    const res = await api("POST", `/v1/namespaces/${ns}/documents`, { documents: corpus });
    expect(res.status).toBe(202);
    await waitIndexed(ns, corpus.length, 60_000);
    backupId = await backUp(ns);
  }, 120_000);

  it("restores the latest backup into a scratch namespace with identical counts and top 10s, then deletes it", async () => {
    const run = await drill({ namespace: ns });
    expect(run.lines.join("\n")).toContain(`backup ${backupId}`);
    expect(run.lines).toContain(`documents  live ${corpus.length}  scratch ${corpus.length}  identical`);
    const rankings = run.lines.filter((l) => /^(ok|DIFF) {2}/.test(l));
    expect(rankings).toHaveLength(8);
    for (const line of rankings)
      expect(line).toMatch(/^ok {4}".+" {2}top 10 identical \(keyword, vector, hybrid\)$/);
    expect(run.lines.at(-1)).toBe(
      "verdict: PASS: counts identical, 24/24 rankings identical (8 queries x 3 modes)",
    );
    expect(run.code).toBe(0);
    expect(run.alerts).toEqual([]);
    const scratch = scratchNamespace(ns, NOW);
    expect(run.lines).toContain(`deleted ${scratch}`);
    expect(await documentsIn(scratch)).toBe(0);
  }, 120_000);

  it("fails, shows the difference and alerts when the live namespace no longer matches its backup", async () => {
    const changed = freshNamespace("drill-changed");
    const res = await api("POST", `/v1/namespaces/${changed}/documents`, { documents: corpus.slice(0, 10) });
    expect(res.status).toBe(202);
    await waitIndexed(changed, 10, 60_000);
    await backUp(changed);
    // Written after the backup: the live namespace has a document the scratch one lacks.
    const extra = corpus[10];
    expect((await api("POST", `/v1/namespaces/${changed}/documents`, { documents: [extra] })).status).toBe(
      202,
    );
    await waitIndexed(changed, 11, 60_000);

    const run = await drill({ namespace: changed, sample: "3" });
    expect(run.code).toBe(1);
    expect(run.lines).toContain("documents  live 11  scratch 10  MISMATCH");
    expect(run.lines.join("\n")).toContain("it changed since the backup");
    expect(run.lines.at(-1)).toMatch(/^verdict: FAIL: counts differ/);
    expect(run.alerts).toEqual([
      expect.objectContaining({ level: "error", event: "restore_drill.failed", namespace: changed }),
    ]);
    expect(await documentsIn(scratchNamespace(changed, NOW))).toBe(0);
  }, 120_000);

  it("fails with the reason when the namespace has no complete backup", async () => {
    const empty = freshNamespace("drill-none");
    const run = await drill({ namespace: empty });
    expect(run.code).toBe(1);
    expect(run.lines).toEqual([
      `restore drill FAILED: ${empty} has no complete backup (POST /v1/namespaces/${empty}/backups)`,
    ]);
    expect(run.alerts).toEqual([
      expect.objectContaining({ event: "restore_drill.failed", namespace: empty }),
    ]);
  });

  it("reads BEIR query files and plain lists, and keeps the scratch name within 63 characters", () => {
    expect(parseQueries('{"_id":"1","text":"a claim"}\n\n{"_id":"2","text":"another"}\n')).toEqual([
      "a claim",
      "another",
    ]);
    expect(parseQueries("first query\nsecond query\nfirst query\n")).toEqual(["first query", "second query"]);
    const long = "n".repeat(63);
    const scratch = scratchNamespace(long, NOW);
    expect(scratch).toHaveLength(63);
    expect(scratch).toMatch(/^n+--drill-20261205t213000$/);
  });
});
