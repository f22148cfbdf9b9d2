#!/usr/bin/env node
import { createClient } from "../client/src/index.ts";
// `npm run replay-dead-letters [-- --list] [-- --ids 3,4] [-- --limit N] [-- --url URL]`:
// lists the dead-lettered ingest messages with their reasons, or re-enqueues them (all pending
// ones up to --limit, or the given ids) once their cause is fixed. Needs an admin key
// (EDGESEARCH_API_KEY, or ADMIN_API_KEY from .dev.vars locally).
import {
  connectionSettings,
  isEntryPoint,
  parseCommandLine,
  positiveInt,
  run,
  UsageError,
} from "./lib/args.ts";

const USAGE = `usage: npm run replay-dead-letters -- [--list] [--ids 1,2,3] [--limit N] [--url URL]`;

export async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    list: { type: "boolean" },
    ids: { type: "string" },
    limit: { type: "string" },
    url: { type: "string" },
  });
  const client = createClient(connectionSettings(values));
  const limit = positiveInt(values.limit, "--limit", 100);
  if (values.list) {
    const { deadLetters } = await client.call("GET /v1/admin/dead-letters", { query: { limit } });
    if (deadLetters.length === 0) console.log("No pending dead letters.");
    for (const d of deadLetters) {
      console.log(
        `#${d.id}  ${d.namespace ?? "?"}/${d.documentId ?? "?"}  attempts ${d.attempts}  ${d.error ?? ""}`,
      );
    }
    return 0;
  }
  let ids: number[] | undefined;
  if (typeof values.ids === "string") {
    ids = values.ids.split(",").map((s) => Number.parseInt(s.trim(), 10));
    if (ids.some((n) => !Number.isInteger(n) || n <= 0))
      throw new UsageError("--ids: comma-separated positive integers");
  }
  const { replayed } = await client.call("POST /v1/admin/dead-letters/replay", {
    body: ids ? { ids } : { limit },
  });
  console.log(
    replayed.length === 0 ? "Nothing to replay." : `Re-enqueued ${replayed.length}: ${replayed.join(", ")}`,
  );
  return 0;
}

if (isEntryPoint(import.meta.url)) process.exitCode = await run(main, USAGE);
