// Composition root: the HTTP app, the queue consumers and the Durable Object classes.
import { loadConfig } from "../src/config";
import { flushLocalMetricsIfDue, withLocalMetrics } from "../src/observe/local-dataset";
import { withLocalQueueLimits } from "../src/util/queue-limits";
import { createApp } from "./api/app";
import { workerEnv } from "./env";
import { consumeIngest } from "./ingest/consumer";
import { consumeDeadLetters } from "./ingest/dead-letter";
import { underBudget, withInvocationBudget } from "./invocation-budget";
import { CircuitBreaker as CircuitBreakerObject } from "./objects/circuit-breaker";
import {
  armLocalBucketWatcher,
  LocalBucketWatcher as LocalBucketWatcherObject,
} from "./objects/local-bucket-watcher";
import { LocalVectorIndex as LocalVectorIndexObject } from "./objects/local-vector-index";
import { NamespaceCoordinator as NamespaceCoordinatorObject } from "./objects/namespace-coordinator";
import { ShardMap as ShardMapObject } from "./objects/shard-map";
import { backgroundLogger, runObserved, scheduledHealthCheck } from "./observe/background";
import { instrumentDurableObject } from "./observe/durable-objects";
import { buildServices } from "./services";

// Failures inside the objects reach Sentry (when SENTRY_DSN is set); behaviour is unchanged.
export const CircuitBreaker = instrumentDurableObject(CircuitBreakerObject, "CircuitBreaker");
export type CircuitBreaker = CircuitBreakerObject;
export const LocalVectorIndex = instrumentDurableObject(LocalVectorIndexObject, "LocalVectorIndex");
export type LocalVectorIndex = LocalVectorIndexObject;
export const NamespaceCoordinator = instrumentDurableObject(
  NamespaceCoordinatorObject,
  "NamespaceCoordinator",
);
export type NamespaceCoordinator = NamespaceCoordinatorObject;
export const ShardMap = instrumentDurableObject(ShardMapObject, "ShardMap");
export type ShardMap = ShardMapObject;
export const LocalBucketWatcher = instrumentDurableObject(LocalBucketWatcherObject, "LocalBucketWatcher");
export type LocalBucketWatcher = LocalBucketWatcherObject;

const app = createApp();

/**
 * The env the handlers see: in local mode, metrics mirrored into D1, the queue held to its limits
 * and every binding charged to the invocation's budget.
 */
const handlerEnv = (env: Env) => withInvocationBudget(withLocalQueueLimits(withLocalMetrics(workerEnv(env))));

export default {
  async fetch(request, rawEnv, ctx) {
    const env = handlerEnv(rawEnv);
    armLocalBucketWatcher(env, ctx);
    return underBudget(env, "fetch", async () => {
      const response = await app.fetch(request, env, ctx);
      if (env.BACKEND === "local") {
        const flushing = flushLocalMetricsIfDue(env.DB);
        if (flushing) ctx.waitUntil(flushing);
      }
      return response;
    });
  },

  async queue(batch, rawEnv, ctx) {
    const env = handlerEnv(rawEnv);
    armLocalBucketWatcher(env, ctx);
    await underBudget(
      env,
      `queue ${batch.queue}`,
      async () => {
        const config = loadConfig(env);
        const logger = backgroundLogger(env, ctx, config.logLevel, { queue: batch.queue });
        const services = buildServices(env, config, logger, {
          defer: (work) => ctx.waitUntil(work),
          path: "ingest",
        });
        await runObserved(env, ctx, `queue ${batch.queue}`, async () => {
          if (batch.queue.endsWith("-dlq")) {
            await consumeDeadLetters(batch, services.store, env.DB, logger);
          } else {
            await consumeIngest(batch, services, services.db);
          }
        });
      },
      { messages: batch.messages.length },
    );
  },

  scheduled(_controller, rawEnv, ctx) {
    const env = handlerEnv(rawEnv);
    return underBudget(env, "scheduled", () => scheduledHealthCheck(env, ctx));
  },
} satisfies ExportedHandler<Env>;
