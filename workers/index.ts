// Composition root: the HTTP app, the queue consumers and the Durable Object classes.
import { loadConfig } from "../src/config";
import { createLogger } from "../src/observe/logger";
import { createApp } from "./api/app";
import { workerEnv } from "./env";
import { consumeIngest } from "./ingest/consumer";
import { consumeDeadLetters } from "./ingest/dead-letter";
import { buildServices } from "./services";

export { CircuitBreaker } from "./objects/circuit-breaker";
export { LocalVectorIndex } from "./objects/local-vector-index";

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, workerEnv(env), ctx),

  async queue(batch, rawEnv, ctx) {
    const env = workerEnv(rawEnv);
    const config = loadConfig(env);
    const logger = createLogger(config.logLevel, { queue: batch.queue });
    const services = buildServices(env, config, logger, {
      defer: (work) => ctx.waitUntil(work),
      path: "ingest",
    });
    if (batch.queue.endsWith("-dlq")) {
      await consumeDeadLetters(batch, services.store, env.DB, logger);
    } else {
      await consumeIngest(batch, services, env.DB, env.KV);
    }
  },
} satisfies ExportedHandler<Env>;
