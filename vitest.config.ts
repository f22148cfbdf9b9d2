// Every test runs inside workerd with the real KV, R2, D1, Queues and Durable Objects of
// wrangler.toml; Workers AI and Vectorize are swapped for the local stand-ins (BACKEND=local).
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        remoteBindings: false,
        miniflare: {
          bindings: { BACKEND: "local", TEST_MIGRATIONS: migrations },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup.ts"],
      reporters: ["default", "./scripts/vitest-summary-reporter.ts"],
    },
  };
});
