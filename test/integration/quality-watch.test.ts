// The scheduled quality watch end to end: golden queries scored by the cron on the active version
// (and an experiment's candidate), the nDCG@10 series read back through the API, the quality drop
// alert raised by the first run after a worse version is activated with force, once, and cleared
// when the version's quality recovers; a healthy activation raises nothing; retention bounds.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HeldQueue } from "../fakes/held-queue";
import { api, freshNamespace, waitFor, waitIndexed, waitVersionReady } from "../support";
import { runCron } from "../support/cron";
import { type Doc, slice } from "../support/scifact";

interface QualityBody {
  namespace: string;
  tolerance: number;
  retention: { days: number; pointsPerVersion: number };
  versions: {
    version: string;
    activation: { ndcg: number; source: string; at: string | null } | null;
    alerting: boolean;
    latest: { at: string; ndcg: number; queries: number } | null;
    pass: { scored: number } | null;
    points: { at: string; ndcg: number; queries: number }[];
  }[];
}

// A model with more dimensions (the local stand-in hashes into more buckets: no worse answers)
// and another chunking, so the build re-chunks documents from R2.
const V2 = { model: "@cf/baai/bge-large-en-v1.5", chunking: { maxTokens: 128, overlapTokens: 16 } };

/** Writes `docs`, and waits until the namespace's `total` documents are indexed. */
async function ingest(ns: string, docs: Doc[], total = docs.length): Promise<void> {
  const res = await api("POST", `/v1/namespaces/${ns}/documents`, { documents: docs });
  expect(res.body).toMatchObject({ accepted: docs.length });
  await waitIndexed(ns, total);
}

/** Activates, retrying while the index applies the build's last writes. */
async function activate(ns: string, id: string, body: Record<string, unknown> = {}) {
  return waitFor(`${id} to activate`, async () => {
    const res = await api<{
      gate: { passed: boolean; ndcg: number; activeNdcg: number | null };
      detail?: string;
    }>("POST", `/v1/namespaces/${ns}/versions/${id}/activate`, body);
    if (res.status === 409 && String(res.body.detail).includes("has not applied")) return undefined;
    return res;
  });
}

async function quality(ns: string): Promise<QualityBody> {
  const res = await api<QualityBody>("GET", `/v1/namespaces/${ns}/versions/quality`);
  expect(res.status).toBe(200);
  return res.body;
}

function versionOf(body: QualityBody, id: string) {
  const v = body.versions.find((x) => x.version === id);
  if (!v) throw new Error(`no quality record for ${id}: ${JSON.stringify(body)}`);
  return v;
}

/** The error-level log lines of `event` for namespace `ns` while `run` runs. */
async function errorsDuring(event: string, ns: string, run: () => Promise<unknown>): Promise<number> {
  let seen = 0;
  const spy = vi.spyOn(console, "error").mockImplementation((line: unknown) => {
    const record = JSON.parse(String(line)) as { event?: string; namespace?: string };
    if (record.event === event && record.namespace === ns) seen++;
  });
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return seen;
}

/** The namespace's next pass is due (its last one completed an interval ago). */
async function makeDue(ns: string): Promise<void> {
  await env.DB.prepare(
    "UPDATE quality_versions SET measured_at = measured_at - 3600000 WHERE namespace = ?1 AND measured_at IS NOT NULL",
  )
    .bind(ns)
    .run();
}

afterEach(() => vi.restoreAllMocks());

describe("quality watch", () => {
  it("scores an experiment's candidate, alerts once on the first run after a worse version is forced active, and clears on recovery", async () => {
    const ns = freshNamespace("qw");
    const { docs, golden } = slice(60);
    expect(golden.length).toBeGreaterThan(4);
    // One Paid run scores the whole set for one version (QUALITY_LIMITS.queries.paid).
    expect(golden.length).toBeLessThanOrEqual(20);
    await ingest(ns, docs);
    expect((await api("PUT", `/v1/namespaces/${ns}/golden-queries`, { queries: golden })).status).toBe(200);
    // v2 is degraded: half of the golden queries' relevant documents are replaced in R2 behind
    // the index's back before v2 is built from R2, so v2 lacks them (v1 keeps them).
    const damaged = docs.filter((d) => golden.some((g, i) => i % 2 === 0 && g.relevant.includes(d.id)));
    for (const d of damaged) await env.DOCUMENTS.put(`${ns}/${d.id}`, "replaced out of band");
    expect((await api("POST", `/v1/namespaces/${ns}/versions`, V2)).status).toBe(202);
    await waitVersionReady(ns, "v2");

    // While an experiment runs, the candidate is scored too; it has no activation value to fall below.
    const started = await api<{ id: string }>("POST", `/v1/namespaces/${ns}/experiments`, {
      candidateVersion: "v2",
      share: 0.1,
    });
    expect(started.status).toBe(201);
    expect(await errorsDuring("quality.dropped", ns, () => runCron(new HeldQueue(), ns))).toBe(0);
    const during = await quality(ns);
    const v1Score = versionOf(during, "v1").latest?.ndcg ?? -1;
    const candidateScore = versionOf(during, "v2").latest?.ndcg ?? -1;
    expect(versionOf(during, "v1")).toMatchObject({
      activation: { source: "first_measurement", ndcg: v1Score },
      alerting: false,
      latest: { queries: golden.length },
    });
    expect(versionOf(during, "v2")).toMatchObject({ activation: null, alerting: false });
    expect(candidateScore).toBeGreaterThanOrEqual(0);
    expect(candidateScore).toBeLessThan(v1Score - during.tolerance);
    expect((await api("POST", `/v1/namespaces/${ns}/experiments/${started.body.id}/stop`, {})).status).toBe(
      200,
    );

    // The worse version is activated with force: its gate failed, so it is held to v1's score.
    const forced = await activate(ns, "v2", { force: true });
    expect(forced.status).toBe(200);
    expect(forced.body.gate.passed).toBe(false);
    const activeNdcg = forced.body.gate.activeNdcg ?? -1;

    // ONE scheduled run raises the alert: an error log, a health finding, the series.
    expect(await errorsDuring("quality.dropped", ns, () => runCron(new HeldQueue(), ns))).toBe(1);
    const after = versionOf(await quality(ns), "v2");
    expect(after).toMatchObject({ activation: { source: "replaced", ndcg: activeNdcg }, alerting: true });
    expect(after.points).toHaveLength(2);
    expect(after.latest?.ndcg).toBeLessThan(activeNdcg - 0.02);
    const stats = await api<{ health: { problems: string[]; qualityDrop: number } }>(
      "GET",
      `/v1/namespaces/${ns}`,
    );
    expect(stats.body.health.qualityDrop).toBe(1);
    expect(stats.body.health.problems).toContain("quality_drop");
    // The dashboard charts the series with the activation value.
    const metrics = await api<{
      quality: {
        namespace: string;
        version: string;
        activationNdcg: number;
        alerting: boolean;
        points: unknown[];
      }[];
    }>("GET", "/v1/admin/metrics");
    expect(metrics.body.quality.find((q) => q.namespace === ns && q.version === "v2")).toMatchObject({
      activationNdcg: activeNdcg,
      alerting: true,
      points: [{}, {}],
    });
    const page = await api("GET", "/v1/admin/dashboard");
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain(
      `{"namespace":"${ns}","version":"v2","activationNdcg":${activeNdcg},"alerting":true`,
    );
    expect(String(page.body)).toContain('"activation"');

    // The next measurement is still low: no second alert.
    await makeDue(ns);
    expect(await errorsDuring("quality.dropped", ns, () => runCron(new HeldQueue(), ns))).toBe(0);
    expect(versionOf(await quality(ns), "v2")).toMatchObject({ alerting: true });

    // The replaced documents are written again, revised (they reach v2 too): quality recovers,
    // the alert clears.
    await ingest(
      ns,
      damaged.map((d) => ({ ...d, text: `${d.text} (revised)` })),
      docs.length,
    );
    await waitFor(
      "v2's quality to recover",
      async () => {
        await makeDue(ns);
        await runCron(new HeldQueue(), ns);
        return !versionOf(await quality(ns), "v2").alerting;
      },
      90_000,
      200,
    );
    const recovered = await api<{ health: { problems: string[]; qualityDrop: number } }>(
      "GET",
      `/v1/namespaces/${ns}`,
    );
    expect(recovered.body.health.qualityDrop).toBe(0);
    expect(recovered.body.health.problems).not.toContain("quality_drop");
  }, 240_000);

  it("raises nothing after a healthy activation, and keeps at most the retention bound of points", async () => {
    const ns = freshNamespace("qwok");
    const { docs, golden } = slice(20);
    await ingest(ns, docs);
    await api("PUT", `/v1/namespaces/${ns}/golden-queries`, { queries: golden });
    expect((await api("POST", `/v1/namespaces/${ns}/versions`, { model: V2.model })).status).toBe(202);
    await waitVersionReady(ns, "v2");
    const activated = await activate(ns, "v2");
    expect(activated.status).toBe(200);
    expect(activated.body.gate.passed).toBe(true);

    // Older points: 725 of v2 within the age bound, and one of v1 past it.
    const now = Date.now();
    const insert = env.DB.prepare(
      "INSERT INTO quality_points (namespace, version, at, ndcg, queries) VALUES (?1, ?2, ?3, 0.5, 1)",
    );
    const seeded = Array.from({ length: 725 }, (_, i) => insert.bind(ns, "v2", now - 86_400_000 + i));
    await env.DB.batch([...seeded, insert.bind(ns, "v1", now - 31 * 86_400_000)]);

    expect(await errorsDuring("quality.dropped", ns, () => runCron(new HeldQueue(), ns))).toBe(0);
    const body = await quality(ns);
    expect(body.retention).toEqual({ days: 30, pointsPerVersion: 720 });
    const v2 = versionOf(body, "v2");
    expect(v2).toMatchObject({
      activation: { source: "gate", ndcg: activated.body.gate.ndcg },
      alerting: false,
      latest: { queries: golden.length },
    });
    expect(v2.latest?.ndcg).toBeCloseTo(activated.body.gate.ndcg, 6);
    // The new point is kept, with the 719 newest seeded ones.
    expect(v2.points).toHaveLength(720);
    expect(v2.points[0]?.at).toBe(new Date(now - 86_400_000 + 6).toISOString());
    const old = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM quality_points WHERE namespace = ?1 AND version = 'v1'",
    )
      .bind(ns)
      .first<{ n: number }>();
    expect(old?.n).toBe(0);
    const stats = await api<{ health: { problems: string[]; qualityDrop: number } }>(
      "GET",
      `/v1/namespaces/${ns}`,
    );
    expect(stats.body.health.qualityDrop).toBe(0);
  }, 180_000);
});
