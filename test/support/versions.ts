// Version builds driven step by step in a test: the first build task of a new version, held back
// from the queue, and a queue that holds what a step sends.
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { loadConfig } from "../../src/config";
import { createVersion, type NewVersionRequest } from "../../src/migrations/lifecycle";
import { createLogger } from "../../src/observe/logger";
import { Meter } from "../../src/observe/meter";
import type { WorkerEnv } from "../../workers/env";
import { buildServices } from "../../workers/services";

/** What is sent to the queue, held. */
export class HeldTasks {
  readonly held: unknown[] = [];
  async send(body: unknown): Promise<void> {
    this.held.push(body);
  }
  async sendBatch(messages: Iterable<MessageSendRequest>): Promise<void> {
    for (const m of messages) this.held.push(m.body);
  }
}

/** The ingest consumer's services on the test env, counting into `meter`. */
export function consumerServices(meter = new Meter()) {
  return buildServices(env as unknown as WorkerEnv, loadConfig(env), createLogger("warn"), {
    defer: () => undefined,
    path: "ingest",
    meter,
  });
}

/** Creates version v2 of `ns` and returns its first build task, held back from the queue. */
export async function createHeldV2(ns: string, request: NewVersionRequest): Promise<unknown> {
  const s = consumerServices();
  const queue = new HeldTasks();
  await createVersion(
    {
      coordinator: s.versions.coordinator(ns),
      versions: s.versions,
      store: s.store,
      config: s.config,
      queue: queue as unknown as Queue,
      logger: s.logger,
    },
    request,
  );
  expect(queue.held).toHaveLength(1);
  return queue.held[0];
}
