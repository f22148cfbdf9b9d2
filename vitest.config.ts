// Every test runs inside workerd with the real KV, R2, D1, Queues and Durable Objects of
// wrangler.toml; Workers AI and Vectorize are swapped for the local stand-ins (BACKEND=local).
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// The bootstrap admin key the tests authenticate with (test/helpers.ts sends it by default).
const TEST_ADMIN_KEY = "test-admin-key-0123456789abcdef0123456789";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        remoteBindings: false,
        miniflare: {
          // Fault injection lets the resilience tests break dependencies per request.
          bindings: {
            BACKEND: "local",
            // An invocation over the plan's D1 query or subrequest limits fails its test.
            INVOCATION_BUDGET: "throw",
            FAULT_INJECTION: "true",
            BREAKER_COOL_DOWN_MS: "500",
            // Warnings and errors only: the ingest and key events would drown the test output.
            LOG_LEVEL: "warn",
            ADMIN_API_KEY: TEST_ADMIN_KEY,
            // Version builds: a lost batch is re-sent after 3 s, a purge rechecked after 0.5 s.
            VERSION_BUILD_STALL_MS: "3000",
            VERSION_PURGE_RECHECK_MS: "500",
            TEST_MIGRATIONS: migrations,
          },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup.ts"],
      // Integration tests drive the queue, D1 and the local index end to end; on a loaded machine
      // some take several seconds. Tests assert behaviour, never elapsed time.
      testTimeout: 30_000,
      reporters: ["default", "./scripts/vitest-summary-reporter.ts"],
    },
  };
});
