// Composition root: the HTTP app, the queue consumers and the Durable Object classes.
// First, before any zod schema exists: zod copies prototype methods onto each schema as it builds
// it, so the `.openapi()` this import adds to ZodType's prototype reaches only later schemas, and
// the API's schemas extend ones built by modules evaluated at startup (src/validation.ts).
import "@hono/zod-openapi";
import { loadConfig } from "../src/config";
import { flushLocalMetricsIfDue, withLocalMetrics } from "../src/observe/local-dataset";
import { withLocalQueueLimits } from "../src/util/queue-limits";
import { type WorkerEnv, workerEnv } from "./env";
import { consumeIngest } from "./ingest/consumer";
import { consumeDeadLetters } from "./ingest/dead-letter";
import { planOf, unbudgeted, underBudget, withInvocationBudget } from "./invocation-budget";
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

// Isolate-lifetime: the HTTP app, built for the first request. The import is dynamic so that the
// bundle evaluates the API's modules (routes, their zod and OpenAPI schemas) only then: no isolate
// pays for them at startup, and one that only runs queue batches, cron or Durable Objects never does.
let app: ReturnType<typeof loadApp> | undefined;

function loadApp() {
  return import("./api/app").then(({ createApp }) => createApp());
}

function httpApp() {
  app ??= loadApp().catch((error: unknown) => {
    app = undefined;
    throw error;
  });
  return app;
}

// Isolate-lifetime: the console's app, built for the first /console request and only then, so
// /v1 requests neither evaluate nor route through its modules.
let consoleApp:
  | Promise<{
      fetch: (request: Request, env: WorkerEnv, ctx: ExecutionContext) => Response | Promise<Response>;
    }>
  | undefined;

function loadConsole() {
  consoleApp ??= import("./console/app")
    .then(({ createConsoleApp }) =>
      createConsoleApp(async (request, env, ctx) => (await httpApp()).fetch(request, env, ctx)),
    )
    .catch((error: unknown) => {
      consoleApp = undefined;
      throw error;
    });
  return consoleApp;
}

const isConsolePath = (url: string) => /^https?:\/\/[^/]+\/console(?:[/?#]|$)/.test(url);

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
      const response = isConsolePath(request.url)
        ? await (await loadConsole()).fetch(request, env, ctx)
        : await (await httpApp()).fetch(request, env, ctx);
      if (env.BACKEND === "local") {
        const flushing = unbudgeted(() => flushLocalMetricsIfDue(env.DB));
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
            await consumeIngest(batch, services, services.db, planOf(env));
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
