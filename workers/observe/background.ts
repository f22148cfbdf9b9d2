// Observability for the handlers without a request: queue batches and the scheduled index health
// check (which also sends the shard map each index's vector count). Each run gets a requestId for
// its log lines; error-level lines and crashes go to Sentry when SENTRY_DSN is set; local-mode
// metrics are flushed before the run ends.
import { runScheduledBackups, type ScheduleResult } from "../../src/backup/schedule";
import { type Config, loadConfig } from "../../src/config";
import { errorMessage } from "../../src/errors";
import { PURGE_LIMITS, purgeExpired } from "../../src/ingest/expiry";
import { versionTarget, type WriteTarget } from "../../src/ingest/pipeline";
import { stepJobKinds } from "../../src/jobs/kinds";
import { resendStalledSteps, STEP_RESENDS_PER_RUN } from "../../src/jobs/steps";
import { invocationDataset } from "../../src/observe/analytics-limits";
import { observeConfig } from "../../src/observe/config";
import { replayTransientDeadLetters } from "../../src/observe/dead-letter-replay";
import {
  checkIndexHealth,
  D1_MAX_DATABASE_BYTES,
  healthEvent,
  healthState,
  storeIndexHealth,
  uncheckedHealth,
} from "../../src/observe/index-health";
import { flushLocalMetrics, pruneLocalMetrics } from "../../src/observe/local-dataset";
import { createLogger, type Logger, type LogLevel, type LogSink } from "../../src/observe/logger";
import { AnalyticsEngineMetrics } from "../../src/observe/metrics";
import { repairOrphans } from "../../src/observe/orphan-repair";
import { type RepairResult, repairStuckDocuments } from "../../src/observe/repair";
import { createSentry, reportError } from "../../src/observe/sentry";
import { repairMissingVectors, VECTOR_SETTLE_MS } from "../../src/observe/vector-repair";
import { ShardMapClient } from "../../src/shards/client";
import { shardPolicy } from "../../src/shards/policy";
import { acrossIndexes, reportShardUsage } from "../../src/shards/report";
import type { VectorIndex } from "../../src/vectors/vector-index";
import { QUALITY_LIMITS, type QualityWatchResult, watchQuality } from "../../src/versions/quality-watch";
import type { WorkerEnv } from "../env";
import { planOf, unbudgeted } from "../invocation-budget";
import { buildServices, type Services } from "../services";

const consoleSink: LogSink = (level, line) => {
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
};

/**
 * A logger for one background run: requestId on every line, and each error-level line (a crash
 * the code caught and logged, such as one message failing) reported to Sentry as well.
 */
export function backgroundLogger(
  env: WorkerEnv,
  ctx: ExecutionContext,
  level: LogLevel,
  fields: Record<string, string>,
): Logger {
  const requestId = crypto.randomUUID();
  const { sentryDsn, sentryEnvironment } = observeConfig(env);
  const sink: LogSink = (lineLevel, line) => {
    consoleSink(lineLevel, line);
    if (lineLevel !== "error" || !sentryDsn) return;
    let record: Record<string, unknown> = {};
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      // Not ours to parse: report the event name only.
    }
    const err = record.err as { message?: unknown } | undefined;
    const message = typeof record.error === "string" ? record.error : String(err?.message ?? "");
    reportError(
      createSentry({ dsn: sentryDsn, environment: sentryEnvironment, waitUntil: (p) => ctx.waitUntil(p) }),
      new Error(`${String(record.event ?? "error")}: ${message}`),
      {
        requestId,
        namespace: typeof record.namespace === "string" ? record.namespace : null,
        operation: Object.values(fields).join(" "),
      },
    );
  };
  return createLogger(level, { requestId, ...fields }, sink);
}

/** Runs a background job: a crash is reported and rethrown (the runtime retries the batch). */
export async function runObserved(
  env: WorkerEnv,
  ctx: ExecutionContext,
  operation: string,
  job: () => Promise<void>,
): Promise<void> {
  try {
    await job();
  } catch (err) {
    const { sentryDsn, sentryEnvironment } = observeConfig(env);
    reportError(
      createSentry({ dsn: sentryDsn, environment: sentryEnvironment, waitUntil: (p) => ctx.waitUntil(p) }),
      err,
      { operation },
    );
    throw err;
  } finally {
    if (env.BACKEND === "local") await unbudgeted(() => flushLocalMetrics(env.DB));
  }
}

/**
 * Sends each index's vector count to the shard map (and a page of namespaces from before it);
 * answers the indexes namespaces may live in, for the health check's vector lookups. A failure is
 * logged: the health check runs regardless, and the map keeps its last counts.
 */
async function reportShards(
  env: WorkerEnv,
  config: Config,
  services: Services,
  logger: Logger,
): Promise<VectorIndex[]> {
  const defaults = services.versions.defaults;
  const policy = shardPolicy(config, defaults);
  const resolve = (name: string): VectorIndex | null => {
    try {
      return services.versions.index({ ...defaults, index: name });
    } catch {
      return null;
    }
  };
  let names = [...new Set([policy.defaultIndex, ...policy.indexes])];
  try {
    const report = await reportShardUsage({
      shardMap: new ShardMapClient(env.SHARD_MAP),
      db: env.DB,
      policy,
      index: resolve,
      databases: new Map(services.pool.names().map((name) => [name, services.pool.database(name)])),
      logger,
    });
    names = report.indexes;
    logger.info("shards.reported", {
      indexes: report.reported.map((r) => `${r.index}:${r.vectors}`),
      failed: report.failed,
      adopted: report.adopted,
      databases: report.databases.map((d) => `${d.database}:${d.bytes}`),
    });
  } catch (err) {
    logger.warn("shards.report_failed", { error: errorMessage(err) });
  }
  return names.map(resolve).filter((index): index is VectorIndex => index !== null);
}

/**
 * Deletes expired documents, a bounded amount per run (PURGE_LIMITS); answers whether it purged
 * any. A failure is logged: the health check runs regardless, and the next run tries again.
 */
async function purgeExpiredDocuments(env: WorkerEnv, services: Services, logger: Logger): Promise<boolean> {
  const deps = { ...services, publisher: services.versions.coordinator, databases: services.pool.members() };
  try {
    const report = await purgeExpired(
      { ...deps, logger },
      { documents: PURGE_LIMITS.documents, namespaces: PURGE_LIMITS.namespaces[planOf(env)] },
    );
    if (report.purged > 0 || report.more || report.failed.length > 0)
      logger.info("expiry.purged", { ...report });
    return report.purged > 0 || report.more;
  } catch (err) {
    logger.warn("expiry.purge_failed", { error: errorMessage(err) });
    return false;
  }
}

/**
 * Re-enqueues documents stuck in `queued` (or marks failed those re-enqueued too often). A failure
 * is logged: the findings are stored and emitted regardless, and the next run tries again.
 */
async function repairStuck(
  env: WorkerEnv,
  config: Config,
  services: Services,
  logger: Logger,
): Promise<RepairResult | null> {
  try {
    const result = await repairStuckDocuments(
      {
        databases: services.pool.members(),
        queue: services.queue,
        bucketName: config.documentsBucketName,
        logger,
      },
      { stuckAfterMs: observeConfig(env).stuckQueuedMs },
    );
    if (result.requeued + result.abandoned > 0) {
      logger.warn("repair.done", { requeued: result.requeued, abandoned: result.abandoned });
    }
    return result;
  } catch (err) {
    logger.error("repair.failed", { error: errorMessage(err) });
    return null;
  }
}

/** Replays transient dead letters with backoff; a failure is logged, as for repairStuck. */
async function replayDeadLetters(services: Services, env: WorkerEnv, logger: Logger) {
  try {
    const result = await replayTransientDeadLetters({
      db: env.DB,
      documents: (namespace) => services.pool.writes(namespace),
      queue: services.queue,
      logger,
    });
    if (result.replayed > 0) logger.warn("dead_letter.auto_replay_done", { replayed: result.replayed });
    return result;
  } catch (err) {
    logger.error("dead_letter.auto_replay_failed", { error: errorMessage(err) });
    return null;
  }
}

/** Each namespace's live versions with their embedder and index, asked once per run. */
function liveTargets(services: Services): (namespace: string) => Promise<WriteTarget[]> {
  const known = new Map<string, Promise<WriteTarget[]>>();
  return (namespace) => {
    let targets = known.get(namespace);
    if (!targets) {
      targets = services.versions
        .coordinator(namespace)
        .writeTargets()
        .then((pointer) => pointer.live.map((spec) => versionTarget(services, spec)));
      // A failed call is asked again by the next caller rather than remembered.
      targets.catch(() => known.delete(namespace));
      known.set(namespace, targets);
    }
    return targets;
  };
}

/**
 * Repairs missing vectors, then what outlived its chunk rows (orphan vectors, keyword rows, lost
 * chunk rows). Each failure is logged: the findings are stored regardless, the next run tries again.
 */
async function repairIndex(
  env: WorkerEnv,
  config: Config,
  services: Services,
  logger: Logger,
  missingChunks: readonly string[],
) {
  const deps = {
    databases: services.pool.members(),
    targets: liveTargets(services),
    queue: services.queue,
    bucketName: config.documentsBucketName,
    logger,
  };
  const vectors = await repairMissingVectors(deps).catch((err: unknown) => {
    logger.error("repair.vectors_run_failed", { error: errorMessage(err) });
    return null;
  });
  const orphans = await repairOrphans(deps, {
    settleMs: VECTOR_SETTLE_MS,
    missingChunks,
    plan: planOf(env),
  }).catch((err: unknown) => {
    logger.error("repair.orphans_run_failed", { error: errorMessage(err) });
    return null;
  });
  const touched = (vectors?.repairedVectors ?? 0) + (vectors?.abandoned ?? 0);
  const orphaned = orphans
    ? orphans.orphanVectors + orphans.keywordRepairs + orphans.reindexed + orphans.abandoned
    : 0;
  if (touched + orphaned > 0) {
    logger.warn("repair.index_done", {
      repairedVectors: vectors?.repairedVectors ?? 0,
      orphanVectors: orphans?.orphanVectors ?? 0,
      keywordRepairs: orphans?.keywordRepairs ?? 0,
      reindexed: orphans?.reindexed ?? 0,
      abandoned: (vectors?.abandoned ?? 0) + (orphans?.abandoned ?? 0),
    });
  }
  return {
    repaired: touched + orphaned > 0,
    byNamespace: (namespace: string) => {
      const v = vectors?.byNamespace.get(namespace);
      const o = orphans?.byNamespace.get(namespace);
      return {
        repairedVectors: v?.repairedVectors ?? 0,
        orphanVectors: o?.orphanVectors ?? 0,
        keywordRepairs: o?.keywordRepairs ?? 0,
        reindexed: o?.reindexed ?? 0,
        repairsAbandoned: (v?.abandoned ?? 0) + (o?.abandoned ?? 0),
      };
    },
  };
}

/**
 * Starts due scheduled backups and prunes old ones (src/backup/schedule.ts). A failure is logged,
 * as for repairStuck.
 */
async function scheduledBackups(services: Services, logger: Logger): Promise<ScheduleResult | null> {
  try {
    const result = await runScheduledBackups({
      ...services,
      coordinator: (namespace) => services.versions.coordinator(namespace),
      logger,
    });
    if (result.started + result.skipped + result.failed + result.pruned > 0) {
      logger.info("backup.schedule_done", {
        started: result.started,
        skipped: result.skipped,
        failed: result.failed,
        pruned: result.pruned,
      });
    }
    return result;
  } catch (err) {
    logger.error("backup.schedule_run_failed", { error: errorMessage(err) });
    return null;
  }
}

/**
 * Re-sends the lost steps of erasures, backups, restores and moves, and fails jobs that keep
 * stalling (src/jobs/steps.ts). A failure is logged, as for repairStuck.
 */
async function resendLostSteps(env: WorkerEnv, services: Services, logger: Logger): Promise<void> {
  try {
    const kinds = stepJobKinds({ ...services, db: env.DB, logger });
    const result = await resendStalledSteps({ db: env.DB, logger }, kinds, STEP_RESENDS_PER_RUN[planOf(env)]);
    if (result.resent.length + result.failed.length > 0) {
      logger.warn("step.resend_done", { resent: result.resent.length, failed: result.failed.length });
    }
  } catch (err) {
    logger.error("step.resend_run_failed", { error: errorMessage(err) });
  }
}

/**
 * Scores golden queries on active versions (and experiments' candidates) within the plan's share
 * (QUALITY_LIMITS) and raises or clears the quality drop alert. A failure is logged, as for repairStuck.
 */
async function watchVersionQuality(
  env: WorkerEnv,
  config: Config,
  services: Services,
  logger: Logger,
): Promise<QualityWatchResult | null> {
  const plan = planOf(env);
  const { versions, store, db, guard } = services;
  try {
    const result = await watchQuality(
      {
        db,
        coordinator: (namespace) => versions.coordinator(namespace),
        versions,
        search: { store, db, logger, guard },
        tolerance: config.qualityGate.tolerance,
        logger,
      },
      {
        queries: QUALITY_LIMITS.queries[plan],
        namespaces: QUALITY_LIMITS.namespaces[plan],
        intervalMs: QUALITY_LIMITS.intervalMs,
      },
    );
    if (result.scored > 0) {
      logger.info("quality.watch_done", {
        scored: result.scored,
        measured: result.measured.length,
        dropped: result.dropped.size,
      });
    }
    return result;
  } catch (err) {
    logger.error("quality.watch_run_failed", { error: errorMessage(err) });
    return null;
  }
}

/**
 * The scheduled handler: purges expired documents, checks index health, repairs missing vectors,
 * orphans and lost chunk rows, repairs stuck documents, replays transient dead letters, re-sends
 * lost job steps, runs scheduled backups and retention, watches versions' search quality, stores
 * the findings (with the repairs and backups), emits one point per namespace.
 */
export async function scheduledHealthCheck(env: WorkerEnv, ctx: ExecutionContext): Promise<void> {
  const config = loadConfig(env);
  const logger = backgroundLogger(env, ctx, config.logLevel, { job: "index-health" });
  await runObserved(env, ctx, "scheduled index-health", async () => {
    const services = buildServices(env, config, logger, { defer: (p) => ctx.waitUntil(p), path: "ingest" });
    const purged = await purgeExpiredDocuments(env, services, logger);
    const indexes = await reportShards(env, config, services, logger);
    const report = await checkIndexHealth(
      { db: env.DB, databases: services.pool.members(), index: acrossIndexes(indexes) },
      {
        stuckAfterMs: observeConfig(env).stuckQueuedMs,
        databaseLimitBytes: D1_MAX_DATABASE_BYTES[planOf(env)],
      },
    );
    const missingChunks = report.namespaces.filter((n) => n.problems.includes("missing_chunks"));
    // Free allows 50 D1 queries per invocation: a run that purged leaves the index repairs to the next.
    const deferRepairs = purged && planOf(env) === "free";
    if (deferRepairs) logger.info("repair.index_deferred", { reason: "expiry purge ran (Free plan)" });
    const indexRepairs = deferRepairs
      ? { repaired: false, byNamespace: () => ({}) }
      : await repairIndex(
          env,
          config,
          services,
          logger,
          missingChunks.map((n) => n.namespace),
        );
    const repairs = await repairStuck(env, config, services, logger);
    const replays = await replayDeadLetters(services, env, logger);
    await resendLostSteps(env, services, logger);
    const backups = await scheduledBackups(services, logger);
    // Likewise a Free run that purged or repaired the index leaves the quality watch (6 to 7
    // queries) to the next run; a pass in progress resumes where it stopped.
    const deferQuality = planOf(env) === "free" && (purged || indexRepairs.repaired);
    if (deferQuality)
      logger.info("quality.watch_deferred", { reason: "purge or index repair ran (Free plan)" });
    const quality = deferQuality ? null : await watchVersionQuality(env, config, services, logger);
    // A failed scheduled backup or a quality drop is a finding for its namespace, checked by
    // this run or not.
    for (const [namespace, counts] of backups?.byNamespace ?? []) {
      if (counts.failed > 0) uncheckedHealth(report, namespace);
    }
    for (const namespace of quality?.dropped.keys() ?? []) uncheckedHealth(report, namespace);
    for (const ns of report.namespaces) {
      Object.assign(ns, repairs?.byNamespace.get(ns.namespace), indexRepairs.byNamespace(ns.namespace));
      ns.replayed = replays?.byNamespace.get(ns.namespace) ?? 0;
      const scheduled = backups?.byNamespace.get(ns.namespace);
      ns.backupsStarted = scheduled?.started ?? 0;
      ns.backupsFailed = scheduled?.failed ?? 0;
      ns.backupsPruned = scheduled?.pruned ?? 0;
      if (ns.backupsFailed > 0) ns.problems.push("backup_failed");
      ns.qualityDrop = quality?.dropped.has(ns.namespace) ? 1 : 0;
      if (ns.qualityDrop === 1) ns.problems.push("quality_drop");
      ns.state = healthState(ns.problems);
    }
    await storeIndexHealth(env.DB, report);
    const metrics = new AnalyticsEngineMetrics(invocationDataset(env));
    // Namespaces with problems first: past 250 points per invocation the healthy ones are dropped.
    const rank = { fail: 0, warn: 1, ok: 2 } as const;
    const namespaces = [...report.namespaces].sort((a, b) => rank[a.state] - rank[b.state]);
    for (const ns of namespaces) {
      metrics.health(healthEvent(ns));
      if (ns.state !== "ok") {
        logger.warn("index_health.problem", {
          namespace: ns.namespace,
          state: ns.state,
          problems: ns.problems,
        });
      }
    }
    if (metrics.dropped > 0) logger.warn("index_health.points_dropped", { dropped: metrics.dropped });
    logger.info("index_health.checked", {
      state: report.totals.state,
      problems: report.totals.problems,
      namespaces: report.totals.namespacesChecked,
    });
    if (env.BACKEND === "local") {
      await pruneLocalMetrics(env.DB).catch((err) =>
        logger.warn("local_metrics.prune_failed", { error: errorMessage(err) }),
      );
    }
  });
}
