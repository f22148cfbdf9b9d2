// Two projects. "unit": pure modules (parsers of config and arguments, chunker, tokenizer, fusion,
// filters, limits, state machines) in plain Node, where a test file costs milliseconds to start
// instead of the seconds of a workerd isolate; `npm run test:unit` runs only these. "workers":
// everything else inside workerd with the real KV, R2, D1, Queues and Durable Objects of
// wrangler.toml; Workers AI and Vectorize are swapped for the local stand-ins (BACKEND=local).
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// The bootstrap admin key the tests authenticate with (test/support/api.ts sends it by default).
const TEST_ADMIN_KEY = "test-admin-key-0123456789abcdef0123456789";

// Test files that import nothing from `cloudflare:*` and whose code under test uses no API that only
// workerd has (HTMLRewriter, `.wasm` module imports, Durable Objects, the Cache API, bindings).
// crypto.subtle, TextEncoder, streams and timers are the same web APIs in Node. A file not listed
// runs in workerd, so a new test is never moved out of the runtime by accident.
const NODE_UNIT_TESTS = [
  "analytics-limits",
  "backup-retention",
  "backup-signature",
  "bench-target",
  "experiments",
  "facet-values",
  "bundle-size",
  "chunk",
  "console-session",
  "client-transport",
  "config-limits",
  "cost-cli",
  "d1-limits",
  "d1-pool",
  "dev-vars",
  "docs-page",
  "filter",
  "formats",
  "fusion",
  "html",
  "ingest-budget",
  "ingest-fairness",
  "ingest-scanners",
  "invocation-budget",
  "local-embedder",
  "measure-capacity",
  "metrics",
  "observe-analytics-sql",
  "observe-report",
  "observe-sentry",
  "observe-trace",
  "parse",
  "pricing",
  "provision",
  "quality-activation",
  "query-format",
  "queue-limits",
  "quota-config",
  "redaction",
  "rerank",
  "search-config",
  "search-cursor",
  "snippet",
  "startup-time",
  "tokenizer",
  "top-k",
  "vector-paging",
  "verify-args",
  "version-lifecycle",
  "version-transitions",
  "workers-ai-embedder",
].map((name) => `test/unit/${name}.test.ts`);

// Integration tests drive the queue, D1 and the local index end to end; on a loaded machine some
// take several seconds. Tests assert behaviour, never elapsed time.
const TEST_TIMEOUT_MS = 30_000;

export default defineConfig({
  test: {
    reporters: ["default", "./scripts/vitest-summary-reporter.ts"],
    projects: [
      {
        extends: false,
        test: {
          name: "unit",
          environment: "node",
          include: NODE_UNIT_TESTS,
          testTimeout: TEST_TIMEOUT_MS,
        },
      },
      async () => {
        const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
        return {
          // Binary fixtures (test/fixtures/formats/) load as data: URLs through Vite's ?inline.
          assetsInclude: ["**/*.docx", "**/*.xlsx"],
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
                  // Every test namespace stays in DB, where most tests read its rows; the pool's
                  // tests (test/integration/d1-pool.test.ts) place namespaces over all three
                  // databases, each of which has the migrations (test/setup.ts).
                  D1_DATA_DATABASES: "DB",
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: NODE_UNIT_TESTS,
            setupFiles: ["./test/setup.ts"],
            testTimeout: TEST_TIMEOUT_MS,
          },
        };
      },
    ],
  },
});
