// Online experiments end to end: two versions of a SciFact namespace (the candidate deliberately
// degraded), a 10% split over 2,000 searches by 200 simulated users who click the first relevant
// result, shadow comparisons, the report, and feedback validation.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bearer, createKey } from "../security/support";
import { api, freshNamespace, waitFor, waitIndexed, waitVersionReady } from "../support";
import { type Doc, slice } from "../support/scifact";
import type { SearchBody } from "../support/search";

interface Arm {
  version: string;
  searches: number;
  clicks: number;
  ctr: { value: number; low: number; high: number };
  mrr: { value: number; low: number; high: number };
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
}

interface Report {
  id: string;
  state: string;
  arms: { control: Arm; candidate: Arm };
  shadow: { samples: number; failed: number; overlapAt10: number | null; rbo: number | null };
  verdict: string;
  minSamples: number;
}

const V2 = { model: "@cf/baai/bge-small-en-v1.5", chunking: { maxTokens: 128, overlapTokens: 16 } };

async function ingest(ns: string, docs: Doc[]): Promise<void> {
  const res = await api("POST", `/v1/namespaces/${ns}/documents`, { documents: docs });
  expect(res.body).toMatchObject({ accepted: docs.length });
  await waitIndexed(ns, docs.length);
}

/**
 * A namespace with v1 active and v2 ready, v2 degraded: half of the golden queries' relevant
 * documents are replaced in R2 behind the index's back before v2 is built from R2, so v2 lacks
 * them (v1 keeps them).
 */
async function twoVersions(prefix: string) {
  const ns = freshNamespace(prefix);
  const { docs, golden } = slice(60);
  await ingest(ns, docs);
  const damaged = new Set(golden.filter((_, i) => i % 2 === 0).flatMap((g) => g.relevant));
  for (const id of damaged) await env.DOCUMENTS.put(`${ns}/${id}`, "replaced out of band");
  expect((await api("POST", `/v1/namespaces/${ns}/versions`, V2)).status).toBe(202);
  await waitVersionReady(ns, "v2");
  return { ns, golden };
}

/**
 * Searches read the experiment from the active-version pointer, which isolates cache briefly:
 * searches until one is in the experiment, and returns that search's arm (it counts too).
 */
async function waitLive(ns: string, id: string, query: string): Promise<"control" | "candidate"> {
  return waitFor(`${id} to reach searches`, async () => {
    const res = await api<SearchBody>("POST", `/v1/namespaces/${ns}/search`, { query, cache: "bypass" });
    return res.body.experiment === id ? res.body.arm : undefined;
  });
}

describe("experiments", () => {
  it("splits 2,000 searches of 200 users stably 90/10, shadows the sampled share and ranks the better version first by clicks", async () => {
    const { ns, golden } = await twoVersions("exp");
    expect(golden.length).toBeGreaterThan(4);
    const started = await api<{ id: string; state: string; control: string; candidate: string }>(
      "POST",
      `/v1/namespaces/${ns}/experiments`,
      { candidateVersion: "v2", share: 0.1, shadowShare: 0.2, minSamples: 150 },
    );
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ state: "running", control: "v1", candidate: "v2" });
    const id = started.body.id;
    const warmUp = await waitLive(ns, id, "warm up");
    // A second one while it runs is a conflict.
    expect(
      (await api("POST", `/v1/namespaces/${ns}/experiments`, { candidateVersion: "v2", share: 0.5 })).status,
    ).toBe(409);

    const armOfUser = new Map<string, Set<string>>();
    const served = { control: 0, candidate: 0 };
    const clicks = { control: [] as number[], candidate: [] as number[] };
    for (let round = 0; round < 10; round++) {
      for (let u = 0; u < 200; u++) {
        const user = `user-${u}`;
        const q = golden[(u + round) % golden.length] as { query: string; relevant: string[] };
        const res = await api<SearchBody>("POST", `/v1/namespaces/${ns}/search`, {
          query: q.query,
          mode: "vector",
          topK: 10,
          includeText: false,
          userId: user,
        });
        expect(res.status).toBe(200);
        const arm = res.body.arm;
        if (arm === undefined) throw new Error("a search during the experiment named no arm");
        expect(res.body.experiment).toBe(id);
        expect(res.body.version).toBe(arm === "candidate" ? "v2" : "v1");
        served[arm]++;
        const arms = armOfUser.get(user) ?? new Set<string>();
        arms.add(arm);
        armOfUser.set(user, arms);
        // The simulated user clicks the first relevant result, if any.
        const position = res.body.results.findIndex((r) => q.relevant.includes(r.id)) + 1;
        if (position === 0) continue;
        const fb = await api<{ recorded: boolean; arm: string }>("POST", `/v1/namespaces/${ns}/feedback`, {
          searchId: res.body.searchId,
          documentId: res.body.results[position - 1]?.id,
          position,
          kind: "click",
        });
        expect(fb.status).toBe(202);
        expect(fb.body).toMatchObject({ recorded: true, arm });
        clicks[arm].push(1 / position);
      }
    }
    // Every user saw one arm only; the candidate answered 10% +- 2 points of the searches.
    expect([...armOfUser.values()].every((arms) => arms.size === 1)).toBe(true);
    const candidateUser = [...armOfUser].find(([, arms]) => arms.has("candidate"))?.[0];
    const share = served.candidate / 2000;
    console.log(`experiment-split ${JSON.stringify(served)}`);
    expect(share).toBeGreaterThanOrEqual(0.08);
    expect(share).toBeLessThanOrEqual(0.12);

    // Counters are written after each answer: wait until all of them landed (the warm-up too).
    let last: Report | undefined;
    const report = await waitFor("the report to count every search", async () => {
      const res = await api<Report>("GET", `/v1/namespaces/${ns}/experiments/${id}`);
      last = res.body;
      const { control, candidate } = res.body.arms;
      return control.searches + candidate.searches === 2001 ? res.body : undefined;
    }).catch((err) => {
      throw new Error(`${err}: ${JSON.stringify(last)}`);
    });
    console.log(`experiment-report ${JSON.stringify(report)}`);
    served[warmUp]++;
    expect(report.arms.control.searches).toBe(served.control);
    expect(report.arms.candidate.searches).toBe(served.candidate);
    expect(report.arms.control.clicks).toBe(clicks.control.length);
    expect(report.arms.candidate.clicks).toBe(clicks.candidate.length);
    const mrr = (rr: number[], n: number) => rr.reduce((s, x) => s + x, 0) / n;
    expect(report.arms.control.mrr.value).toBeCloseTo(mrr(clicks.control, served.control), 6);
    expect(report.arms.candidate.mrr.value).toBeCloseTo(mrr(clicks.candidate, served.candidate), 6);
    expect(report.shadow.samples).toBeGreaterThan(0);
    // The intact version ranks first on both click metrics.
    expect(report.arms.control.mrr.value).toBeGreaterThan(report.arms.candidate.mrr.value);
    expect(report.arms.control.ctr.value).toBeGreaterThan(report.arms.candidate.ctr.value);
    expect(report.verdict).toBe("candidate worse");
    // Shadow: about 20% of the control arm's searches, each with both rankings compared.
    expect(report.shadow.failed).toBe(0);
    expect(report.shadow.samples).toBeGreaterThan(served.control * 0.1);
    expect(report.shadow.samples).toBeLessThan(served.control * 0.3);
    expect(report.shadow.overlapAt10).toBeGreaterThan(0);
    expect(report.shadow.overlapAt10).toBeLessThan(1);
    expect(report.shadow.rbo).toBeGreaterThan(0);
    expect(report.shadow.rbo).toBeLessThan(1);
    expect(report.arms.control.latencyMs.p50).not.toBeNull();

    // Stopped: every search goes to the active version, with no arm.
    const stopped = await api("POST", `/v1/namespaces/${ns}/experiments/${id}/stop`, {});
    expect(stopped.body).toMatchObject({ state: "stopped", endReason: "stopped" });
    const after = await waitFor("the stop to reach searches", async () => {
      const res = await api<SearchBody>("POST", `/v1/namespaces/${ns}/search`, {
        query: golden[0]?.query,
        userId: candidateUser,
      });
      return res.body.experiment === undefined ? res.body : undefined;
    });
    expect(after.version).toBe("v1");
    expect(after.arm).toBeUndefined();
  }, 600_000);

  it("validates feedback against the search it names, and keeps it to the key's namespace", async () => {
    const { ns, golden } = await twoVersions("feedback");
    const other = freshNamespace("feedback-other");
    const started = await api<{ id: string }>("POST", `/v1/namespaces/${ns}/experiments`, {
      candidateVersion: "v2",
      share: 0.5,
    });
    expect(started.status).toBe(201);
    await waitLive(ns, started.body.id, "warm up");
    const q = golden[1] as { query: string };
    const res = await api<SearchBody>("POST", `/v1/namespaces/${ns}/search`, {
      query: q.query,
      userId: "u1",
    });
    const { searchId, results } = res.body;
    if (!searchId) throw new Error("no searchId");
    const first = results[0]?.id as string;
    const second = results[1]?.id as string;
    const post = (body: unknown, headers?: Record<string, string>, path = ns) =>
      api<{ code?: string; detail?: string; recorded?: boolean }>(
        "POST",
        `/v1/namespaces/${path}/feedback`,
        body,
        headers,
      );

    // Unknown and tampered search ids.
    expect((await post({ searchId: "nothing-we-issued", documentId: first, position: 1 })).status).toBe(400);
    const [payload, mac] = searchId.split(".") as [string, string];
    const flipped = `${payload.slice(0, -2)}${payload.endsWith("A") ? "B" : "A"}${payload.slice(-1)}`;
    expect((await post({ searchId: `${flipped}.${mac}`, documentId: first, position: 1 })).status).toBe(400);
    const forged = `${payload}.${mac.startsWith("A") ? "B" : "A"}${mac.slice(1)}`;
    expect((await post({ searchId: forged, documentId: first, position: 1 })).status).toBe(400);
    // A document not at that position, or not in the answer at all.
    const misplaced = await post({ searchId, documentId: second, position: 1 });
    expect(misplaced.status).toBe(400);
    expect(misplaced.body.detail).toMatch(/was not the result at position 1/);
    expect((await post({ searchId, documentId: "not-in-the-answer", position: 2 })).status).toBe(400);
    expect((await post({ searchId, documentId: first, position: 21 })).status).toBe(400);
    // Another namespace's path with this search's id: refused.
    expect((await post({ searchId, documentId: first, position: 1 }, {}, other)).status).toBe(400);
    // A key of another namespace cannot send feedback here.
    const outsider = await createKey({ namespaces: [other], roles: ["search"] });
    expect([403, 404]).toContain(
      (await post({ searchId, documentId: first, position: 1 }, bearer(outsider.key))).status,
    );
    // The valid click counts once; a second click on the same search is accepted, not counted.
    const searcher = await createKey({ namespaces: [ns], roles: ["search"] });
    const ok = await post({ searchId, documentId: first, position: 1 }, bearer(searcher.key));
    expect(ok.status).toBe(202);
    expect(ok.body.recorded).toBe(true);
    const again = await post({ searchId, documentId: second, position: 2 }, bearer(searcher.key));
    expect(again.status).toBe(202);
    expect(again.body.recorded).toBe(false);

    // Without a user, each first page draws its arm; a later page comes from its first page's version.
    const pageRequest = { query: q.query, topK: 2, includeText: false };
    for (let i = 0; i < 6; i++) {
      const page1 = await api<SearchBody>("POST", `/v1/namespaces/${ns}/search`, pageRequest);
      expect(page1.body.nextCursor).toBeDefined();
      for (let j = 0; j < 3; j++) {
        const page2 = await api<SearchBody>("POST", `/v1/namespaces/${ns}/search`, {
          ...pageRequest,
          cursor: page1.body.nextCursor,
        });
        expect(page2.status, JSON.stringify(page2.body)).toBe(200);
        expect(page2.body).toMatchObject({ version: page1.body.version, arm: page1.body.arm });
      }
    }

    // Promoting runs the versions' quality gate: the degraded candidate fails it, and the
    // experiment runs on.
    const id = started.body.id;
    await api("PUT", `/v1/namespaces/${ns}/golden-queries`, { queries: golden });
    const refused = await waitFor("the promotion to be judged by the gate", async () => {
      const res = await api<{ detail?: string }>(
        "POST",
        `/v1/namespaces/${ns}/experiments/${id}/promote`,
        {},
      );
      return res.status === 409 && String(res.body.detail).includes("has not applied") ? undefined : res;
    });
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/quality gate failed for version v2/);
    expect((await api("GET", `/v1/namespaces/${ns}/experiments/${id}`)).body).toMatchObject({
      state: "running",
    });
    // Retiring the candidate ends the experiment; it can no longer be changed.
    expect((await api("POST", `/v1/namespaces/${ns}/versions/v2/retire`, {})).status).toBe(200);
    const ended = await api("GET", `/v1/namespaces/${ns}/experiments/latest`);
    expect(ended.body).toMatchObject({ id, state: "ended", endReason: "candidate v2 retired" });
    expect((await api("PATCH", `/v1/namespaces/${ns}/experiments/${id}`, { share: 0.2 })).status).toBe(409);
  }, 300_000);
});
