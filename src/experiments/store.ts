// An experiment's counters in D1 (DB, migrations/0020_experiments.sql): per arm the searches it
// served with a latency histogram, the shadow comparison, and each search's first click. A search
// in an experiment costs one batch of two upserts, written after the answer (waitUntil).
import { d1 } from "../store/d1";
import type { Arm } from "./model";
import { latencyBucket } from "./stats";

export interface ServedSearch {
  namespace: string;
  experiment: string;
  arm: Arm;
  latencyMs: number;
  empty: boolean;
  degraded: boolean;
}

function latencyUpsert(db: D1Database, namespace: string, experiment: string, series: string, ms: number) {
  return db
    .prepare(
      `INSERT INTO experiment_latency (namespace, experiment, series, bucket, n) VALUES (?1, ?2, ?3, ?4, 1)
       ON CONFLICT (namespace, experiment, series, bucket) DO UPDATE SET n = n + 1`,
    )
    .bind(namespace, experiment, series, latencyBucket(ms));
}

export async function recordServed(db: D1Database, s: ServedSearch): Promise<void> {
  await d1("record experiment search", () =>
    db.batch([
      db
        .prepare(
          `INSERT INTO experiment_arms (namespace, experiment, arm, searches, empty, degraded) VALUES (?1, ?2, ?3, 1, ?4, ?5)
           ON CONFLICT (namespace, experiment, arm) DO UPDATE SET searches = searches + 1,
             empty = empty + excluded.empty, degraded = degraded + excluded.degraded`,
        )
        .bind(s.namespace, s.experiment, s.arm, s.empty ? 1 : 0, s.degraded ? 1 : 0),
      latencyUpsert(db, s.namespace, s.experiment, s.arm, s.latencyMs),
    ]),
  );
}

export interface ShadowSample {
  namespace: string;
  experiment: string;
  /** Null when the candidate failed to answer. */
  comparison: {
    overlap: number;
    rbo: number;
    controlMs: number;
    candidateMs: number;
    controlEmpty: boolean;
    candidateEmpty: boolean;
    controlDegraded: boolean;
    candidateDegraded: boolean;
  } | null;
}

export async function recordShadow(db: D1Database, s: ShadowSample): Promise<void> {
  const c = s.comparison;
  const row = db
    .prepare(
      `INSERT INTO experiment_shadow (namespace, experiment, samples, overlap_sum, rbo_sum, control_empty,
         candidate_empty, control_degraded, candidate_degraded, failed)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
       ON CONFLICT (namespace, experiment) DO UPDATE SET samples = samples + excluded.samples,
         overlap_sum = overlap_sum + excluded.overlap_sum, rbo_sum = rbo_sum + excluded.rbo_sum,
         control_empty = control_empty + excluded.control_empty,
         candidate_empty = candidate_empty + excluded.candidate_empty,
         control_degraded = control_degraded + excluded.control_degraded,
         candidate_degraded = candidate_degraded + excluded.candidate_degraded,
         failed = failed + excluded.failed`,
    )
    .bind(
      s.namespace,
      s.experiment,
      c ? 1 : 0,
      c?.overlap ?? 0,
      c?.rbo ?? 0,
      c?.controlEmpty ? 1 : 0,
      c?.candidateEmpty ? 1 : 0,
      c?.controlDegraded ? 1 : 0,
      c?.candidateDegraded ? 1 : 0,
      c ? 0 : 1,
    );
  const statements = c
    ? [
        row,
        latencyUpsert(db, s.namespace, s.experiment, "shadow-control", c.controlMs),
        latencyUpsert(db, s.namespace, s.experiment, "shadow-candidate", c.candidateMs),
      ]
    : [row];
  await d1("record experiment shadow", () => db.batch(statements));
}

export interface Click {
  namespace: string;
  experiment: string;
  /** The search id's signature: a search's first click is kept, later ones are not counted. */
  search: string;
  arm: Arm;
  rank: number;
  document: string;
  at: number;
}

/** Records a search's first click; false when the search already had one. */
export async function recordClick(db: D1Database, click: Click): Promise<boolean> {
  const result = await d1("record experiment click", () =>
    db
      .prepare(
        `INSERT INTO experiment_clicks (namespace, experiment, search, arm, rank, document, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING`,
      )
      .bind(click.namespace, click.experiment, click.search, click.arm, click.rank, click.document, click.at)
      .run(),
  );
  return (result.meta.changes ?? 0) > 0;
}

export interface ArmCounters {
  searches: number;
  empty: number;
  degraded: number;
  clicks: number;
  rrSum: number;
  rrSquares: number;
  latency: Map<number, number>;
}

export interface ExperimentCounters {
  arms: Record<Arm, ArmCounters>;
  shadow: {
    samples: number;
    overlapSum: number;
    rboSum: number;
    controlEmpty: number;
    candidateEmpty: number;
    controlDegraded: number;
    candidateDegraded: number;
    failed: number;
    latency: { control: Map<number, number>; candidate: Map<number, number> };
  };
}

function emptyArm(): ArmCounters {
  return { searches: 0, empty: 0, degraded: 0, clicks: 0, rrSum: 0, rrSquares: 0, latency: new Map() };
}

export async function readCounters(
  db: D1Database,
  namespace: string,
  experiment: string,
): Promise<ExperimentCounters> {
  const [arms, latency, shadow, clicks] = await d1("read experiment counters", () =>
    db.batch([
      db
        .prepare(
          "SELECT arm, searches, empty, degraded FROM experiment_arms WHERE namespace = ?1 AND experiment = ?2",
        )
        .bind(namespace, experiment),
      db
        .prepare("SELECT series, bucket, n FROM experiment_latency WHERE namespace = ?1 AND experiment = ?2")
        .bind(namespace, experiment),
      db
        .prepare("SELECT * FROM experiment_shadow WHERE namespace = ?1 AND experiment = ?2")
        .bind(namespace, experiment),
      db
        .prepare(
          `SELECT arm, COUNT(*) AS clicks, SUM(1.0 / rank) AS rr, SUM(1.0 / (rank * rank)) AS rr2
           FROM experiment_clicks WHERE namespace = ?1 AND experiment = ?2 GROUP BY arm`,
        )
        .bind(namespace, experiment),
    ]),
  );
  const out: ExperimentCounters = {
    arms: { control: emptyArm(), candidate: emptyArm() },
    shadow: {
      samples: 0,
      overlapSum: 0,
      rboSum: 0,
      controlEmpty: 0,
      candidateEmpty: 0,
      controlDegraded: 0,
      candidateDegraded: 0,
      failed: 0,
      latency: { control: new Map(), candidate: new Map() },
    },
  };
  const armOf = (name: unknown) => (name === "candidate" ? out.arms.candidate : out.arms.control);
  for (const r of (arms?.results ?? []) as {
    arm: string;
    searches: number;
    empty: number;
    degraded: number;
  }[]) {
    Object.assign(armOf(r.arm), { searches: r.searches, empty: r.empty, degraded: r.degraded });
  }
  for (const r of (latency?.results ?? []) as { series: string; bucket: number; n: number }[]) {
    const target =
      r.series === "shadow-control"
        ? out.shadow.latency.control
        : r.series === "shadow-candidate"
          ? out.shadow.latency.candidate
          : armOf(r.series).latency;
    target.set(r.bucket, r.n);
  }
  const s = (shadow?.results ?? [])[0] as Record<string, number> | undefined;
  if (s) {
    Object.assign(out.shadow, {
      samples: s.samples,
      overlapSum: s.overlap_sum,
      rboSum: s.rbo_sum,
      controlEmpty: s.control_empty,
      candidateEmpty: s.candidate_empty,
      controlDegraded: s.control_degraded,
      candidateDegraded: s.candidate_degraded,
      failed: s.failed,
    });
  }
  for (const r of (clicks?.results ?? []) as { arm: string; clicks: number; rr: number; rr2: number }[]) {
    Object.assign(armOf(r.arm), { clicks: r.clicks, rrSum: r.rr ?? 0, rrSquares: r.rr2 ?? 0 });
  }
  return out;
}
